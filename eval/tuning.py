"""Choose the dense weight of the fusion, and how to abstain, on labelled questions at build time.

Dense retrieval has to earn its place: the grid's weight with the best MRR@10 wins, ties going to the smaller
weight, so an embedder that cannot read the corpus ends at 0 and the build report says why. When the questions
include unanswerable ones (no relevant source), the bar on the best score is set as high as it can go while
still answering most answerable ones (``abstain_min_answered``): scores depend on the corpus, so each build
chooses its own.

The build also trains the learned abstention model (``models.abstention``) on the validation questions and
on reviewed ones (an accepted draft: the knowledge base answers it; a rejected question: it does not),
compares it with the bar by repeated, nested cross-validation on those questions — every threshold chosen on
training folds only — and keeps it beside the build (``abstention.json``) with those numbers. ``chosen`` in
the manifest's ``abstention`` block says which of the two did better; ``abstain_model=auto`` follows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from erp_assist.settings import Settings
from eval.dataset import load_dataset
from eval.metrics import retrieval_metrics
from eval.systems import ranked_sources
from indexer.embedding import Embedder
from indexer.index import KnowledgeIndex
from indexer.retrieval import FusionConfig, Retriever
from indexer.text import TextProcessor
from models.abstention import (
    ABSTENTION_FILE, BASE_SIGNALS, DENSE_SIGNAL, AbstentionSignals, SignalExtractor,
    choose_probability_threshold, fit_abstention, out_of_fold_probabilities,
)

if TYPE_CHECKING:
    from models.classifier import QuestionClassifier

__all__ = [
    "AbstentionSample",
    "abstention_features",
    "abstention_signals",
    "choose_abstain_threshold",
    "choose_abstention",
    "choose_dense_weight",
    "compare_abstention",
    "fusion_tuner",
    "review_samples",
    "signal_extractor",
]

# Fewest answerable and unanswerable validation questions each for the abstention bar to be chosen.
MIN_PER_SIDE = 5
# Fewest of each kind for the learned abstention model: six coefficients and a threshold on out-of-fold
# probabilities need more than the bar's one number.
MIN_LEARNED_PER_SIDE = 15
# The learned model is chosen over the bar only when cross-validation shows it abstains on clearly more
# unanswerable questions (≥ 2 points of recall) without answering clearly fewer answerable ones (≤ 1 point).
MIN_RECALL_GAIN = 0.02
MAX_ANSWERED_LOSS = 0.01
CV_FOLDS = 5
CV_REPEATS = 5


@dataclass(frozen=True)
class AbstentionSample:
    """A question whose answer is known: does the knowledge base answer it? ``origin`` is ``validation`` or
    ``review``; each origin's answerable questions must be answered ``abstain_min_answered`` of the time."""

    question: str
    unanswerable: bool
    origin: str = "validation"


class _ReviewOutcome(Protocol):
    question: str
    accepted_rank: int | None
    rejected: bool


def review_samples(outcomes: Iterable[_ReviewOutcome]) -> list[AbstentionSample]:
    """Reviewed questions as training data: an accepted draft (any rank) means the knowledge base answers the
    question, a rejection of all drafts means it does not; an edit says neither (the expert rewrote a draft or
    answered a question the assistant had abstained on), so it is left out."""
    samples = []
    for outcome in outcomes:
        if outcome.rejected:
            samples.append(AbstentionSample(outcome.question, True, "review"))
        elif outcome.accepted_rank is not None:
            samples.append(AbstentionSample(outcome.question, False, "review"))
    return samples


