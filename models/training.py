"""Train the question classifier and say how good it is: a cross-validated comparison of approaches, the
winner trained on all labelled data and saved, and a report (JSON, Markdown, confusion-matrix PNGs).

Every fold trains a complete ``QuestionClassifier`` — including its own inner tuning of the P1 threshold —
and classifies the held-out questions through ``classify_many``, so the numbers describe exactly what ships.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold

from erp_assist.domain import Classification
from models.classifier import (
    APPROACHES,
    DEFAULT_APPROACH,
    MIN_PER_LABEL,
    P1_RECALL_TARGET,
    EmbeddingFeatures,
    LabelledQuestion,
    QuestionClassifier,
    get_approach,
    load_labelled,
)
from models.taxonomy import Taxonomy, load_taxonomy

__all__ = [
    "DEFAULT_COMPARISON",
    "P1_RECALL_REQUIRED",
    "PRIMARY_METRIC",
    "COVERAGE_THRESHOLDS",
    "ProgressCallback",
    "TrainedModel",
    "TrainingReport",
    "choose_approach",
    "cross_validate",
    "expected_calibration_error",
    "head_metrics",
    "train_and_report",
    "train_only",
]

ProgressCallback = Callable[[str, int, int], None]
"""``on_progress(stage, done, total)``; stages: ``embedding``, ``cv <approach>`` (folds), ``final model``,
``report``."""

DEFAULT_COMPARISON = [
    "char-lr", "embedding-lr", "char-svm", "char+words-svm", "char+words-svm-sigmoid", "char+embedding-svm"
]
PRIMARY_METRIC = "mean_macro_f1"  # mean of the module and urgency macro-F1
P1_RECALL_REQUIRED = 0.95
# Module confidence thresholds at which the report shows coverage and accuracy (for "unknown").
COVERAGE_THRESHOLDS = (0.35, 0.5, 0.6, 0.7, 0.8, 0.9)
_CJK_FONT = "WenQuanYi Micro Hei"
# Fewest training files for the held-out-file evaluation: with fewer, one file is most of the data.
MIN_SOURCE_FILES = 3


@dataclass(frozen=True)
class TrainingReport:
    """What ``train_and_report`` measured and wrote.

    ``metrics[approach][head]`` is a flat dict (``accuracy``, ``macro_f1``, ``log_loss``, ``ece``, and
    ``p1_recall``/``p1_precision`` for urgency, ``coverage``/``selective_accuracy`` for module);
    ``per_class[approach][head][label]`` holds ``precision``, ``recall``, ``f1``, ``support``.
    """

    metrics: dict[str, dict[str, dict[str, float]]]
    per_class: dict[str, dict[str, dict[str, dict[str, float]]]]
    primary: dict[str, float]
    latency_p95_ms: dict[str, float]
    seconds: dict[str, float]
    chosen: str
    reason: str
    p1_threshold: float
    n_questions: int
    n_folds: int
    label_counts: dict[str, dict[str, int]]
    model_path: Path
    report_json: Path
    report_md: Path
    confusion_png: dict[str, Path]
    errors_path: Path
    confusion: dict[str, dict[str, list[list[int]]]] = field(default_factory=dict)
    # The chosen approach with each training file held out in turn (a file is one writer's batch): how it
    # does on phrasing it has never seen. Empty when there are fewer than MIN_SOURCE_FILES files.
    by_source: dict[str, dict[str, float]] = field(default_factory=dict)
    by_source_files: dict[str, dict[str, float]] = field(default_factory=dict)
    by_source_skipped: list[str] = field(default_factory=list)  # files that alone hold some label
    p1_recall_target: float = P1_RECALL_TARGET
    total_seconds: float = 0.0  # the whole comparison: folds, held-out files, final model, plots

    @property
    def paths(self) -> list[Path]:
        return [self.model_path, self.report_json, self.report_md, *self.confusion_png.values(), self.errors_path]


# ---------------------------------------------------------------------------------------------------------
# Metrics


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """Share-weighted mean gap between confidence and accuracy over equal-width confidence bins."""
    conf = np.asarray(confidence, dtype=float)
    hit = np.asarray(correct, dtype=float)
    if conf.size == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    gap = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            gap += in_bin.mean() * abs(hit[in_bin].mean() - conf[in_bin].mean())
    return float(gap)


def head_metrics(
    gold: Sequence[str], predicted: Sequence[str], probabilities: Sequence[dict[str, float]], labels: Sequence[str]
) -> tuple[dict[str, float], dict[str, dict[str, float]], list[list[int]]]:
    """Flat metrics, per-class precision/recall/F1/support and the confusion matrix (rows gold, columns
    predicted, in ``labels`` order) of one head."""
    gold_a, pred_a = np.asarray(gold), np.asarray(predicted)
    precision, recall, f1, support = precision_recall_fscore_support(
        gold_a, pred_a, labels=list(labels), zero_division=0
    )
    present = support > 0
    # Classification rounds probabilities to 4 decimals: floor them at half a unit of that, not at 0.
    probs = np.array([[max(p.get(label, 0.0), 5e-5) for label in labels] for p in probabilities])
    probs /= probs.sum(axis=1, keepdims=True)
    gold_index = np.array([list(labels).index(g) for g in gold])
    top = probs.argmax(axis=1)
    flat = {
        "accuracy": float(np.mean(gold_a == pred_a)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "log_loss": float(-np.mean(np.log(probs[np.arange(len(gold_index)), gold_index]))),
        "ece": expected_calibration_error(probs.max(axis=1), top == gold_index),
    }
    per_class = {
        label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for label, p, r, f, s in zip(labels, precision, recall, f1, support)
    }
    matrix = confusion_matrix(gold_a, pred_a, labels=list(labels)).tolist()
    return flat, per_class, matrix


@dataclass(frozen=True)
class _FoldOutput:
    index: int
    result: Classification
    p1_threshold: float


@dataclass(frozen=True)
class _ApproachResult:
    metrics: dict[str, dict[str, float]]
    per_class: dict[str, dict[str, dict[str, float]]]
    confusion: dict[str, list[list[int]]]
    errors: list[dict[str, Any]]
    latency_p95_ms: float
    seconds: float


def _folds(items: list[LabelledQuestion], n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified by module and urgency together where every pair has ``n_folds`` questions, else by module."""
    pairs = [f"{i.module}|{i.urgency}" for i in items]
    modules = [i.module for i in items]
    strata = pairs if min(pairs.count(p) for p in set(pairs)) >= n_folds else modules
    smallest = min(strata.count(s) for s in set(strata))
    if smallest < n_folds:
        raise ValueError(f"{n_folds}-fold cross-validation needs {n_folds} questions per module; the rarest has {smallest}")
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(items)), strata))


