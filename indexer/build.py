"""Build an index from the knowledge-base sources and publish it atomically.

A build is written to ``builds/<id>.partial/``, loaded back and probed, renamed, and only then does the
``current`` pointer move (``os.replace`` of a small file). A crash at any point leaves the published build
untouched; a reader never sees a half-written directory. With ``vector_store=milvus`` the searchable rows go
to a collection named after the build (see ``indexer.milvus``) and publishing also moves the tenant's alias.
"""

from __future__ import annotations

import fcntl
import gc
import hashlib
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import orjson

from erp_assist import __version__
from erp_assist.domain import MODULE_INFERRED, Chunk, Document, SourceType
from erp_assist.settings import Settings
from indexer.backends import LocalBackend
from indexer.chunking import chunk_documents
from indexer.dense import DenseIndex
from indexer.embedding import Embedder
from indexer.errors import BuildRefusedError, IndexCorruptError, IndexNotFoundError
from indexer.index import (
    CHUNKS, CURRENT, FORMAT_VERSION, MANIFEST, KnowledgeIndex, current_build_dir, load_index, seal_manifest,
    vector_store, verify_build_files,
)
from indexer.hygiene import HygieneInputs, apply_curation, check_knowledge_base, scored_pairs, scored_pairs_key
from indexer.lexical import LexicalIndex, TermMatrix, chunk_term_counts, expand
from indexer.loaders import SkippedFile, load_tenant_sources
from indexer.text import TextProcessor
from indexer.build_cache import BuildCache
from indexer.vocab import VOCABULARY

__all__ = [
    "BuildReport",
    "ProgressCallback",
    "build_index",
    "finished_builds",
    "index_chunks",
    "HYGIENE",
    "lexical_tokens",
    "publish_build",
    "rollback",
]

ProgressCallback = Callable[[str, int, int], None]
HYGIENE = "hygiene.json"  # the build's knowledge-base hygiene report (indexer.hygiene), beside the index


@dataclass
class BuildReport:
    build_id: str
    path: Path
    manifest: dict
    skipped: list[SkippedFile] = field(default_factory=list)
    reused_embeddings: int = 0
    seconds: float = 0.0
    reused_tokens: int = 0  # chunks whose tokens came from the last build's cache (no text tokenized again)
    cache_hits: dict[str, int] = field(default_factory=dict)  # indexer.build_cache.BuildCache.hits
    stage_seconds: dict[str, float] = field(default_factory=dict)  # where the time went, stage by stage


class _Stopwatch:
    """Seconds per build stage: each ``lap`` charges the time since the last one to a stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._last
        self._last = now


def lexical_tokens(chunk: Chunk, processor: TextProcessor, title_weight: int) -> list[str]:
    """BM25 tokens of a chunk (``chunk_term_counts``), grouped by term."""
    return expand(chunk_term_counts(chunk, lambda text: Counter(processor.tokenize(text)), title_weight))


def _with_learned(documents: list[Document], extra: list[Document], alternates: dict[str, list[str]]) -> list[Document]:
    """Add reviewed knowledge: new FAQ entries, and askers' wordings as alternates of FAQ entries — of the
    sources' entries and of learned ones alike (an accepted draft of a learned entry teaches it a wording too)."""
    merged = []
    for doc in [*documents, *extra]:
        learned = alternates.get(doc.source_id) if doc.source_type is SourceType.FAQ else None
        if learned:
            known = list(doc.metadata.get("alternates", []))
            doc = replace(doc, metadata={**doc.metadata, "alternates": known + [a for a in learned if a not in known]})
        merged.append(doc)
    return merged


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _current_manifest(index_dir: Path) -> dict | None:
    """The published build's manifest, or None when nothing (readable) is published."""
    try:
        return _read_manifest(current_build_dir(index_dir))
    except (IndexNotFoundError, IndexCorruptError):
        return None


def _cached_vectors(settings: Settings, embedder_name: str) -> dict[str, np.ndarray]:
    """Vectors of the published FAISS build, by chunk id, when it used the same embedder."""
    manifest = _current_manifest(settings.index_dir)
    if not manifest or manifest["embedder"]["name"] != embedder_name or vector_store(manifest)["kind"] != "faiss":
        return {}
    build = settings.index_dir / "builds" / manifest["build_id"]
    try:
        # Reused vectors go into the new build unchecked by its probes, so a corrupt old build must not seed it.
        verify_build_files(build, manifest, [CHUNKS, "embeddings.npy"])
        ids = [json.loads(line)["id"] for line in (build / CHUNKS).open(encoding="utf-8") if line.strip()]
        vectors = np.load(build / "embeddings.npy")
    except (IndexCorruptError, OSError, EOFError, KeyError, TypeError, ValueError):
        return {}
    return dict(zip(ids, vectors)) if len(ids) == len(vectors) else {}