def choose_dense_weight(index: KnowledgeIndex, processor: TextProcessor, embedder: Embedder | None, settings: Settings,
                        dataset: Path, *, classifier: QuestionClassifier | None = None,
                        reviews: Sequence[AbstentionSample] = ()) -> dict:
    """MRR@10 for each grid weight on ``dataset``; the manifest's ``fusion`` block, with the abstention bar
    and the learned abstention model (see ``choose_abstention``) when the questions allow them."""
    known = {c.uri.split("#")[0] for c in index.chunks}
    everything = load_dataset(dataset, known_sources=known).questions
    questions = [q for q in everything if q.answerable]
    if not questions:
        return {"dense_weight": 0.0, "reason": f"{dataset} has no answerable question matching this corpus"}
    retriever = Retriever(index, processor, embedder)
    embedder = retriever.embedder  # None for a BM25-only build: only the abstention is chosen here
    if embedder is not None:
        embedder.prime([q.question for q in questions])
    base = FusionConfig.from_settings(settings, {})
    scores: dict[str, float] = {}
    grid = set(settings.dense_weight_grid) if embedder is not None else set()
    for weight in sorted(grid | {0.0}):
        config = replace(base, dense_weight=weight)
        runs = [(ranked_sources(retriever.hybrid(q.question, settings.candidate_k, config)),
                 {r.split("#")[0] for r in q.relevant}) for q in questions]
        scores[f"{weight:g}"] = round(retrieval_metrics(runs)["mrr@10"], 4)
    if embedder is not None:
        embedder.prime([])
    best = max(scores, key=lambda w: (scores[w], -float(w)))
    gain = scores[best] - scores["0"]
    chosen = float(best) if gain >= settings.dense_min_gain else 0.0
    if embedder is None:
        reason = f"the build has no vectors (ERP_ASSIST_DENSE_VECTORS={settings.dense_vectors}), so its weight is 0"
    elif chosen == 0.0:
        reason = (f"dense retrieval gained {gain:+.4f} MRR@10 (< {settings.dense_min_gain}) on {len(questions)} "
                  f"validation questions, so its weight is 0 (MRR@10 by weight: {scores})")
    else:
        reason = f"dense weight {chosen:g} maximized MRR@10 on {len(questions)} validation questions ({scores})"
    chosen_fusion = {"dense_weight": chosen, "method": base.method, "mrr@10_by_weight": scores,
                     "validation_set": str(dataset), "reason": reason}
    config = replace(base, dense_weight=chosen)
    samples = [AbstentionSample(q.question, not q.answerable) for q in everything]
    signals = abstention_signals(index, processor, embedder, settings, config,
                                 [s.question for s in [*samples, *reviews]], classifier)
    bar = choose_abstain_threshold([s.best for s, q in zip(signals, samples) if not q.unanswerable],
                                   [s.best for s, q in zip(signals, samples) if q.unanswerable],
                                   settings.abstain_min_answered)
    learned = choose_abstention([*samples, *reviews], signals, settings.abstain_min_answered,
                                dense=config.dense_weight > 0)
    if "abstain_reason" in bar and "abstention" in learned:
        bar["abstain_reason"] += f"; {learned['abstention']['reason']}"
    return {**chosen_fusion, **bar, **learned}


def signal_extractor(index: KnowledgeIndex, processor: TextProcessor) -> SignalExtractor:
    """Abstention signals against ``index``: its BM25 statistics, its chunks tokenized as the build did."""
    from indexer.build import lexical_tokens

    backend = index.backend
    stats = getattr(backend, "lexical", None) or getattr(backend, "stats", None)  # local files or Milvus
    if stats is None:
        raise ValueError(f"the {backend.name} backend keeps no BM25 statistics; abstention signals need them")
    title_weight = int(index.manifest.get("lexical", {}).get("title_weight", 1))
    return SignalExtractor(stats, processor.tokenize,
                           lambda chunk: lexical_tokens(chunk, processor, title_weight))


def abstention_signals(index: KnowledgeIndex, processor: TextProcessor, embedder: Embedder | None,
                       settings: Settings, config: FusionConfig, questions: list[str],
                       classifier: QuestionClassifier | None = None) -> list[AbstentionSignals]:
    """The signals of each question as the assistant computes them when it serves ``index`` with ``config``
    (module signals only with a ``classifier``)."""
    if not questions:
        return []
    extractor = signal_extractor(index, processor)
    retriever = Retriever(index, processor, embedder)
    dense = config.dense_weight > 0 and retriever.embedder is not None
    if dense:
        retriever.embedder.prime(questions)  # type: ignore[union-attr]
    modules = [c.module_scores for c in classifier.classify_many(questions)] if classifier else [None] * len(
        questions)
    try:
        return [extractor(q, retriever.hybrid(q, settings.candidate_k, config), m, dense=dense)
                for q, m in zip(questions, modules)]
    finally:
        if dense:
            embedder.prime([])  # type: ignore[union-attr]


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