def source_folds(items: list[LabelledQuestion]) -> list[tuple[np.ndarray, np.ndarray]]:
    """One fold per training file: the file's questions held out, the others trained on. Files were written
    in batches by different people and for different purposes, so this measures new phrasing, which random
    folds (sharing each writer's habits between train and test) overstate."""
    files = [i.source.partition(":")[0] for i in items]
    index = np.arange(len(items))
    return [(index[[f != name for f in files]], index[[f == name for f in files]])
            for name in sorted(set(files))]


def cross_validate(
    approach: str,
    taxonomy: Taxonomy,
    items: list[LabelledQuestion],
    folds: list[tuple[np.ndarray, np.ndarray]],
    *,
    module_threshold: float = 0.35,
    seed: int = 0,
    embedder: Any = None,  # noqa: ANN401 - indexer.embedding.Embedder
    embedding_cache: dict[str, np.ndarray] | None = None,
    on_fold: Callable[[int], None] | None = None,
    latency_sample: int = 40,
    p1_recall_target: float = P1_RECALL_TARGET,
) -> _ApproachResult:
    """Out-of-fold classification of every question by ``approach`` and its metrics per head."""
    started = time.perf_counter()
    outputs: list[_FoldOutput] = []
    latencies: list[float] = []
    for k, (train_idx, test_idx) in enumerate(folds):
        model = QuestionClassifier(
            taxonomy,
            module_threshold,
            approach=approach,
            embedder=embedder,
            embedding_cache=embedding_cache,
            p1_recall_target=p1_recall_target,
        ).train([items[i] for i in train_idx], seed=seed)
        results = model.classify_many([items[i].text for i in test_idx])
        outputs.extend(_FoldOutput(int(i), r, model.p1_threshold) for i, r in zip(test_idx, results))
        with _without_embedding_cache(model):
            for i in test_idx[:latency_sample]:
                tick = time.perf_counter()
                model.classify(items[i].text)
                latencies.append((time.perf_counter() - tick) * 1000)
        if on_fold is not None:
            on_fold(k + 1)
    outputs.sort(key=lambda o: o.index)
    gold = [items[o.index] for o in outputs]
    results = [o.result for o in outputs]

    # Module: the macro-F1 target is on the best guess; "unknown" below the threshold is reported apart.
    module_guess = [max(r.module_scores, key=r.module_scores.get) for r in results]  # type: ignore[arg-type]
    module, module_pc, module_cm = head_metrics(
        [g.module for g in gold], module_guess, [r.module_scores for r in results], taxonomy.module_ids
    )
    for threshold, suffix in [(module_threshold, ""), *((t, f"@{t}") for t in COVERAGE_THRESHOLDS)]:
        answered = [r.module_confidence >= threshold for r in results]
        right = [a and guess == g.module for a, guess, g in zip(answered, module_guess, gold)]
        module[f"coverage{suffix}"] = float(np.mean(answered))
        module[f"selective_accuracy{suffix}"] = float(sum(right) / max(sum(answered), 1))

    urgency_pred = [r.urgency.value for r in results]
    urgency, urgency_pc, urgency_cm = head_metrics(
        [g.urgency for g in gold], urgency_pred, [r.urgency_scores for r in results], taxonomy.urgency_ids
    )
    urgency["p1_recall"] = urgency_pc["P1"]["recall"]
    urgency["p1_precision"] = urgency_pc["P1"]["precision"]
    urgency["p1_threshold_mean"] = float(np.mean([o.p1_threshold for o in outputs]))

    errors = []
    for g, r, guess in zip(gold, results, module_guess):
        if guess != g.module:
            errors.append(_error(g, "module", g.module, guess, r.module_scores[guess]))
        if r.urgency.value != g.urgency:
            errors.append(_error(g, "urgency", g.urgency, r.urgency.value, r.urgency_scores[r.urgency.value]))
    errors.sort(key=lambda e: -e["confidence"])
    return _ApproachResult(
        metrics={"module": module, "urgency": urgency},
        per_class={"module": module_pc, "urgency": urgency_pc},
        confusion={"module": module_cm, "urgency": urgency_cm},
        errors=errors,
        latency_p95_ms=float(np.percentile(latencies, 95)) if latencies else 0.0,
        seconds=time.perf_counter() - started,
    )


