"""Run the golden set through the real assistant and its baselines; return one flat, serializable report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from erp_assist.domain import Hit
from erp_assist.settings import Settings
from eval.dataset import load_dataset
from eval.metrics import abstention_metrics, classification_metrics, percentiles, retrieval_metrics

__all__ = ["EvalReport", "run_eval", "DEFAULT_DATASET", "ranked_sources"]

DEFAULT_DATASET = Path(__file__).resolve().parent / "data" / "golden.jsonl"
_RANK_DEPTH = 10


@dataclass
class EvalReport:
    dataset: str
    dataset_sha256: str
    n_questions: int
    build_id: str
    embedder: str
    retrieval: dict[str, dict[str, float]]
    retrieval_by_module: dict[str, dict[str, float]]
    classification: dict[str, float]
    abstention: dict[str, float]
    latency: dict[str, float]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def ranked_sources(hits: list[Hit], depth: int = _RANK_DEPTH) -> list[str]:
    """Unique source links (anchor dropped) in rank order: gold labels name sources, not chunks."""
    ranked: list[str] = []
    for hit in hits:
        uri = hit.chunk.uri.split("#")[0]
        if uri not in ranked:
            ranked.append(uri)
        if len(ranked) == depth:
            break
    return ranked


def run_eval(settings: Settings, dataset_path: Path, on_progress: Callable[[int, int], None] | None = None,
             assistant=None) -> EvalReport:  # noqa: ANN001 - Assistant, imported lazily
    """Evaluate BM25-only, dense-only and the served hybrid on one dataset, plus tags, abstention, latency."""
    from assistant.service import Assistant, fusion_config

    assistant = assistant or Assistant(settings).load()
    index = assistant.index
    known = {c.uri.split("#")[0] for c in index.chunks}
    dataset = load_dataset(dataset_path, known_sources=known)
    retriever = assistant.serving.retriever
    depth = max(settings.candidate_k, 50)
    config = fusion_config(settings)

    runs: dict[str, list[tuple[list[str], set[str]]]] = {"bm25": [], "dense": [], "hybrid": []}
    by_module: dict[str, list[tuple[list[str], set[str]]]] = {}
    gold_module, pred_module, gold_urgency, pred_urgency = [], [], [], []
    unanswerable, abstained, latencies = [], [], []
    total = len(dataset.questions)
    for i, q in enumerate(dataset.questions, start=1):
        relevant = {r.split("#")[0] for r in q.relevant}
        started = time.perf_counter()
        result = assistant.suggest(q.question)
        latencies.append((time.perf_counter() - started) * 1000)
        hybrid = ranked_sources(retriever.hybrid(q.question, depth, config, module=result.classification.module))
        runs["hybrid"].append((hybrid, relevant))
        runs["bm25"].append((ranked_sources(retriever.lexical(q.question, depth)), relevant))
        runs["dense"].append((ranked_sources(retriever.dense(q.question, depth)), relevant))
        if q.module:
            by_module.setdefault(q.module, []).append((hybrid, relevant))
            gold_module.append(q.module)
            pred_module.append(result.classification.module)
        if q.urgency:
            gold_urgency.append(q.urgency)
            pred_urgency.append(result.classification.urgency.value)
        unanswerable.append(not q.answerable)
        abstained.append(result.abstained)
        if on_progress:
            on_progress(i, total)

    classification = {
        **classification_metrics(gold_module, pred_module, "module"),
        **classification_metrics(gold_urgency, pred_urgency, "urgency"),
    }
    p1_gold = [p == "P1" for p in pred_urgency]
    p1_true = [g == "P1" for g in gold_urgency]
    hits = sum(a and b for a, b in zip(p1_gold, p1_true))
    classification["p1_recall"] = hits / sum(p1_true) if sum(p1_true) else 0.0
    classification["p1_precision"] = hits / sum(p1_gold) if sum(p1_gold) else 0.0
    return EvalReport(
        dataset=str(dataset_path),
        dataset_sha256=dataset.sha256,
        n_questions=total,
        build_id=index.build_id,
        embedder=index.manifest["embedder"]["name"],
        retrieval={name: retrieval_metrics(r) for name, r in runs.items()},
        retrieval_by_module={m: retrieval_metrics(r) for m, r in sorted(by_module.items())},
        classification=classification,
        abstention=abstention_metrics(unanswerable, abstained),
        latency=percentiles(latencies),
        warnings=dataset.problems,
    )
