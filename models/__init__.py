"""Question classification: ERP module and urgency, and the cross-validated training that picks the model."""

from models.classifier import (
    APPROACHES,
    DEFAULT_APPROACH,
    P1_RECALL_TARGET,
    Approach,
    LabelledQuestion,
    QuestionClassifier,
    decide_urgency,
    get_approach,
    load_labelled,
    tune_p1_threshold,
    validate_question,
)
from models.taxonomy import Label, Taxonomy, load_taxonomy
from models.training import TrainingReport, train_and_report

__all__ = [
    "APPROACHES",
    "DEFAULT_APPROACH",
    "P1_RECALL_TARGET",
    "Approach",
    "Label",
    "LabelledQuestion",
    "QuestionClassifier",
    "Taxonomy",
    "TrainingReport",
    "decide_urgency",
    "get_approach",
    "load_labelled",
    "load_taxonomy",
    "train_and_report",
    "tune_p1_threshold",
    "validate_question",
]
