"""The retrieval systems compared side by side, each a name and a function question → ranked source ids.

Ours: BM25 (words + chars, the default), BM25 words-only, BM25 chars-only, dense-only, and the hybrid the
assistant serves. The peer: LangChain's EnsembleRetriever (BM25Retriever + FAISS vectorstore, default
weights) built on the same chunks with the same embedder — what most teams would set up instead.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from erp_assist.domain import Chunk, Hit
from erp_assist.settings import Settings
from indexer.backends import LocalBackend
from indexer.build import index_chunks, lexical_tokens
from indexer.embedding import Embedder, transformers_installed
from indexer.index import KnowledgeIndex
from indexer.lexical import LexicalIndex
from indexer.retrieval import FusionConfig, Retriever
from indexer.text import TextProcessor

__all__ = ["RetrievalSystem", "ranked_sources", "in_memory_index", "with_vectors", "our_systems", "langchain_system",
           "peers_installed"]

RANK_DEPTH = 10


@dataclass(frozen=True)
class RetrievalSystem:
    name: str
    search: Callable[[str], list[str]]


def ranked_sources(hits: list[Hit] | list[Chunk], depth: int = RANK_DEPTH) -> list[str]:
    """Unique source links (anchor dropped) in rank order: gold labels name sources, not chunks."""
    ranked: list[str] = []
    for item in hits:
        chunk = item.chunk if isinstance(item, Hit) else item
        uri = chunk.uri.split("#")[0]
        if uri not in ranked:
            ranked.append(uri)
        if len(ranked) == depth:
            break
    return ranked


def in_memory_index(chunks: list[Chunk], embedder: Embedder | None, processor: TextProcessor, settings: Settings,
                    progress: Callable[[str, int, int], None] | None = None,
                    cache_path: Path | None = None) -> KnowledgeIndex:
    """An index over arbitrary chunks (a public benchmark corpus) without publishing anything; BM25 only when
    ``embedder`` is None.

    Vectors are cached in ``cache_path`` (an ``.npz`` of chunk ids and vectors) so repeated runs skip encoding."""
    cache: dict[str, np.ndarray] = {}
    if embedder is not None and cache_path is not None and cache_path.is_file():
        stored = np.load(cache_path)
        cache = dict(zip(stored["ids"].tolist(), stored["vectors"]))
    lexical, dense, _ = index_chunks(chunks, embedder, processor, settings, cache=cache, progress=progress)
    if dense is not None and cache_path is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache_path, ids=np.array([c.id for c in chunks]), vectors=dense.vectors)
    embedded = {"name": embedder.name, "dimension": dense.dimension} if embedder and dense else {"name": None,
                                                                                              "dimension": 0}
    manifest = {"build_id": "in-memory", "embedder": embedded}
    return KnowledgeIndex(Path("<memory>"), manifest, chunks, LocalBackend(lexical, dense))


def with_vectors(index: KnowledgeIndex, embedder: Embedder, processor: TextProcessor, settings: Settings,
                 progress: Callable[[str, int, int], None] | None = None) -> KnowledgeIndex | None:
    """``index`` when it holds vectors; else its chunks embedded in memory (cached by corpus) so the dense and
    peer systems can still be compared; ``None`` when no transformer embedder is installed."""
    if index.has_vectors:
        return index
    if not transformers_installed():
        return None
    slug = embedder.name.replace("/", "_")
    corpus = hashlib.sha256("\n".join(c.id for c in index.chunks).encode()).hexdigest()[:16]
    cache = settings.cache_dir / "embeddings" / f"build-{slug}-{corpus}.npz"
    return in_memory_index(index.chunks, embedder, processor, settings, progress, cache)


def _lexical_variant(index: KnowledgeIndex, processor: TextProcessor, settings: Settings) -> RetrievalSystem:
    """BM25 over one granularity only (words or chars), on the same chunks."""
    lexical = LexicalIndex().fit([lexical_tokens(c, processor, settings.title_weight) for c in index.chunks])
    retriever = Retriever(replace(index, backend=LocalBackend(lexical, None)), processor, None)
    name = "bm25-chars" if not processor.word_weight else "bm25-words"
    return RetrievalSystem(name, lambda q: ranked_sources(retriever.lexical(q, settings.candidate_k)))


def our_systems(index: KnowledgeIndex, processor: TextProcessor, embedder: Embedder | None, settings: Settings,
                hybrid: Callable[[str], list[Hit]] | None = None,
                vectors: KnowledgeIndex | None = None) -> list[RetrievalSystem]:
    """BM25 (default tokens), BM25 words-only and chars-only, dense-only (when ``vectors``, an index of the same
    chunks with vectors, or ``index`` itself has them), and the hybrid.

    ``hybrid`` is the served path when the caller has one (``Assistant.rank``: classifier-guided module bonus);
    otherwise plain fusion as configured."""
    retriever = Retriever(index, processor, embedder)
    depth = settings.candidate_k
    config = FusionConfig.from_settings(settings, index.manifest)
    hybrid = hybrid or (lambda q: retriever.hybrid(q, depth, config))
    words = TextProcessor.from_settings(settings, unigram_weight=0, bigram_weight=0)
    chars = TextProcessor.from_settings(settings, word_weight=0)
    systems = [
        RetrievalSystem("bm25", lambda q: ranked_sources(retriever.lexical(q, depth))),
        _lexical_variant(index, words, settings),
        _lexical_variant(index, chars, settings),
    ]
    vectors = vectors or (index if index.has_vectors else None)
    if vectors is not None and embedder is not None:
        dense = Retriever(vectors, processor, embedder)
        systems.append(RetrievalSystem("dense", lambda q: ranked_sources(dense.dense(q, depth))))
    systems.append(RetrievalSystem("hybrid", lambda q: ranked_sources(hybrid(q))))
    return systems


def peers_installed() -> bool:
    """Whether LangChain's retrievers (the ``peers`` extra) are here to be compared against."""
    return importlib.util.find_spec("langchain_community") is not None


def langchain_system(index: KnowledgeIndex, embedder: Embedder, k: int = 20) -> RetrievalSystem:
    """LangChain's EnsembleRetriever (BM25Retriever with jieba.lcut + FAISS, default 0.5/0.5 weights)."""
    import jieba
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_community.retrievers import BM25Retriever
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document as LCDocument
    from langchain_core.embeddings import Embeddings

    class _Embeddings(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return embedder.encode(texts).tolist()

        def embed_query(self, text: str) -> list[float]:
            return embedder.encode([text])[0].tolist()

    jieba.setLogLevel(60)
    docs = [LCDocument(page_content=c.search_text, metadata={"row": i}) for i, c in enumerate(index.chunks)]
    bm25 = BM25Retriever.from_documents(docs, preprocess_func=jieba.lcut, k=k)
    vectors = np.asarray(index.backend.vectors(list(range(len(index.chunks)))))
    store = FAISS.from_embeddings(
        [(d.page_content, v.tolist()) for d, v in zip(docs, vectors)], _Embeddings(), metadatas=[d.metadata for d in docs]
    )
    ensemble = EnsembleRetriever(retrievers=[bm25, store.as_retriever(search_kwargs={"k": k})])
    chunks = index.chunks

    def search(question: str) -> list[str]:
        return ranked_sources([chunks[d.metadata["row"]] for d in ensemble.invoke(question)])

    return RetrievalSystem("langchain-ensemble", search)
