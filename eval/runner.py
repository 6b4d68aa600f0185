"""Run every dataset through our retrieval systems and the LangChain peer, plus tags, abstention and latency
on the golden set; return one serializable report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sklearn.metrics import confusion_matrix

from erp_assist import __version__
from erp_assist.domain import Classification, Hit, SuggestResult
from erp_assist.settings import Settings
from eval.dataset import GoldenQuestion, load_dataset, load_second_annotator
from eval.metrics import abstention_metrics, classification_metrics, percentiles, retrieval_metrics
from eval.public import Benchmark, afqmc_benchmark, odoo_benchmark
from eval.systems import (
    RetrievalSystem,
    in_memory_index,
    langchain_system,
    our_systems,
    peers_installed,
    ranked_sources,
    with_vectors,
)
from indexer.embedding import INSTALL_HINT, Embedder, transformers_installed
from indexer.index import KnowledgeIndex
from indexer.text import TextProcessor

__all__ = ["DatasetResult", "EvalReport", "run_eval", "evaluate_retrieval", "DEFAULT_DATASET", "ranked_sources"]

DEFAULT_DATASET = Path(__file__).resolve().parent / "data" / "golden.jsonl"
ProgressCallback = Callable[[str, int, int], None]


@dataclass
class DatasetResult:
    name: str
    sha256: str
    n_questions: int
    n_chunks: int
    skipped: list[str]
    systems: dict[str, dict[str, float]]
    by_module: dict[str, dict[str, float]] = field(default_factory=dict)
    classification: dict[str, float] = field(default_factory=dict)
    confusion: dict[str, dict] = field(default_factory=dict)
    abstention: dict[str, float] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)


@dataclass
class EvalReport:
    created_at: str
    code_version: str
    build_id: str
    embedder: str
    settings: dict
    datasets: dict[str, DatasetResult]
    notices: list[str] = field(default_factory=list)

    @property
    def primary(self) -> DatasetResult:
        return next(iter(self.datasets.values()))

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_retrieval(systems: list[RetrievalSystem], questions: list[GoldenQuestion],
                       on_progress: ProgressCallback | None = None, stage: str = "retrieval"
                       ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]], dict[str, list[float]]]:
    """Metrics per system, the last system's metrics per module, and each system's latencies in ms."""
    runs: dict[str, list[tuple[list[str], set[str]]]] = {s.name: [] for s in systems}
    latency: dict[str, list[float]] = {s.name: [] for s in systems}
    by_module: dict[str, list[tuple[list[str], set[str]]]] = {}
    for i, question in enumerate(questions, start=1):
        relevant = {r.split("#")[0] for r in question.relevant}
        for system in systems:
            started = time.perf_counter()
            ranked = system.search(question.question)
            latency[system.name].append((time.perf_counter() - started) * 1000)
            runs[system.name].append((ranked, relevant))
        if question.module:
            by_module.setdefault(question.module, []).append(runs[systems[-1].name][-1])
        if on_progress:
            on_progress(stage, i, len(questions))
    metrics = {name: retrieval_metrics(r) for name, r in runs.items()}
    return metrics, {m: retrieval_metrics(r) for m, r in sorted(by_module.items())}, latency


def _golden(settings: Settings, dataset_path: Path, assistant, on_progress: ProgressCallback | None) -> DatasetResult:  # noqa: ANN001
    index = assistant.index
    dataset = load_dataset(dataset_path, known_sources={c.uri.split("#")[0] for c in index.chunks})
    name = "golden" if dataset_path == DEFAULT_DATASET else dataset_path.stem
    questions = dataset.questions
    results = {}
    latencies = []
    for i, q in enumerate(questions, start=1):
        started = time.perf_counter()
        results[q.id] = assistant.suggest(q.question)
        latencies.append((time.perf_counter() - started) * 1000)
        if on_progress:
            on_progress(f"{name}: suggest", i, len(questions))
    def served_hybrid(question: str):  # noqa: ANN202 - hits in the order the assistant serves them
        return assistant.rank(question).hits

    processor = assistant.serving.retriever.processor
    vectors = with_vectors(index, assistant.embedder, processor, settings, _embed_progress(name, on_progress))
    metrics, by_module, _ = _compare(index, vectors, processor, assistant.embedder, settings, questions, name,
                                     on_progress, hybrid=served_hybrid)

    gold_m = [q.module for q in questions if q.module]
    pred_m = [results[q.id].classification.module for q in questions if q.module]
    gold_u = [q.urgency for q in questions if q.urgency]
    pred_u = [results[q.id].classification.urgency.value for q in questions if q.urgency]
    # Module and urgency labels are optional in a golden set; a head without labels is not scored.
    classification = {**(classification_metrics(gold_m, pred_m, "module") if gold_m else {}),
                      **(classification_metrics(gold_u, pred_u, "urgency") if gold_u else {})}
    p1_pred = [p == "P1" for p in pred_u]
    p1_true = [g == "P1" for g in gold_u]
    both = sum(a and b for a, b in zip(p1_pred, p1_true))
    if gold_u:
        classification["p1_recall"] = both / sum(p1_true) if sum(p1_true) else 0.0
        classification["p1_precision"] = both / sum(p1_pred) if sum(p1_pred) else 0.0
    classification.update(_second_annotator_agreement(dataset_path, questions, results))
    confusion = {}
    for head, gold, pred in (("module", gold_m, pred_m), ("urgency", gold_u, pred_u)):
        if not gold:
            continue
        labels = sorted(set(gold) | set(pred))
        confusion[head] = {"labels": labels, "matrix": confusion_matrix(gold, pred, labels=labels).tolist()}
    return DatasetResult(
        name=name,
        sha256=dataset.sha256,
        n_questions=len(questions),
        n_chunks=len(index.chunks),
        skipped=dataset.problems,
        systems=metrics,
        by_module=by_module,
        classification=classification,
        confusion=confusion,
        abstention=_abstention(questions, results),
        latency=percentiles(latencies),
    )


def _abstention(questions: list[GoldenQuestion], results: dict[str, SuggestResult]) -> dict[str, float]:
    """Abstention precision and recall (when the set has unanswerable questions), and the share of answerable
    questions given no drafts (``abstention_rate``) and given drafts (``answered``): what abstaining costs. A message the off-topic gate turned away got no drafts either: it counts as abstained, and
    ``off_topic`` says how many of the answerable questions the gate took."""
    no_drafts = {q.id: results[q.id].abstained or results[q.id].off_topic for q in questions}
    answerable = [q for q in questions if q.answerable]
    # Precision and recall of abstaining need unanswerable questions; on a set where every question has an
    # answer, what abstaining costs is all there is to say.
    metrics = (abstention_metrics([not q.answerable for q in questions], [no_drafts[q.id] for q in questions])
               if len(answerable) < len(questions) else {})
    if answerable:
        metrics["abstention_rate"] = sum(no_drafts[q.id] for q in answerable) / len(answerable)
        metrics["answered"] = sum(not no_drafts[q.id] for q in answerable) / len(answerable)
        metrics["off_topic"] = sum(results[q.id].off_topic for q in answerable) / len(answerable)
    return metrics


_PREDICTED: dict[str, Callable[[Classification], str]] = {"module": lambda c: c.module,
                                                          "urgency": lambda c: c.urgency.value}


def _second_annotator_agreement(
    dataset_path: Path, questions: list[GoldenQuestion], results: dict[str, SuggestResult]
) -> dict[str, float]:
    """Per head the second annotator labelled: their macro-F1 against the gold labels (how far two people
    agree: the ceiling) and the classifier's macro-F1 against theirs."""
    second = load_second_annotator(dataset_path)
    out: dict[str, float] = {}
    for head in ("module", "urgency"):
        labelled = [q for q in questions if getattr(q, head) and head in second.get(q.id, {})]
        if not labelled:
            continue
        gold = [getattr(q, head) for q in labelled]
        theirs = [second[q.id][head] for q in labelled]
        ours = [_PREDICTED[head](results[q.id].classification) for q in labelled]
        out[f"{head}_macro_f1_annotator2_vs_gold"] = classification_metrics(
            gold, theirs, head)[f"{head}_macro_f1"]
        out[f"{head}_macro_f1_vs_annotator2"] = classification_metrics(theirs, ours, head)[f"{head}_macro_f1"]
    return out