@contextmanager
def _without_embedding_cache(model: QuestionClassifier) -> Iterator[None]:
    """Time questions as a service meets them: the fold's embedding cache already holds every text."""
    features = model.features
    if not isinstance(features, EmbeddingFeatures):
        yield
        return
    saved, features.cache = features.cache, {}
    try:
        yield
    finally:
        features.cache = saved


def _error(item: LabelledQuestion, head: str, gold: str, predicted: str, confidence: float) -> dict[str, Any]:
    return {
        "head": head,
        "text": item.text,
        "gold": gold,
        "predicted": predicted,
        "confidence": round(float(confidence), 4),
        "source": item.source,
    }


def choose_approach(primary: dict[str, float], p1_recall: dict[str, float]) -> tuple[str, str]:
    """The approach with the best primary metric among those reaching the P1 recall requirement (all of
    them, if none does); the first listed on a tie. Returns the name and the reason in words.

    Latency is reported but does not choose: measured on a shared machine it would flip the choice from
    run to run, and every TF-IDF approach is within the budget anyway."""
    eligible = [a for a in primary if p1_recall[a] >= P1_RECALL_REQUIRED] or list(primary)
    chosen = max(eligible, key=lambda a: primary[a])
    reason = f"highest {PRIMARY_METRIC} ({primary[chosen]:.3f})"
    if len(eligible) < len(primary):
        reason += f" among the approaches with P1 recall ≥ {P1_RECALL_REQUIRED} ({', '.join(eligible)})"
    elif not any(p1_recall[a] >= P1_RECALL_REQUIRED for a in primary):
        reason += f"; no approach reached P1 recall ≥ {P1_RECALL_REQUIRED}"
    else:
        reason += f", and P1 recall ≥ {P1_RECALL_REQUIRED}"
    return chosen, reason


