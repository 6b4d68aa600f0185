"""Choose the dense weight of the fusion, and the abstention bar, on labelled questions at build time.

Dense retrieval has to earn its place: the grid's weight with the best MRR@10 wins, ties going to the smaller
weight, so an embedder that cannot read the corpus ends at 0 and the build report says why. When the questions
include unanswerable ones (no relevant source), the bar on the best score is set as high as it can go while
still answering most answerable ones (``abstain_min_answered``): scores depend on the corpus, so each build
chooses its own.
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

__all__ = ["choose_abstain_threshold", "choose_dense_weight", "fusion_tuner"]

# Fewest answerable and unanswerable validation questions each for the abstention bar to be chosen.
MIN_PER_SIDE = 5


def choose_dense_weight(index: KnowledgeIndex, processor: TextProcessor, embedder: Embedder, settings: Settings,
                        dataset: Path) -> dict:
    """MRR@10 for each grid weight on ``dataset``; the manifest's ``fusion`` block."""
    known = {c.uri.split("#")[0] for c in index.chunks}
    everything = load_dataset(dataset, known_sources=known).questions
    questions = [q for q in everything if q.answerable]
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
    chosen_fusion = {"dense_weight": chosen, "method": base.method, "mrr@10_by_weight": scores,
                     "validation_set": str(dataset), "reason": reason}
    config = replace(base, dense_weight=chosen)
    best = [(q.answerable, _best_score(retriever, q.question, settings, config)) for q in everything]
    return {**chosen_fusion, **choose_abstain_threshold([b for a, b in best if a],
                                                        [b for a, b in best if not a],
                                                        settings.abstain_min_answered)}


def _best_score(retriever: Retriever, question: str, settings: Settings, config: FusionConfig) -> float:
    hits = retriever.hybrid(question, settings.candidate_k, config)
    return hits[0].score if hits else 0.0


def choose_abstain_threshold(answerable: list[float], unanswerable: list[float], min_answered: float) -> dict:
    """The highest bar on the best score that still answers ``min_answered`` of the answerable questions (a
    hidden good draft costs an expert more than a weak one to reject), with the share of unanswerable ones it
    abstains on; empty without ``MIN_PER_SIDE`` of each. The bar lies midway between neighbouring scores."""
    if len(answerable) < MIN_PER_SIDE or len(unanswerable) < MIN_PER_SIDE:
        return {}
    scores = sorted(set(answerable) | set(unanswerable))
    candidates = [scores[0] / 2, *((a + b) / 2 for a, b in zip(scores, scores[1:])), scores[-1] + 1e-6]

    def answered(bar: float) -> float:
        return sum(s >= bar for s in answerable) / len(answerable)

    bar = max(c for c in candidates if answered(c) >= min_answered)
    abstained = sum(s < bar for s in unanswerable) / len(unanswerable)
    return {
        "abstain_threshold": round(bar, 4),
        "abstain_answered": round(answered(bar), 4),
        "abstain_recall": round(abstained, 4),
        "abstain_reason": f"best score < {bar:.4f} abstains: "
                          f"answers {answered(bar):.1%} of {len(answerable)} answerable "
                          f"and abstains on {abstained:.1%} "
                          f"of {len(unanswerable)} unanswerable validation questions "
                          f"(bar: the highest that answers ≥ {min_answered:.0%})",
    }


def fusion_tuner(settings: Settings, processor: TextProcessor, embedder: Embedder
                 ) -> Callable[[KnowledgeIndex], dict] | None:
    """The build hook that picks the dense weight, or ``None`` when no validation set is configured."""
    if settings.validation_set is None:
        return None
    dataset = settings.validation_set
    return lambda index: choose_dense_weight(index, processor, embedder, settings, dataset)