def _compare(index: KnowledgeIndex, vectors: KnowledgeIndex | None, processor: TextProcessor,
             embedder: Embedder | None, settings: Settings, questions: list[GoldenQuestion], name: str,
             on_progress: ProgressCallback | None, hybrid: Callable[[str], list[Hit]] | None = None,
             ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]], dict[str, list[float]]]:
    """Our systems and, where ``vectors`` (the same chunks with vectors) allow, dense-only and the LangChain
    peer, side by side on ``questions``; the questions' vectors are computed once for all of them."""
    dense = vectors is not None and embedder is not None
    if dense:
        embedder.prime([q.question for q in questions])  # type: ignore[union-attr]
    try:
        systems = our_systems(index, processor, embedder, settings, hybrid=hybrid, vectors=vectors)
        if dense and peers_installed():
            systems.insert(-1, langchain_system(vectors, embedder))  # type: ignore[arg-type]
        return evaluate_retrieval(systems, questions, on_progress, f"{name}: retrieval")
    finally:
        if dense:
            embedder.prime([])  # type: ignore[union-attr]


def _embed_progress(name: str, on_progress: ProgressCallback | None) -> ProgressCallback:
    def progress(stage: str, done: int, total: int) -> None:
        if on_progress and stage == "embed":
            on_progress(f"{name}: embed", done, total)

    return progress