# ---------------------------------------------------------------------------------------------------------
# The whole run


@dataclass
class TrainedModel:
    """What ``train_only`` trained: no cross-validation, so no quality numbers (``--compare`` has them)."""

    approach: str
    n_questions: int
    p1_threshold: float
    model_path: Path
    seconds: float


def train_only(taxonomy_path: Path, data_dir: Path, model_path: Path, approach: str, *,
               module_threshold: float = 0.35, p1_recall_target: float = P1_RECALL_TARGET, seed: int = 0,
               on_progress: ProgressCallback | None = None) -> TrainedModel:
    """Train ``approach`` on every ``*.jsonl`` in ``data_dir`` and save it: the quick path of a first run."""
    started = time.perf_counter()
    progress = on_progress or (lambda stage, done, total: None)
    name = get_approach(approach).name
    taxonomy = load_taxonomy(taxonomy_path)
    items = load_labelled(data_dir, taxonomy)
    progress("final model", 0, 1)
    model = QuestionClassifier(taxonomy, module_threshold, approach=name, p1_recall_target=p1_recall_target)
    model.train(items, seed=seed)
    model.save(model_path)
    progress("final model", 1, 1)
    return TrainedModel(name, len(items), model.p1_threshold, model_path, time.perf_counter() - started)


def train_and_report(
    taxonomy_path: Path,
    data_dir: Path,
    model_path: Path,
    report_dir: Path,
    on_progress: ProgressCallback | None = None,
    approaches: list[str] | None = None,
    *,
    n_folds: int = 5,
    seed: int = 0,
    module_threshold: float = 0.35,
    embedder: Any = None,  # noqa: ANN401 - indexer.embedding.Embedder, loaded on first use if None
    latency_sample: int = 40,
    p1_recall_target: float = P1_RECALL_TARGET,
) -> TrainingReport:
    """Cross-validate ``approaches`` (default: all of ``DEFAULT_COMPARISON``) on every ``*.jsonl`` in
    ``data_dir``, train the best on all of it, save it to ``model_path`` and write ``report.json``,
    ``report.md``, ``confusion_<head>.png`` and ``cv_errors.jsonl`` into ``report_dir``.

    ``latency_sample`` held-out questions per fold are also classified one at a time, uncached, for the
    p95 latency column. ``module_threshold`` only shapes the coverage numbers; it is not saved."""
    started = time.perf_counter()
    progress = on_progress or (lambda stage, done, total: None)
    names = [get_approach(a).name for a in (approaches or DEFAULT_COMPARISON)]
    if not names:
        raise ValueError("approaches is empty; name at least one of " + ", ".join(APPROACHES))
    taxonomy = load_taxonomy(taxonomy_path)
    items = load_labelled(data_dir, taxonomy)
    folds = _folds(items, n_folds, seed)

    cache: dict[str, np.ndarray] = {}
    if any(get_approach(a).uses_embedder for a in names):
        if embedder is None:
            from indexer.embedding import Embedder

            embedder = Embedder("all-MiniLM-L6-v2")
        progress("embedding", 0, 1)
        texts = [i.text for i in items] + [t for t, _ in taxonomy.module_terms()]
        cache.update(zip(texts, embedder.load().encode(texts)))
        progress("embedding", 1, 1)

    results: dict[str, _ApproachResult] = {}
    for name in names:
        stage = f"cv {name}"
        progress(stage, 0, n_folds)
        results[name] = cross_validate(
            name,
            taxonomy,
            items,
            folds,
            module_threshold=module_threshold,
            seed=seed,
            embedder=embedder,
            embedding_cache=cache,
            on_fold=lambda done, stage=stage: progress(stage, done, n_folds),  # type: ignore[misc]
            latency_sample=latency_sample,
            p1_recall_target=p1_recall_target,
        )

    primary = {a: (r.metrics["module"]["macro_f1"] + r.metrics["urgency"]["macro_f1"]) / 2 for a, r in results.items()}
    latency = {a: r.latency_p95_ms for a, r in results.items()}
    chosen, reason = choose_approach(primary, {a: r.metrics["urgency"]["p1_recall"] for a, r in results.items()})

    by_source: dict[str, dict[str, float]] = {}
    by_source_files: dict[str, dict[str, float]] = {}
    file_folds = source_folds(items)
    # A file that is the only source of some label cannot be held out: the rest could not train that label.
    by_source_skipped = [items[test[0]].source.partition(":")[0] for train, test in file_folds
                         if not _trainable([items[i] for i in train], taxonomy)]
    file_folds = [(train, test) for train, test in file_folds
                  if _trainable([items[i] for i in train], taxonomy)]
    if len(file_folds) + len(by_source_skipped) >= MIN_SOURCE_FILES and file_folds:
        stage = f"held-out files {chosen}"
        progress(stage, 0, len(file_folds))
        held_out = cross_validate(
            chosen, taxonomy, items, file_folds, module_threshold=module_threshold, seed=seed,
            embedder=embedder, embedding_cache=cache,
            on_fold=lambda done: progress(stage, done, len(file_folds)), latency_sample=0,
            p1_recall_target=p1_recall_target,
        )
        by_source = {head: _headline(held_out.metrics[head]) for head in ("module", "urgency")}
        by_source_files = _per_file_accuracy([items[i] for _, test in file_folds for i in test],
                                             held_out.errors)

    progress("final model", 0, 1)
    final = QuestionClassifier(taxonomy, module_threshold, approach=chosen, embedder=embedder,
                               embedding_cache=cache,
                               p1_recall_target=p1_recall_target)
    final.train(items, seed=seed)
    final.save(model_path)
    progress("final model", 1, 1)

    progress("report", 0, 1)
    report_dir.mkdir(parents=True, exist_ok=True)
    pngs = {
        head: _plot_confusion(
            results[chosen].confusion[head],
            taxonomy.module_ids if head == "module" else taxonomy.urgency_ids,
            f"{chosen}: {head}, {n_folds}-fold CV (rows: gold, columns: predicted)",
            report_dir / f"confusion_{head}.png",
        )
        for head in ("module", "urgency")
    }
    errors_path = report_dir / "cv_errors.jsonl"
    errors_path.write_text(
        "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in results[chosen].errors), encoding="utf-8"
    )
    report = TrainingReport(
        metrics={a: r.metrics for a, r in results.items()},
        per_class={a: r.per_class for a, r in results.items()},
        primary=primary,
        latency_p95_ms=latency,
        seconds={a: r.seconds for a, r in results.items()},
        chosen=chosen,
        reason=reason,
        p1_threshold=final.p1_threshold,
        n_questions=len(items),
        n_folds=n_folds,
        label_counts={
            "module": {m: sum(i.module == m for i in items) for m in taxonomy.module_ids},
            "urgency": {u: sum(i.urgency == u for i in items) for u in taxonomy.urgency_ids},
        },
        model_path=model_path,
        report_json=report_dir / "report.json",
        report_md=report_dir / "report.md",
        confusion_png=pngs,
        errors_path=errors_path,
        confusion={a: r.confusion for a, r in results.items()},
        by_source=by_source,
        by_source_files=by_source_files,
        by_source_skipped=by_source_skipped if by_source else [],
        p1_recall_target=p1_recall_target,
        total_seconds=time.perf_counter() - started,
    )
    _write_json(report, taxonomy, items, data_dir, module_threshold, time.perf_counter() - started)
    report.report_md.write_text(_markdown(report, taxonomy, results[chosen].errors, module_threshold), encoding="utf-8")
    progress("report", 1, 1)
    return report