def abstention_features(signals: Sequence[AbstentionSignals], dense: bool) -> tuple[str, ...]:
    """The signals every question has: module signals need the classifier, the dense one a dense weight."""
    names = [*BASE_SIGNALS, *([DENSE_SIGNAL] if dense else [])]
    return tuple(n for n in names if all(getattr(s, n) is not None for s in signals))


def _operating_point(scores: np.ndarray, unanswerable: np.ndarray, abstained: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    tp = int((abstained & unanswerable).sum())
    return {"auc": float(roc_auc_score(unanswerable, scores)),
            "abstain_precision": tp / int(abstained.sum()) if abstained.any() else 0.0,
            "abstain_recall": tp / int(unanswerable.sum()),
            "answered": float((~abstained[~unanswerable]).mean())}


def _groups(values: np.ndarray, unanswerable: np.ndarray, origins: np.ndarray) -> list[list[float]]:
    return [values[(origins == o) & ~unanswerable].tolist() for o in sorted(set(origins.tolist()))]


def compare_abstention(rows: np.ndarray, unanswerable: np.ndarray, origins: np.ndarray,
                       features: Sequence[str], min_answered: float, *, folds: int = CV_FOLDS,
                       repeats: int = CV_REPEATS, seed: int = 0) -> dict[str, dict[str, float]]:
    """Bar versus learned model by repeated stratified cross-validation: in every outer fold the bar (on the
    ``best`` column) and the model's probability threshold are chosen on the training folds alone — the
    threshold on inner out-of-fold probabilities — and judged on the held-out fold. Per method: out-of-fold
    AUC and, at the chosen operating points, abstention precision and recall and the answered share of
    answerable questions, pooled over folds and averaged over repeats (with the recall's spread across
    repeats)."""
    from sklearn.model_selection import StratifiedKFold

    x = np.asarray(rows, dtype=float)
    y = np.asarray(unanswerable, dtype=bool)
    origins = np.asarray(origins)
    miss = 1.0 - x[:, list(features).index("best")]  # the bar as a score: abstain when 1 - best ≥ 1 - bar
    folds = min(folds, int(y.sum()), int((~y).sum()))
    runs: dict[str, list[dict[str, float]]] = {"bar": [], "learned": []}
    for repeat in range(repeats):
        scores = {m: np.zeros(len(y)) for m in runs}
        abstained = {m: np.zeros(len(y), dtype=bool) for m in runs}
        for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed + repeat).split(x, y):
            xt, yt, ot = x[train], y[train], origins[train]
            cut = choose_probability_threshold(_groups(miss[train], yt, ot), min_answered, miss[train][yt])
            scores["bar"][test], abstained["bar"][test] = miss[test], miss[test] >= cut
            inner = out_of_fold_probabilities(xt, yt, features, folds=folds, seed=seed + repeat)
            threshold = choose_probability_threshold(_groups(inner, yt, ot), min_answered, inner[yt])
            probability = fit_abstention(xt, yt, features).probabilities(x[test])
            scores["learned"][test], abstained["learned"][test] = probability, probability >= threshold
        for m in runs:
            runs[m].append(_operating_point(scores[m], y, abstained[m]))
    out = {}
    for m, results in runs.items():
        out[m] = {k: round(float(np.mean([r[k] for r in results])), 4) for k in results[0]}
        out[m]["abstain_recall_sd"] = round(float(np.std([r["abstain_recall"] for r in results])), 4)
    return out