def _public(benchmark: Benchmark, settings: Settings, assistant, on_progress: ProgressCallback | None) -> DatasetResult:  # noqa: ANN001
    # Without a transformer embedder installed, the benchmark is run on the BM25 systems only.
    embedder = assistant.embedder if transformers_installed() else None
    slug = assistant.embedder.name.replace("/", "_")
    cache = settings.cache_dir / "embeddings" / f"{benchmark.name}-{slug}-{benchmark.sha256[:16]}.npz"
    index = in_memory_index(benchmark.chunks, embedder, assistant.processor, settings,
                            _embed_progress(benchmark.name, on_progress), cache)
    metrics, by_module, latency = _compare(index, index if embedder is not None else None, assistant.processor,
                                           embedder, settings, benchmark.questions, benchmark.name, on_progress)
    return DatasetResult(
        name=benchmark.name,
        sha256=benchmark.sha256,
        n_questions=len(benchmark.questions),
        n_chunks=len(benchmark.chunks),
        skipped=benchmark.problems,
        systems=metrics,
        by_module=by_module,
        latency=percentiles(latency["hybrid"]),
    )


def run_eval(
    settings: Settings,
    dataset_path: Path = DEFAULT_DATASET,
    *,
    include_public: bool = True,
    public_limit: int | None = None,
    assistant=None,  # noqa: ANN001 - Assistant, imported lazily
    on_progress: ProgressCallback | None = None,
) -> EvalReport:
    """Evaluate the published build on a golden-format dataset and, when present, the public benchmarks."""
    from assistant.service import Assistant

    assistant = assistant or Assistant(settings).load()
    datasets = {}
    golden = _golden(settings, dataset_path, assistant, on_progress)
    datasets[golden.name] = golden
    notices = []
    if not transformers_installed():
        notices.append(f"dense and langchain-ensemble not run: no transformer embedder is installed ({INSTALL_HINT})")
    elif not peers_installed():
        notices.append("langchain-ensemble not run: the peer baseline is not installed (pip install 'erp-assist[peers]')")
    if include_public:
        shared = settings.shared_data_dir
        for name, make in (
            ("afqmc", lambda: afqmc_benchmark(shared / "afqmc" / "dev.jsonl", limit=public_limit)),
            ("odoo", lambda: odoo_benchmark(shared / "odoo16-zh-docs", chunk_size=settings.chunk_size,
                                            chunk_overlap=settings.chunk_overlap)),
        ):
            benchmark = make()
            if benchmark is None:
                notices.append(f"{name}: skipped, {shared} does not have it (public data ships with the dev workspace)")
                continue
            datasets[name] = _public(benchmark, settings, assistant, on_progress)
    manifest = assistant.index.manifest
    return EvalReport(
        created_at=datetime.now(timezone.utc).isoformat(),
        code_version=__version__,
        build_id=assistant.index.build_id,
        embedder=manifest["embedder"]["name"] or "none (BM25 only)",
        settings=settings.model_dump(mode="json", include={
            "fusion", "bm25_weight", "dense_weight", "rrf_k", "candidate_k", "module_boost", "abstain_threshold",
            "title_weight", "chunk_size", "module_evidence_weight",
        }),
        datasets=datasets,
        notices=notices,
    )
