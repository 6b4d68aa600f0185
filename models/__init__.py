"""Question classification: ERP module and urgency."""

from models.classifier import LabelledQuestion, QuestionClassifier, load_labelled, validate_question
from models.taxonomy import Label, Taxonomy, load_taxonomy

__all__ = [
    "Label",
    "LabelledQuestion",
    "QuestionClassifier",
    "Taxonomy",
    "load_labelled",
    "load_taxonomy",
    "validate_question",
]