def _embed(chunks: list[Chunk], embedder: Embedder, cache: dict[str, np.ndarray],
           progress: ProgressCallback | None) -> tuple[np.ndarray, int]:
    vectors: list[np.ndarray | None] = [cache.get(c.id) for c in chunks]
    todo = [i for i, v in enumerate(vectors) if v is None]
    batch = max(embedder.batch_size * 4, 64)
    for start in range(0, len(todo), batch):
        rows = todo[start : start + batch]
        encoded = embedder.encode([chunks[i].search_text for i in rows])
        for i, vector in zip(rows, encoded):
            vectors[i] = vector
        if progress:
            progress("embed", min(start + batch, len(todo)), len(todo))
    if progress and not todo:
        progress("embed", 0, 0)
    matrix = np.vstack(vectors) if vectors else np.zeros((0, embedder.dimension), dtype=np.float32)
    return matrix.astype(np.float32), len(chunks) - len(todo)


def index_chunks(
    chunks: list[Chunk],
    embedder: Embedder | None,
    processor: TextProcessor,
    settings: Settings,
    *,
    cache: dict[str, np.ndarray] | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[LexicalIndex, DenseIndex | None, int]:
    """BM25 and (with an embedder) FAISS over chunks (vectors found in ``cache`` by chunk id are reused); also
    the reuse count."""
    lexical = LexicalIndex(concept_weight=settings.vocab_concept_weight).fit(
        _tokenize(chunks, processor, settings, progress))
    if embedder is None:
        return lexical, None, 0
    vectors, reused = _embed(chunks, embedder, cache or {}, progress)
    return lexical, DenseIndex(vectors, hnsw_threshold=settings.hnsw_threshold), reused


def _tokenize_progress(progress: ProgressCallback | None, total: int) -> Callable[[int], None] | None:
    if progress is None:
        return None
    return lambda done: progress("tokenize", done, total) if done % 200 == 0 or done == total else None


def _tokenize(chunks: list[Chunk], processor: TextProcessor, settings: Settings,
              progress: ProgressCallback | None) -> list[list[str]]:
    report = _tokenize_progress(progress, len(chunks))
    tokens = []
    for i, chunk in enumerate(chunks, start=1):
        tokens.append(lexical_tokens(chunk, processor, settings.title_weight))
        if report:
            report(i)
    return tokens


@contextmanager
def _build_lock(index_dir: Path) -> Iterator[None]:
    """One build at a time per index directory; stale ``.partial`` builds of crashed runs are removed."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".build.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise BuildRefusedError(f"another build is running in {index_dir}; try again when it has finished") from exc
        builds = index_dir / "builds"
        if builds.is_dir():
            for stale in builds.glob("*.partial"):
                shutil.rmtree(stale, ignore_errors=True)
        yield


def build_index(settings: Settings, **options) -> BuildReport:  # noqa: ANN003 - see _build
    """Load sources, chunk, tokenize, embed, write a new build, verify it and (by default) publish it.

    Options: ``embedder``, ``processor``, ``progress``, ``publish``; ``module_tagger`` labels chunks whose source
    has no module (chat threads) from their text; ``fusion_tuner`` chooses fusion weights on the new index,
    recorded in the manifest's ``fusion`` block (the files it returns under ``files`` go beside the build);
    ``learned`` is what expert reviews taught (new FAQ documents, alternate questions by FAQ id). A build that
    would shrink the published one by more than ``settings.max_chunk_drop`` is written but not published
    (``BuildRefusedError``).
    """
    with _build_lock(settings.index_dir), _without_cyclic_gc():
        return _build(settings, **options)


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Python's cycle collector off while a build runs. A build makes hundreds of thousands of objects (rows,
    documents, chunks, term counts) and holds them to the end; the collector walked all of them again and again,
    about a sixth of a rebuild of 50,000 chunks, and found almost nothing (they form no cycles). Reference counting
    still frees everything; the collector runs again afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _build(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    processor: TextProcessor | None = None,
    progress: ProgressCallback | None = None,
    publish: bool = True,
    module_tagger: Callable[[list[str]], list[str]] | None = None,
    fusion_tuner: Callable[[KnowledgeIndex], dict] | None = None,
    learned: tuple[list[Document], dict[str, list[str]]] | None = None,
    hygiene: HygieneInputs | None = None,
) -> BuildReport:
    started = time.perf_counter()
    watch = _Stopwatch()
    # A build whose ranking cannot use vectors computes none, so it loads no embedder (and no torch).
    vectors_wanted = settings.builds_vectors
    if vectors_wanted:
        embedder = (embedder or Embedder(settings.embedder, settings.device, settings.embed_batch_size)).load()
    elif settings.vector_store == "milvus":
        raise BuildRefusedError("a Milvus build stores vectors; ERP_ASSIST_DENSE_VECTORS=never needs "
                                "ERP_ASSIST_VECTOR_STORE=faiss")
    else:
        embedder = None
    processor = processor or TextProcessor.from_settings(settings)
    cache = BuildCache(settings.cache_dir, settings.tenant, processor, settings.title_weight)

    loaded = load_tenant_sources(settings, file_cache=cache.file_documents)
    if progress:
        progress("load", len(loaded.files), len(loaded.files) + len(loaded.skipped))
    watch.lap("load")
    documents = _with_learned(loaded.documents, *learned) if learned else loaded.documents
    hygiene = hygiene or HygieneInputs()
    # Experts' resolutions of hygiene findings: merged entries fold into their keeper, retired sources stay out.
    documents, curated = apply_curation(documents, hygiene.curation)
    chunks = chunk_documents(documents, chunker=lambda document: cache.document_chunks(
        document, settings.chunk_size, settings.chunk_overlap))
    if not chunks:
        raise BuildRefusedError(f"no chunks could be made from {settings.data_dir}; nothing to index")
    untagged = [i for i, c in enumerate(chunks) if not c.module]
    if module_tagger and untagged:
        labels = cache.module_tags([chunks[i].search_text for i in untagged], module_tagger)
        for i, label in zip(untagged, labels):
            chunks[i] = replace(chunks[i], module=label, metadata={**chunks[i].metadata, MODULE_INFERRED: True})
    watch.lap("chunk")

    corpus_hash = hashlib.sha256("".join(sorted(c.id for c in chunks)).encode()).hexdigest()
    now = datetime.now(timezone.utc)
    build_id = f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{corpus_hash[:8]}"
    builds = settings.index_dir / "builds"
    partial = builds / f"{build_id}.partial"
    partial.mkdir(parents=True)

    report_tokenized = (lambda done, total: progress("tokenize", done, total)) if progress else None
    terms = cache.chunk_counts(chunks, report_tokenized)
    watch.lap("tokenize")
    store_block: dict = {"kind": settings.vector_store}
    vectors: np.ndarray | None = None  # the FAISS path's vectors; Milvus keeps its own
    dense: DenseIndex | None = None
    if settings.vector_store == "milvus":
        lexical = LexicalIndex(concept_weight=settings.vocab_concept_weight).fit_matrix(terms, scorer=False)
        tokens = [expand(counts) for counts in terms.document_counts(range(len(chunks)))]
        backend, written = _write_milvus(settings, build_id, chunks, tokens, lexical, embedder, progress)
        reused = len(chunks) - written.embedded
        store_block.update(
            uri=settings.milvus_uri, tenant=settings.tenant, collection=written.collection,
            alias=backend.store.alias(settings.tenant), recycled_from=written.recycled_from,
            upserted=written.inserted, deleted=written.deleted, unchanged=written.unchanged,
            truncated_token_fields=written.truncated,
        )
    else:
        lexical = LexicalIndex(concept_weight=settings.vocab_concept_weight).fit_matrix(terms)
        watch.lap("bm25")
        reused = 0
        if embedder is not None:
            vectors, reused = _embed(chunks, embedder, _cached_vectors(settings, embedder.name), progress)
            dense = DenseIndex(vectors, hnsw_threshold=settings.hnsw_threshold)
        backend = LocalBackend(lexical, dense)
    watch.lap("vectors")

    hygiene_report = _hygiene(documents, chunks, vectors, embedder, settings, processor, hygiene, cache)
    (partial / HYGIENE).write_text(json.dumps(hygiene_report, ensure_ascii=False, indent=1), encoding="utf-8")
    watch.lap("hygiene")
    manifest = {
        "format_version": FORMAT_VERSION,
        "build_id": build_id,
        "built_at": now.isoformat(),
        "code_version": __version__,
        "corpus_hash": corpus_hash,
        "data_dir": str(settings.data_dir),
        "embedder": _embedder_block(embedder, chunks, settings),
        "lexical": {"title_weight": settings.title_weight, "k1": lexical.k1, "b": lexical.b,
                    "word_weight": processor.word_weight, "unigram_weight": processor.unigram_weight,
                    "bigram_weight": processor.bigram_weight,
                    # The ERP vocabulary packs the chunks were read with (saved beside the build as VOCABULARY).
                    "vocabulary": ({"vendors": list(processor.vocabulary.vendors),
                                    "fingerprint": processor.vocabulary.fingerprint, "file": VOCABULARY}
                                   if processor.vocabulary is not None else None)},
        "counts": {
            "chunks": len(chunks),
            "by_source": dict(Counter(c.source_type.value for c in chunks)),
            "by_module": dict(Counter(c.module or "unknown" for c in chunks)),
            "chat_threads_resolved": len(loaded.threads.resolved),
            "chat_threads_unresolved": len(loaded.threads.unresolved),
            "chat_noise_messages": loaded.threads.noise,
            "learned_faq_entries": len(learned[0]) if learned else 0,
            "learned_alternates": sum(map(len, learned[1].values())) if learned else 0,
        },
        "files": {str(p): _sha256(p) for p in loaded.files},
        "skipped": [{"path": s.path, "reason": s.reason} for s in loaded.skipped],
        "vector_store": store_block,
        "curation": curated,
        "hygiene": hygiene_report.get("counts", {"error": hygiene_report.get("error")}),
    }
    beside: dict[str, object] = {}
    if fusion_tuner is not None:
        tuned = dict(fusion_tuner(KnowledgeIndex(partial, manifest, chunks, backend)))
        # What the tuner trained (the abstention model) is kept beside the build as plain JSON files, sealed
        # with the rest; the manifest keeps the choices and their numbers.
        beside = tuned.pop("files", {})
        manifest["fusion"] = tuned
        if progress:
            progress("tune", 1, 1)
        watch.lap("tune")
    for name, content in beside.items():
        if Path(name).name != name or name in (MANIFEST, CHUNKS):
            raise ValueError(f"the fusion tuner asked for a build file named {name!r}; use a plain new file "
                             "name")
        (partial / name).write_text(json.dumps(content, ensure_ascii=False, indent=2), encoding="utf-8")
    if processor.vocabulary is not None:
        processor.vocabulary.save(partial / VOCABULARY)
    # orjson: the chunk file is a large build's biggest (a rebuild of 50,000 chunks writes and reads back 26 MB).
    (partial / CHUNKS).write_bytes(b"".join(orjson.dumps(chunk.to_record()) + b"\n" for chunk in chunks))
    lexical.save(partial)
    if dense is not None:
        dense.save(partial)
    # The manifest is written last: a directory without one is by definition incomplete. It seals the files
    # written above, so the verification below and every later load see exactly these bytes.
    manifest = seal_manifest(partial, manifest)
    (partial / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    if progress:
        progress("write", 1, 1)
    watch.lap("write")

    _verify(partial, embedder, chunks, terms, settings)
    final = builds / build_id
    os.replace(partial, final)
    watch.lap("verify")
    cache.save()
    if publish:
        _check_shrink(settings, build_id, len(chunks))
        publish_build(settings, build_id)
    if progress:
        progress("publish", 1, 1)
    watch.lap("publish")
    return BuildReport(build_id, final, manifest, loaded.skipped, reused, time.perf_counter() - started,
                       reused_tokens=cache.hits["chunks"], cache_hits=dict(cache.hits), stage_seconds=watch.seconds)


def _embedder_block(embedder: Embedder | None, chunks: list[Chunk], settings: Settings) -> dict:
    if embedder is None:
        why = ("vectors are switched off" if settings.dense_vectors == "never" else
               "this build's ranking gives vectors no weight (dense_weight unset or 0, no validation_set to choose "
               "one)")
        return {"name": None, "dimension": 0,
                "reason": f"ERP_ASSIST_DENSE_VECTORS={settings.dense_vectors}: {why}, so none were computed"}
    sample = [c.search_text for c in chunks[:500]]
    return {"name": embedder.name, "dimension": embedder.dimension,
            "unknown_token_rate": round(embedder.unknown_token_rate(sample), 4)}


def _hygiene(documents: list[Document], chunks: list[Chunk], vectors: np.ndarray | None, embedder: Embedder | None,
             settings: Settings, processor: TextProcessor, inputs: HygieneInputs, cache: BuildCache) -> dict:
    """The hygiene report of what this build serves, as JSON; a bad hygiene.yaml is reported, not fatal (the
    build must not stop over its report). Its pairwise scores come from ``cache`` when no Q&A entry changed."""
    qa = [d for d in documents if d.source_type in (SourceType.FAQ, SourceType.CHAT)]
    if len(qa) > settings.hygiene_build_max_entries:
        # Pairwise similarity grows with the square of the entries: a large KB is checked apart from its builds.
        return {"error": f"not run in the build: {len(qa)} Q&A entries > ERP_ASSIST_HYGIENE_BUILD_MAX_ENTRIES "
                         f"({settings.hygiene_build_max_entries}); run `erp-assist kb check`"}
    entry_vectors = None
    if vectors is not None and len(vectors):
        row = {c.uri: i for i, c in enumerate(chunks)}
        if all(d.uri in row for d in qa):
            entry_vectors = vectors[[row[d.uri] for d in qa]] if qa else None
            if entry_vectors is not None:
                entry_vectors = entry_vectors / np.maximum(np.linalg.norm(entry_vectors, axis=1, keepdims=True),
                                                           1e-12)
    vectors_by = embedder.name if entry_vectors is not None and embedder is not None else None
    pairs = cache.pairs(scored_pairs_key(qa, settings, vectors_by), lambda: scored_pairs(
        qa, settings, processor, entry_vectors=entry_vectors, tokenize=cache.text_tokens))
    try:
        report = check_knowledge_base(documents, settings, processor, usage=inputs.usage,
                                      usage_since=inputs.usage_since, entry_vectors=entry_vectors,
                                      curation=inputs.curation, pairs=pairs)
    except ValueError as exc:
        return {"error": str(exc)}
    return report.to_dict()


def _verify(path: Path, embedder: Embedder | None, chunks: list[Chunk], terms: TermMatrix,
            settings: Settings) -> None:
    """Load the new build back (row counts must match the manifest) and probe it: for every module, the first
    chunk's own terms must find that chunk in BM25's top 10 and its vector (if any) must have a nearest
    neighbour."""
    # The chunks and the checksums are this build's own, from a moment ago: reading and hashing them again would
    # tell nothing new and cost a large build a pass over every byte.
    index = load_index(path, expected_dimension=embedder.dimension if embedder else None, settings=settings,
                       just_written=chunks)
    backend = index.backend
    probes: dict[str, int] = {}
    for row, chunk in enumerate(chunks):
        probes.setdefault(chunk.module or "unknown", row)
    probe_terms = dict(zip(probes.values(), terms.document_counts(list(probes.values()))))
    for module, row in sorted(probes.items()):
        top = [r for r, _ in backend.lexical_top(list(probe_terms[row]), 10)]
        if row not in top:
            raise BuildRefusedError(f"verification failed: the {module} probe ({chunks[row].uri}) did not find itself")
        if index.has_vectors and not backend.dense_top(backend.vectors([row])[0], 1):
            raise BuildRefusedError(f"verification failed: the {module} probe's vector has no nearest neighbour")


def _write_milvus(settings: Settings, build_id: str, chunks: list[Chunk], tokens: list[list[str]],
                  lexical: LexicalIndex, embedder: Embedder, progress: ProgressCallback | None):  # noqa: ANN202
    """Write the build's collection (taking over the oldest spare one when there is one) and open it."""
    from indexer.milvus import MilvusBackend, MilvusStore, drop_orphans, recyclable

    store = MilvusStore(settings)
    tenant = settings.tenant
    finished = finished_builds(settings.index_dir)
    drop_orphans(store, tenant, finished)
    current = _current_manifest(settings.index_dir)
    protected: set[str] = set()
    if current:  # the live build and the one a rollback would return to
        protected.add(current["build_id"])
        protected.update([b for b in finished if b < current["build_id"]][-1:])
    name = store.collection(tenant, build_id)
    spare = recyclable(store, tenant, settings.keep_builds, finished, protected)
    spare_manifest = _read_manifest(settings.index_dir / "builds" / spare) if spare else None
    if spare and spare_manifest and spare_manifest["embedder"]["name"] == embedder.name:
        # Its build would be pruned at publish; the directory goes first so no manifest names a moved collection.
        shutil.rmtree(settings.index_dir / "builds" / spare, ignore_errors=True)
        store.rename(store.collection(tenant, spare), name)
    else:
        spare = None
        store.create(name, embedder.dimension, k1=lexical.k1, b=lexical.b,
                     hnsw=len(chunks) >= settings.hnsw_threshold)

    live = store.collection(tenant, current["build_id"]) if current else None
    same_embedder = bool(current) and current["embedder"]["name"] == embedder.name
    embedded = 0

    def vectors(rows: list[int]) -> np.ndarray:
        nonlocal embedded
        found = store.vectors_by_id(live, [chunks[i].id for i in rows]) if live and same_embedder else {}
        missing = [i for i in rows if chunks[i].id not in found]
        if missing:
            for i, vector in zip(missing, embedder.encode([chunks[i].search_text for i in missing])):
                found[chunks[i].id] = vector
            embedded += len(missing)
        return np.vstack([found[chunks[i].id] for i in rows]).astype(np.float32)

    written = store.write(name, chunks, tokens, vectors, progress=progress)
    written.recycled_from = spare
    written.embedded = embedded
    return MilvusBackend(store, name, chunks, lexical, embedder.dimension), written


def _read_manifest(build: Path) -> dict | None:
    try:
        manifest = json.loads((build / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _check_shrink(settings: Settings, build_id: str, count: int) -> None:
    current = _current_manifest(settings.index_dir)
    if current is None:
        return
    before = int(current["counts"]["chunks"])
    if before and count < (1 - settings.max_chunk_drop) * before:
        raise BuildRefusedError(
            f"build {build_id} has {count} chunks, {1 - count / before:.0%} fewer than the published "
            f"{current['build_id']} ({before}); more than ERP_ASSIST_MAX_CHUNK_DROP={settings.max_chunk_drop:.0%} "
            f"would be lost, so it was not published. If intended: erp-assist index publish {build_id}"
        )


def finished_builds(index_dir: Path) -> list[str]:
    """Build ids with a manifest, oldest first."""
    builds = index_dir / "builds"
    if not builds.is_dir():
        return []
    return sorted(p.name for p in builds.iterdir() if p.is_dir() and (p / MANIFEST).is_file())


def rollback(settings: Settings) -> str:
    """Publish the build before the current one; returns its id."""
    current = current_build_dir(settings.index_dir).name
    earlier = [b for b in finished_builds(settings.index_dir) if b < current]
    if not earlier:
        raise IndexNotFoundError(f"no build older than {current} is kept in {settings.index_dir / 'builds'}")
    publish_build(settings, earlier[-1], keep=len(finished_builds(settings.index_dir)))
    return earlier[-1]


def publish_build(settings: Settings, build_id: str, keep: int | None = None) -> None:
    """Point ``current`` (and, for a Milvus build, the tenant's alias) at a finished build, then prune old
    builds beyond ``keep`` (default ``settings.keep_builds``) with their collections."""
    index_dir = settings.index_dir
    builds = index_dir / "builds"
    manifest = _read_manifest(builds / build_id)
    if manifest is None:
        raise IndexCorruptError(f"cannot publish {build_id!r}: no finished build of that name in {builds}")
    store = vector_store(manifest)
    if store["kind"] == "milvus":
        from indexer.milvus import MilvusStore

        MilvusStore(settings).point_alias(store["tenant"], store["collection"])
    tmp = index_dir / f".{CURRENT}.{os.getpid()}.tmp"
    tmp.write_text(build_id + "\n", encoding="utf-8")
    os.replace(tmp, index_dir / CURRENT)
    for old in finished_builds(index_dir)[: -(keep or settings.keep_builds)]:
        if old != build_id:
            _remove_build(settings, builds / old)


def _remove_build(settings: Settings, build: Path) -> None:
    manifest = _read_manifest(build)
    shutil.rmtree(build, ignore_errors=True)
    store = vector_store(manifest or {})
    if store["kind"] == "milvus":
        from indexer.milvus import MilvusStore

        MilvusStore(settings).drop(store["collection"])
