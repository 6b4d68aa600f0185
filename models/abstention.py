"""Abstention learned from labelled outcomes: should this question go to an expert without drafts?

One bar on the best fused score is the baseline. This module adds a small logistic regression over signals
the build already has — the best score, its margin over the next source, how much of the question's evidence
the top hit covers, how much of the question the corpus has never seen, whether the question's module agrees
with the top hits', and the dense similarity when dense retrieval is in the fusion — and a probability
threshold chosen the same way as the bar: the lowest that still answers ``min_answered`` of the answerable
questions, on out-of-fold probabilities so the threshold is not fitted to the model's own training scores.

Training rows come from a build's validation set (answerable / unanswerable questions) and from expert
reviews (an accepted draft: answerable; a rejected question: unanswerable). ``eval.tuning`` computes them,
compares the model with the bar by cross-validation and stores the model beside the build
(``abstention.json``): a few numbers and the validation results, read back without scikit-learn.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from erp_assist.domain import Chunk, Hit

__all__ = [
    "ABSTENTION_FILE",
    "BASE_SIGNALS",
    "DENSE_SIGNAL",
    "AbstentionModel",
    "AbstentionSignals",
    "SignalExtractor",
    "choose_probability_threshold",
    "compute_signals",
    "fit_abstention",
    "out_of_fold_probabilities",
]

ABSTENTION_FILE = "abstention.json"
FORMAT_VERSION = 1
BASE_SIGNALS = ("best", "margin", "coverage", "unseen", "module_agreement", "module_vote")
DENSE_SIGNAL = "dense"
# Mild L2 regularization on standardized signals: on the demo dev set C from 0.1 to 10 moved the out-of-fold
# AUC by less than 0.01, and a small C keeps six correlated coefficients from trading off against each other.
DEFAULT_C = 0.3
_MODULE_VOTERS = 5  # the best hits whose modules vote, as in the assistant's module evidence
_CHUNK_TOKEN_CACHE = 4096


@dataclass(frozen=True)
class AbstentionSignals:
    """What a ranking says about whether the knowledge base answers the question. All in [0, 1]."""

    best: float  # fused score of the top hit, before the module bonus (the bar's own signal)
    margin: float  # best minus the best score of a hit from another source
    coverage: float  # idf-weighted share of the question's distinct tokens that the top hit contains
    unseen: float  # idf-weighted share of the question's distinct tokens the corpus has never seen
    module_agreement: float | None = None  # the classifier's probability for the top hit's module
    module_vote: float | None = None  # score-weighted share of the best hits in the classifier's module
    dense: float | None = None  # cosine similarity of the top hit (only when dense retrieval is fused)

    def vector(self, names: Sequence[str]) -> list[float]:
        """The named signals in order; ``ValueError`` naming a signal this ranking did not compute."""
        values = []
        for name in names:
            value = getattr(self, name, None)
            if value is None:
                raise ValueError(f"abstention signal {name!r} was not computed for this question (a module "
                                 f"signal needs the classifier, {DENSE_SIGNAL!r} a dense weight above 0)")
            values.append(float(value))
        return values

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items() if v is not None}


def _source(chunk: Chunk) -> str:
    return chunk.uri.split("#")[0]


def compute_signals(
    tokens: Sequence[str],
    hits: Sequence[Hit],
    *,
    idf: Callable[[str], float],
    known: Callable[[str], bool],
    chunk_tokens: Callable[[Chunk], set[str]],
    module_scores: dict[str, float] | None = None,
    dense: bool = False,
) -> AbstentionSignals:
    """Signals of one question: its BM25 tokens, its hits in fused order before the module bonus, the corpus's
    idf and vocabulary, the BM25 tokens of a chunk, and the classifier's module probabilities (no module
    signals without them)."""
    distinct = list(dict.fromkeys(tokens))
    weights = {t: idf(t) for t in distinct}
    total = sum(weights.values())
    top = hits[0] if hits else None
    best = top.score if top else 0.0
    other = next((h.score for h in hits[1:] if top and _source(h.chunk) != _source(top.chunk)), 0.0)
    covered = chunk_tokens(top.chunk) if top else set()
    if total > 0:
        coverage = sum(w for t, w in weights.items() if t in covered) / total
        unseen = sum(w for t, w in weights.items() if not known(t)) / total
    else:  # nothing searchable in the question (punctuation, emoji): nothing is covered, nothing is known
        coverage, unseen = 0.0, 1.0
    agreement = vote = None
    if module_scores:
        agreement = module_scores.get(top.chunk.module, 0.0) if top and top.chunk.module else 0.0
        predicted = max(module_scores, key=module_scores.__getitem__)
        voters = [h for h in hits[:_MODULE_VOTERS] if h.chunk.module]
        weight = sum(h.score for h in voters)
        vote = sum(h.score for h in voters if h.chunk.module == predicted) / weight if weight > 0 else 0.0
    similarity = (max(top.dense, 0.0) if top else 0.0) if dense else None
    return AbstentionSignals(
        best=best, margin=max(best - other, 0.0), coverage=coverage, unseen=unseen,
        module_agreement=agreement, module_vote=vote, dense=similarity,
    )


class SignalExtractor:
    """Signals against one index: its BM25 statistics (``doc_freq``, ``idf``) and its chunks' BM25 tokens,
    tokenized on first use and cached (the same few top hits come back again and again)."""

    def __init__(self, stats: Any, tokenize: Callable[[str], list[str]],  # noqa: ANN401 - LexicalIndex-like
                 chunk_tokens: Callable[[Chunk], list[str]]) -> None:
        self.stats = stats
        self.tokenize = tokenize
        self._chunk_tokens = chunk_tokens
        self._cache: OrderedDict[str, set[str]] = OrderedDict()

    def _tokens_of(self, chunk: Chunk) -> set[str]:
        found = self._cache.get(chunk.id)
        if found is None:
            found = set(self._chunk_tokens(chunk))
            self._cache[chunk.id] = found
            if len(self._cache) > _CHUNK_TOKEN_CACHE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(chunk.id)
        return found

    def __call__(self, question: str, hits: Sequence[Hit], module_scores: dict[str, float] | None = None,
                 *, dense: bool = False) -> AbstentionSignals:
        doc_freq = self.stats.doc_freq
        return compute_signals(self.tokenize(question), hits, idf=self.stats.idf, known=doc_freq.__contains__,
                               chunk_tokens=self._tokens_of, module_scores=module_scores, dense=dense)


@dataclass(frozen=True)
class AbstentionModel:
    """Logistic regression on standardized signals: P(the knowledge base does not answer the question). The
    question goes to an expert without drafts when that probability is at least ``threshold``."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float = 0.5
    validation: dict[str, Any] = field(default_factory=dict)  # how it was trained and how it did

    def __post_init__(self) -> None:
        n = len(self.features)
        if not n or not (len(self.mean) == len(self.scale) == len(self.coef) == n):
            raise ValueError(f"abstention model has {n} features but {len(self.mean)} means, "
                             f"{len(self.scale)} scales and {len(self.coef)} coefficients; retrain it with "
                             "`erp-assist index`")
        numbers = (*self.mean, *self.scale, *self.coef, self.intercept, self.threshold)
        if not all(math.isfinite(v) for v in numbers):
            raise ValueError("abstention model has a non-finite number; retrain it with `erp-assist index`")

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """P(unanswerable) of each row of signal values (columns in ``features`` order)."""
        z = (np.asarray(rows, dtype=float) - np.asarray(self.mean)) / np.asarray(self.scale)
        return 1.0 / (1.0 + np.exp(-(z @ np.asarray(self.coef) + self.intercept)))

    def probability(self, signals: AbstentionSignals) -> float:
        return float(self.probabilities(np.array([signals.vector(self.features)]))[0])

    def abstains(self, signals: AbstentionSignals) -> bool:
        return self.probability(signals) >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, **{f.name: getattr(self, f.name) for f in fields(self)}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AbstentionModel:
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"abstention model format {data.get('format_version')!r} is not "
                             f"{FORMAT_VERSION}; rebuild the index")
        try:
            return cls(tuple(data["features"]), tuple(map(float, data["mean"])),
                       tuple(map(float, data["scale"])), tuple(map(float, data["coef"])),
                       float(data["intercept"]), float(data["threshold"]), dict(data.get("validation") or {}))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"abstention model is missing or mangles a field ({exc}); rebuild the index"
                             ) from exc

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> AbstentionModel:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))


