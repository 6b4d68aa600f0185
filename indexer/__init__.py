"""Knowledge-base indexing: load sources, chunk, tokenize, embed, build and publish; search the result."""

from __future__ import annotations

import importlib
from typing import Any

# Names load their module on first use (PEP 562), so importing one submodule does not import them all:
# serving needs neither the build pipeline (LangChain's splitters) nor the training code.
_HOMES = {
    "BuildReport": "indexer.build",
    "Embedder": "indexer.embedding",
    "FusionConfig": "indexer.retrieval",
    "KnowledgeIndex": "indexer.index",
    "Retriever": "indexer.retrieval",
    "TextProcessor": "indexer.text",
    "build_index": "indexer.build",
    "chunk_document": "indexer.chunking",
    "chunk_documents": "indexer.chunking",
    "current_build_dir": "indexer.index",
    "load_index": "indexer.index",
    "load_sources": "indexer.loaders",
    "normalize": "indexer.text",
    "publish_build": "indexer.build",
}

__all__ = [
    "BuildReport",
    "Embedder",
    "FusionConfig",
    "KnowledgeIndex",
    "Retriever",
    "TextProcessor",
    "build_index",
    "chunk_document",
    "chunk_documents",
    "current_build_dir",
    "load_index",
    "load_sources",
    "normalize",
    "publish_build",
]


def __getattr__(name: str) -> Any:  # noqa: ANN401
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
