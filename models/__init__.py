"""Question classification: ERP module and urgency, and the cross-validated training that picks the model."""

from __future__ import annotations

import importlib
from typing import Any

# Names load their module on first use (PEP 562), so importing one submodule does not import them all:
# serving needs neither the build pipeline (LangChain's splitters) nor the training code.
_HOMES = {
    "APPROACHES": "models.classifier",
    "Approach": "models.classifier",
    "DEFAULT_APPROACH": "models.classifier",
    "Label": "models.taxonomy",
    "LabelledQuestion": "models.classifier",
    "P1_RECALL_TARGET": "models.classifier",
    "QuestionClassifier": "models.classifier",
    "Taxonomy": "models.taxonomy",
    "TrainingReport": "models.training",
    "decide_urgency": "models.classifier",
    "get_approach": "models.classifier",
    "load_labelled": "models.classifier",
    "load_taxonomy": "models.taxonomy",
    "train_and_report": "models.training",
    "tune_p1_threshold": "models.classifier",
    "validate_question": "models.classifier",
}

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


def __getattr__(name: str) -> Any:  # noqa: ANN401
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