def fit_abstention(rows: np.ndarray, unanswerable: np.ndarray, features: Sequence[str], *,
                   c: float = DEFAULT_C) -> AbstentionModel:
    """A logistic regression of ``unanswerable`` (1) on the signal ``rows``; its threshold is left at 0.5 for
    the caller to choose (``choose_probability_threshold``). Needs both classes."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(rows, dtype=float)
    y = np.asarray(unanswerable, dtype=int)
    if x.ndim != 2 or x.shape[1] != len(features) or len(x) != len(y):
        raise ValueError(f"signal rows of shape {x.shape} do not match {len(features)} features and "
                         f"{len(y)} labels")
    if len(set(y.tolist())) != 2:
        raise ValueError("fitting abstention needs answerable and unanswerable questions; got one kind only")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)  # a constant signal gets no weight instead of dividing by 0
    model = LogisticRegression(C=c, max_iter=1000).fit((x - mean) / scale, y)
    return AbstentionModel(tuple(features), tuple(mean.tolist()), tuple(scale.tolist()),
                           tuple(model.coef_[0].tolist()), float(model.intercept_[0]))


def out_of_fold_probabilities(rows: np.ndarray, unanswerable: np.ndarray, features: Sequence[str], *,
                              folds: int = 5, seed: int = 0, c: float = DEFAULT_C) -> np.ndarray:
    """Each row's P(unanswerable) from a model fitted without its fold (stratified)."""
    from sklearn.model_selection import StratifiedKFold

    x = np.asarray(rows, dtype=float)
    y = np.asarray(unanswerable, dtype=int)
    folds = min(folds, int(np.bincount(y, minlength=2).min()))
    if folds < 2:
        raise ValueError("out-of-fold probabilities need at least 2 questions of each kind")
    out = np.zeros(len(y))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        out[test] = fit_abstention(x[train], y[train], features, c=c).probabilities(x[test])
    return out


def choose_probability_threshold(answerable: Sequence[Sequence[float]], min_answered: float,
                                 unanswerable: Sequence[float] = ()) -> float:
    """The lowest P(unanswerable) bar that still answers ``min_answered`` of the answerable questions of every
    group (abstain when P ≥ bar): with validation and reviewed questions as two groups, a flood of easy
    questions of one kind cannot spend the other's margin. The bar lies midway between neighbouring
    probabilities of all questions; above every one (nothing abstains) when no lower bar qualifies."""
    groups = [list(g) for g in answerable if len(g)]
    if not groups:
        raise ValueError("choosing an abstention threshold needs answerable questions")
    if not 0 < min_answered <= 1:
        raise ValueError(f"min_answered must be in (0, 1], got {min_answered}")
    values = sorted({*(p for g in groups for p in g), *unanswerable})
    candidates = [*((a + b) / 2 for a, b in zip(values, values[1:])), values[-1] + 1e-6]

    def answered(bar: float) -> float:
        return min(sum(p < bar for p in g) / len(g) for g in groups)

    return min(c for c in candidates if answered(c) >= min_answered)