def choose_abstention(samples: Sequence[AbstentionSample], signals: Sequence[AbstentionSignals],
                      min_answered: float, *, dense: bool = False) -> dict:
    """Train the learned abstention model on ``samples`` and compare it with the bar. Returns the manifest's
    ``abstention`` block (what trained it, the cross-validated comparison, which method ``chosen``) and,
    under ``files``, the model for ``abstention.json`` — no model without ``MIN_LEARNED_PER_SIDE`` questions
    of each kind."""
    y = np.array([s.unanswerable for s in samples], dtype=bool)
    origins = np.array([s.origin for s in samples])
    counts = {o: {"answerable": int(((origins == o) & ~y).sum()),
                  "unanswerable": int(((origins == o) & y).sum())} for o in sorted(set(origins.tolist()))}
    if min(int(y.sum()), int((~y).sum())) < MIN_LEARNED_PER_SIDE:
        return {"abstention": {
            "chosen": "bar", "trained_on": counts,
            "reason": f"no learned abstention model: it needs {MIN_LEARNED_PER_SIDE} answerable and "
                      f"{MIN_LEARNED_PER_SIDE} unanswerable questions (validation set and reviews), "
                      f"got {int((~y).sum())} and {int(y.sum())}; the bar decides",
        }}
    features = abstention_features(signals, dense)
    x = np.array([s.vector(features) for s in signals])
    cv = compare_abstention(x, y, origins, features, min_answered)
    model = fit_abstention(x, y, features)
    oof = out_of_fold_probabilities(x, y, features)
    threshold = choose_probability_threshold(_groups(oof, y, origins), min_answered, oof[y])
    at_threshold = _operating_point(oof, y, oof >= threshold)
    learned, bar = cv["learned"], cv["bar"]
    gain = learned["abstain_recall"] - bar["abstain_recall"]
    loss = bar["answered"] - learned["answered"]
    chosen = "learned" if gain >= MIN_RECALL_GAIN and loss <= MAX_ANSWERED_LOSS else "bar"
    reason = (f"learned abstention (cross-validated on {len(y)} questions): abstain recall "
              f"{learned['abstain_recall']:.3f} vs the bar's {bar['abstain_recall']:.3f}, answered "
              f"{learned['answered']:.1%} vs {bar['answered']:.1%}, AUC {learned['auc']:.3f} vs "
              f"{bar['auc']:.3f} → {chosen}")
    validation = {"trained_on": counts, "min_answered": min_answered, "cv": cv,
                  "out_of_fold_at_threshold": {k: round(v, 4) for k, v in at_threshold.items()}}
    model = replace(model, threshold=round(threshold, 6), validation=validation)
    return {
        "abstention": {"file": ABSTENTION_FILE, "chosen": chosen, "features": list(features),
                       "threshold": model.threshold, **validation, "reason": reason},
        "files": {ABSTENTION_FILE: model.to_dict()},
    }


def fusion_tuner(settings: Settings, processor: TextProcessor, embedder: Embedder, *,
                 classifier: QuestionClassifier | None = None, reviews: Sequence[AbstentionSample] = ()
                 ) -> Callable[[KnowledgeIndex], dict] | None:
    """The build hook that picks the dense weight and how to abstain, or ``None`` with neither a validation
    set nor reviewed questions. Without a validation set only the learned abstention is trained, on
    ``reviews``."""
    dataset = settings.validation_set
    if dataset is not None:
        return lambda index: choose_dense_weight(index, processor, embedder, settings, dataset,
                                                 classifier=classifier, reviews=reviews)
    if not reviews:
        return None

    def reviews_only(index: KnowledgeIndex) -> dict:
        config = FusionConfig.from_settings(settings, {})
        signals = abstention_signals(index, processor, embedder, settings, config,
                                     [r.question for r in reviews], classifier)
        learned = choose_abstention(reviews, signals, settings.abstain_min_answered,
                                    dense=config.dense_weight > 0)
        return {"reason": "no validation set: fusion as configured; "
                          f"{learned['abstention']['reason']}", **learned}

    return reviews_only
