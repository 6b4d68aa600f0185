"""Ranking and classification metrics as flat dicts, checked against hand-worked cases in the tests."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import f1_score

__all__ = ["retrieval_metrics", "classification_metrics", "abstention_metrics", "percentiles", "KS"]

KS = (1, 3, 5, 10)


def _recall(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    return len(relevant & set(ranked[:k])) / len(relevant)


def _reciprocal_rank(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    for position, item in enumerate(ranked[:k], start=1):
        if item in relevant:
            return 1.0 / position
    return 0.0


def _ndcg(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    dcg = sum(1.0 / math.log2(i + 2) for i, item in enumerate(ranked[:k]) if item in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / ideal


def retrieval_metrics(runs: Sequence[tuple[Sequence[str], set[str]]]) -> dict[str, float]:
    """Mean recall@1/3/5/10, MRR@10 and nDCG@10 over (ranked ids, relevant ids) pairs with relevant ids."""
    scored = [(ranked, relevant) for ranked, relevant in runs if relevant]
    if not scored:
        return {**{f"recall@{k}": 0.0 for k in KS}, "mrr@10": 0.0, "ndcg@10": 0.0}
    out = {f"recall@{k}": float(np.mean([_recall(r, rel, k) for r, rel in scored])) for k in KS}
    out["mrr@10"] = float(np.mean([_reciprocal_rank(r, rel, 10) for r, rel in scored]))
    out["ndcg@10"] = float(np.mean([_ndcg(r, rel, 10) for r, rel in scored]))
    return out


def classification_metrics(gold: Sequence[str], predicted: Sequence[str], prefix: str) -> dict[str, float]:
    """Accuracy and macro-F1 (over the gold labels' classes) for one head."""
    if not gold:
        return {f"{prefix}_accuracy": 0.0, f"{prefix}_macro_f1": 0.0}
    labels = sorted(set(gold))
    return {
        f"{prefix}_accuracy": float(np.mean([g == p for g, p in zip(gold, predicted)])),
        f"{prefix}_macro_f1": float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)),
    }


def abstention_metrics(unanswerable: Sequence[bool], abstained: Sequence[bool]) -> dict[str, float]:
    """Precision and recall of saying "no answer", with unanswerable questions as the positive class."""
    tp = sum(u and a for u, a in zip(unanswerable, abstained))
    predicted = sum(abstained)
    actual = sum(unanswerable)
    return {
        "abstain_precision": tp / predicted if predicted else 0.0,
        "abstain_recall": tp / actual if actual else 0.0,
    }


def percentiles(values_ms: Sequence[float]) -> dict[str, float]:
    if not values_ms:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}
    arr = np.asarray(values_ms)
    return {f"p{q}_ms": float(np.percentile(arr, q)) for q in (50, 95, 99)}
