"""Choose the dense weight of the fusion on labelled questions, at build time.

Dense retrieval has to earn its place: the grid's weight with the best MRR@10 wins, ties going to the smaller
weight, so an embedder that cannot read the corpus ends at 0 and the build report says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from erp_assist.settings import Settings
from eval.dataset import load_dataset
from eval.metrics import retrieval_metrics
from eval.systems import ranked_sources
from indexer.embedding import Embedder
from indexer.index import KnowledgeIndex
from indexer.retrieval import FusionConfig, Retriever
from indexer.text import TextProcessor

__all__ = ["choose_dense_weight", "fusion_tuner"]


def choose_dense_weight(index: KnowledgeIndex, processor: TextProcessor, embedder: Embedder, settings: Settings,
                        dataset: Path) -> dict:
    """MRR@10 for each grid weight on ``dataset``; the manifest's ``fusion`` block."""
    known = {c.uri.split("#")[0] for c in index.chunks}
    questions = [q for q in load_dataset(dataset, known_sources=known).questions if q.answerable]
    if not questions:
        return {"dense_weight": 0.0, "reason": f"{dataset} has no answerable question matching this corpus"}
    retriever = Retriever(index, processor, embedder)
    embedder.prime([q.question for q in questions])
    base = FusionConfig.from_settings(settings, {})
    scores: dict[str, float] = {}
    for weight in sorted(set(settings.dense_weight_grid) | {0.0}):
        config = replace(base, dense_weight=weight)
        runs = [(ranked_sources(retriever.hybrid(q.question, settings.candidate_k, config)),
                 {r.split("#")[0] for r in q.relevant}) for q in questions]
        scores[f"{weight:g}"] = round(retrieval_metrics(runs)["mrr@10"], 4)
    embedder.prime([])
    best = max(scores, key=lambda w: (scores[w], -float(w)))
    gain = scores[best] - scores["0"]
    chosen = float(best) if gain >= settings.dense_min_gain else 0.0
    if chosen == 0.0:
        reason = (f"dense retrieval gained {gain:+.4f} MRR@10 (< {settings.dense_min_gain}) on {len(questions)} "
                  f"validation questions, so its weight is 0 (MRR@10 by weight: {scores})")
    else:
        reason = f"dense weight {chosen:g} maximized MRR@10 on {len(questions)} validation questions ({scores})"
    return {"dense_weight": chosen, "method": base.method, "mrr@10_by_weight": scores, "validation_set": str(dataset),
            "reason": reason}


def fusion_tuner(settings: Settings, processor: TextProcessor, embedder: Embedder
                 ) -> Callable[[KnowledgeIndex], dict] | None:
    """The build hook that picks the dense weight, or ``None`` when no validation set is configured."""
    if settings.validation_set is None:
        return None
    dataset = settings.validation_set
    return lambda index: choose_dense_weight(index, processor, embedder, settings, dataset)
