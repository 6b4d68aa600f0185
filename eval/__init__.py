"""Offline evaluation: retrieval, classification, abstention and latency on golden-format datasets."""

from eval.dataset import Dataset, GoldenQuestion, load_dataset
from eval.metrics import abstention_metrics, classification_metrics, percentiles, retrieval_metrics
from eval.runner import DEFAULT_DATASET, EvalReport, run_eval

__all__ = [
    "DEFAULT_DATASET",
    "Dataset",
    "EvalReport",
    "GoldenQuestion",
    "abstention_metrics",
    "classification_metrics",
    "load_dataset",
    "percentiles",
    "retrieval_metrics",
    "run_eval",
]
