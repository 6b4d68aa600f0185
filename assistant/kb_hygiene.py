"""A tenant's knowledge-base hygiene, for the CLI (``erp-assist kb check``) and the review page (/ui/kb): the
check of ``indexer.hygiene`` over its sources and learned entries, fed by its store (usage, resolutions) and its
published build's vectors; and the report the last build wrote beside its index."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sqlalchemy import Engine

from assistant.store import StoredQuestion

from erp_assist.domain import Chunk, Decision, Document, SourceType
from erp_assist.errors import ErpAssistError
from erp_assist.settings import Settings
from indexer.hygiene import (
    HygieneInputs,
    HygieneReport,
    apply_curation,
    check_knowledge_base,
    curation_from,
    duplicate_of,
)
from indexer.text import TextProcessor

__all__ = ["check_tenant", "faq_documents", "hygiene_inputs", "learned_merge_target", "published_report"]


def _published_vectors(settings: Settings) -> dict[str, np.ndarray]:
    """Unit vectors of the published FAISS build by chunk uri ({} when there is none)."""
    from indexer.build import _current_manifest
    from indexer.index import CHUNKS, vector_store

    manifest = _current_manifest(settings.index_dir)
    if not manifest or vector_store(manifest)["kind"] != "faiss":
        return {}
    build = settings.index_dir / "builds" / manifest["build_id"]
    try:
        uris = [Chunk.from_record(json.loads(line)).uri for line in (build / CHUNKS).open(encoding="utf-8")
                if line.strip()]
        vectors = np.load(build / "embeddings.npy")
    except (OSError, ValueError, KeyError):
        return {}
    if len(uris) != len(vectors):
        return {}
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return dict(zip(uris, vectors))


def hygiene_inputs(store: Engine, tenant: str) -> HygieneInputs:
    """What the tenant's store tells the hygiene check: experts' resolutions, and per-source usage since its
    oldest question."""
    from assistant.store import list_resolutions, source_usage

    usage, since = source_usage(store, tenant=tenant)
    return HygieneInputs(curation_from(list_resolutions(store, tenant=tenant)), usage, since)


def check_tenant(settings: Settings, store: Engine, *, processor: TextProcessor | None = None) -> HygieneReport:
    """The hygiene report of ``settings.tenant`` now: its sources plus learned entries, resolutions applied as
    the next build will apply them, usage from its store, dense similarity from the published build's vectors
    (when every entry has one)."""
    from assistant.store import learned_documents
    from indexer.build import _with_learned
    from indexer.loaders import load_tenant_sources

    processor = processor or TextProcessor.from_settings(settings)
    loaded = load_tenant_sources(settings)
    documents = _with_learned(loaded.documents, *learned_documents(store, tenant=settings.tenant))
    inputs = hygiene_inputs(store, settings.tenant)
    documents, _ = apply_curation(documents, inputs.curation)
    qa = [d for d in documents if d.source_type in (SourceType.FAQ, SourceType.CHAT)]
    vectors = _published_vectors(settings)
    entry_vectors = np.vstack([vectors[d.uri] for d in qa]) if qa and all(d.uri in vectors for d in qa) else None
    return check_knowledge_base(documents, settings, processor, usage=inputs.usage, usage_since=inputs.usage_since,
                                entry_vectors=entry_vectors, curation=inputs.curation)


def published_report(index_path: Path) -> HygieneReport:
    """The hygiene report the build at ``index_path`` wrote (``hygiene.json``); ``ErpAssistError`` when it has
    none (a build from before the check, or one whose hygiene.yaml was unreadable)."""
    from indexer.build import HYGIENE

    path = index_path / HYGIENE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ErpAssistError(f"build {index_path.name} has no readable {HYGIENE}; rebuild with `erp-assist index`") \
            from exc
    if "error" in data:
        raise ErpAssistError(f"build {index_path.name} could not check the knowledge base: {data['error']}")
    return HygieneReport.from_dict(data)


LEARN_AUTO, LEARN_NEW, LEARN_ALTERNATE = "auto", "new", "alternate:"


def faq_documents(chunks: list[Chunk]) -> list[Document]:
    """The FAQ entries (sources' and learned) of a build, as documents (a FAQ entry is one chunk)."""
    return [Document(SourceType.FAQ, c.source_id, c.title, c.text, module=c.module,
                     metadata={"alternates": c.metadata.get("alternates", [])})
            for c in chunks if c.source_type is SourceType.FAQ]


def learned_merge_target(question: StoredQuestion, *, decision: Decision, suggestion_rank: int | None,
                         edited_answer: str | None, learn_as: str, chunks: list[Chunk], processor: TextProcessor,
                         settings: Settings) -> str | None:
    """The FAQ id an approved answer should become an alternate of, instead of a new entry; None: a new entry
    (or nothing learned). ``learn_as``: the expert's choice on the review form — ``new``, ``alternate:<faq id>``
    (validated against the build), or ``auto``: merged when the question duplicates an entry and the answers
    agree (``indexer.hygiene.duplicate_of``), otherwise a new entry. ``ValueError`` for an unknown entry."""
    if decision is Decision.REJECT or learn_as == LEARN_NEW:
        return None
    draft = next((s for s in question.suggestions if s.rank == suggestion_rank), None)
    if decision is Decision.ACCEPT and draft is not None and draft.source_type == SourceType.FAQ.value:
        return None  # already an alternate of the accepted entry
    faq = faq_documents(chunks)
    if learn_as.startswith(LEARN_ALTERNATE):
        faq_id = learn_as.removeprefix(LEARN_ALTERNATE)
        if not any(d.source_id == faq_id for d in faq):
            raise ValueError(f"no FAQ entry {faq_id!r} in the published knowledge base to merge into")
        return faq_id
    if learn_as != LEARN_AUTO:
        raise ValueError(f"learn_as {learn_as!r}: use auto, new or alternate:<faq id>")
    if not settings.hygiene_learned_merge:
        return None
    answer = edited_answer if decision is Decision.EDIT else draft.draft if draft is not None else None
    match = duplicate_of(question.text, answer, faq, processor, settings)
    return match.faq_id if match is not None and match.sure else None