def _trainable(items: list[LabelledQuestion], taxonomy: Taxonomy) -> bool:
    """Whether these questions have enough of every module and urgency level for ``train()``."""
    modules = Counter(i.module for i in items)
    urgency = Counter(i.urgency for i in items)
    return all(modules[m] >= MIN_PER_LABEL for m in taxonomy.module_ids) and all(
        urgency[u] >= MIN_PER_LABEL for u in taxonomy.urgency_ids
    )


def _headline(metrics: dict[str, float]) -> dict[str, float]:
    keys = ("accuracy", "macro_f1", "p1_recall", "p1_precision")
    return {k: metrics[k] for k in keys if k in metrics}


def _per_file_accuracy(items: list[LabelledQuestion],
                       errors: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Questions, module accuracy and urgency accuracy of each held-out file."""
    files = Counter(i.source.partition(":")[0] for i in items)
    wrong = Counter((e["source"].partition(":")[0], e["head"]) for e in errors)
    return {
        name: {
            "questions": n,
            "module_accuracy": 1 - wrong[name, "module"] / n,
            "urgency_accuracy": 1 - wrong[name, "urgency"] / n,
        }
        for name, n in sorted(files.items())
    }


# ---------------------------------------------------------------------------------------------------------
# Writing the report


def _data_hash(items: list[LabelledQuestion]) -> str:
    digest = hashlib.sha256()
    for i in sorted(items, key=lambda i: (i.text, i.module, i.urgency)):
        digest.update(f"{i.text}\x1f{i.module}\x1f{i.urgency}\n".encode())
    return digest.hexdigest()[:16]


def _write_json(
    report: TrainingReport,
    taxonomy: Taxonomy,
    items: list[LabelledQuestion],
    data_dir: Path,
    module_threshold: float,
    seconds: float,
) -> None:
    payload = {
        "created_at": datetime.now(timezone.utc).isoformat(),
        "primary_metric": PRIMARY_METRIC,
        "chosen": report.chosen,
        "reason": report.reason,
        "default_approach_in_code": DEFAULT_APPROACH,
        "p1_threshold": report.p1_threshold,
        "p1_recall_target": report.p1_recall_target,
        "p1_recall_required": P1_RECALL_REQUIRED,
        "module_threshold": module_threshold,
        "n_questions": report.n_questions,
        "n_folds": report.n_folds,
        "data_dir": str(data_dir),
        "data_files": sorted(p.name for p in data_dir.glob("*.jsonl")),
        "data_hash": _data_hash(items),
        "taxonomy_hash": taxonomy.hash,
        "label_counts": report.label_counts,
        "approaches": {
            a: {
                "summary": get_approach(a).summary,
                PRIMARY_METRIC: report.primary[a],
                "latency_p95_ms": report.latency_p95_ms[a],
                "seconds": report.seconds[a],
                "metrics": report.metrics[a],
                "per_class": report.per_class[a],
                "confusion": {
                    "labels": {"module": taxonomy.module_ids, "urgency": taxonomy.urgency_ids},
                    **report.confusion[a],
                },
            }
            for a in report.metrics
        },
        "held_out_files": {"approach": report.chosen, "metrics": report.by_source,
                           "per_file": report.by_source_files,
                           "not_held_out": report.by_source_skipped},
        "files": {
            "model": str(report.model_path),
            "report_md": str(report.report_md),
            "confusion_png": {h: str(p) for h, p in report.confusion_png.items()},
            "cv_errors": str(report.errors_path),
        },
        "seconds": seconds,
    }
    report.report_json.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")


def _markdown(report: TrainingReport, taxonomy: Taxonomy, errors: list[dict[str, Any]], module_threshold: float) -> str:
    lines = [
        "# Question classifier: cross-validation report",
        "",
        f"{report.n_questions} labelled questions, {report.n_folds}-fold stratified cross-validation; every fold "
        "trains the full classifier (including its inner P1-threshold tuning) and classifies the held-out questions.",
        "",
        "| module | " + " | ".join(taxonomy.module_ids) + " |",
        "|---|" + "---:|" * len(taxonomy.module_ids),
        "| questions | " + " | ".join(str(report.label_counts["module"][m]) for m in taxonomy.module_ids) + " |",
        "",
        "| urgency | " + " | ".join(taxonomy.urgency_ids) + " |",
        "|---|" + "---:|" * len(taxonomy.urgency_ids),
        "| questions | " + " | ".join(str(report.label_counts["urgency"][u]) for u in taxonomy.urgency_ids) + " |",
        "",
        "## Comparison",
        "",
        f"The whole comparison took {report.total_seconds:.0f} s (`erp-assist train-classifier --compare`).",
        "",
        "| approach | module acc | module macro-F1 | module ECE | urgency acc | urgency macro-F1 | P1 recall | "
        "P1 precision | mean macro-F1 | p95 ms/question | CV seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for a, m in report.metrics.items():
        mark = " **(chosen)**" if a == report.chosen else ""
        lines.append(
            f"| {a}{mark} | {m['module']['accuracy']:.3f} | {m['module']['macro_f1']:.3f} | {m['module']['ece']:.3f} | "
            f"{m['urgency']['accuracy']:.3f} | {m['urgency']['macro_f1']:.3f} | {m['urgency']['p1_recall']:.3f} | "
            f"{m['urgency']['p1_precision']:.3f} | {report.primary[a]:.3f} | {report.latency_p95_ms[a]:.1f} | "
            f"{report.seconds[a]:.0f} |"
        )
    lines += ["", *(f"- **{a}**: {get_approach(a).summary}" for a in report.metrics), ""]
    chosen = report.metrics[report.chosen]
    lines += [
        "## Chosen",
        "",
        f"**{report.chosen}** — {report.reason}. Saved to `{report.model_path}` with P1 threshold "
        f"{report.p1_threshold:.3f} (tuned on out-of-fold probabilities of all data for P1 recall ≥ "
        f"{report.p1_recall_target}; the cross-validated P1 recall above uses thresholds tuned "
        "inside each fold).",
        "",
        f"Module confidence threshold {module_threshold}: {chosen['module']['coverage']:.1%} of questions get a module, "
        f"{chosen['module']['selective_accuracy']:.1%} of those correctly; the rest are `unknown`.",
        "",
    ]
    lines += [
        "| module confidence threshold | " + " | ".join(str(t) for t in COVERAGE_THRESHOLDS) + " |",
        "|---|" + "---:|" * len(COVERAGE_THRESHOLDS),
        "| questions given a module | "
        + " | ".join(f"{chosen['module'][f'coverage@{t}']:.1%}" for t in COVERAGE_THRESHOLDS) + " |",
        "| of those, correct | "
        + " | ".join(f"{chosen['module'][f'selective_accuracy@{t}']:.1%}" for t in COVERAGE_THRESHOLDS) + " |",
        "",
    ]
    lines += _held_out_files_section(report)
    for head, labels in (("module", taxonomy.module_ids), ("urgency", taxonomy.urgency_ids)):
        pc = report.per_class[report.chosen][head]
        lines += [
            f"### {head} per class ({report.chosen})",
            "",
            "| label | precision | recall | F1 | support |",
            "|---|---:|---:|---:|---:|",
            *(
                f"| {label} | {pc[label]['precision']:.3f} | {pc[label]['recall']:.3f} | {pc[label]['f1']:.3f} | "
                f"{pc[label]['support']} |"
                for label in labels
            ),
            "",
            f"![{head} confusion matrix]({report.confusion_png[head].name})",
            "",
            f"### {head} F1 per class, all approaches",
            "",
            "| label | " + " | ".join(report.metrics) + " |",
            "|---|" + "---:|" * len(report.metrics),
            *(
                f"| {label} | " + " | ".join(f"{report.per_class[a][head][label]['f1']:.3f}" for a in report.metrics) + " |"
                for label in labels
            ),
            "",
        ]
    lines += ["## Most confident cross-validation mistakes", "", "| head | gold | predicted | confidence | question | source |",
              "|---|---|---|---:|---|---|"]
    for e in errors[:20]:
        text = e["text"].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {e['head']} | {e['gold']} | {e['predicted']} | {e['confidence']:.2f} | {text} | {e['source']} |")
    lines += ["", f"All {len(errors)} mistakes: `{report.errors_path.name}`.", ""]
    return "\n".join(lines)


def _held_out_files_section(report: TrainingReport) -> list[str]:
    if not report.by_source:
        return [f"Held-out files: not measured (fewer than {MIN_SOURCE_FILES} training files).", ""]
    module, urgency = report.by_source["module"], report.by_source["urgency"]
    lines = [
        f"### {report.chosen} with each training file held out",
        "",
        "Each file was written in one batch by one writer; holding it out measures phrasing the model "
        "has not "
        "seen, which random folds overstate. Compare with the row above.",
        "",
        "| evaluation | module macro-F1 | urgency macro-F1 | P1 recall | P1 precision |",
        "|---|---:|---:|---:|---:|",
    ]
    random_folds = report.metrics[report.chosen]
    for label, m, u in (
        (f"{report.n_folds}-fold stratified", random_folds["module"], random_folds["urgency"]),
        ("each file held out", module, urgency),
    ):
        lines.append(
            f"| {label} | {m['macro_f1']:.3f} | {u['macro_f1']:.3f} | {u['p1_recall']:.3f} | "
            f"{u['p1_precision']:.3f} |"
        )
    lines += ["", "| held-out file | questions | module accuracy | urgency accuracy |",
              "|---|---:|---:|---:|"]
    lines += [
        f"| {name} | {f['questions']:.0f} | {f['module_accuracy']:.3f} | {f['urgency_accuracy']:.3f} |"
        for name, f in report.by_source_files.items()
    ]
    if report.by_source_skipped:
        lines += ["", "Not held out (the only source of some module or urgency level): "
                  + ", ".join(report.by_source_skipped) + "."]
    return [*lines, ""]


def _plot_confusion(matrix: list[list[int]], labels: list[str], title: str, path: Path) -> Path:
    """A row-normalized confusion matrix with counts, written as PNG (no pyplot global state)."""
    from matplotlib import font_manager, rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    installed = {f.name for f in font_manager.fontManager.ttflist}
    style = {"font.family": [_CJK_FONT, "DejaVu Sans"]} if _CJK_FONT in installed else {}
    counts = np.asarray(matrix, dtype=float)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = 1.0 + 0.75 * len(labels)
    with rc_context(style):
        figure = Figure(figsize=(size + 1.5, size + 0.5), dpi=110)
        FigureCanvasAgg(figure)
        ax = figure.add_subplot()
        image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("gold")
        ax.set_title(title, fontsize=9)
        for r in range(len(labels)):
            for c in range(len(labels)):
                if counts[r, c]:
                    colour = "white" if share[r, c] > 0.5 else "black"
                    ax.text(c, r, f"{int(counts[r, c])}", ha="center", va="center", color=colour, fontsize=8)
        figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the gold row")
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    return path
