"""Knowledge-base indexing: load sources, chunk, tokenize, embed, build and publish; search the result."""

from indexer.build import BuildReport, build_index, publish_build
from indexer.chunking import chunk_document, chunk_documents
from indexer.embedding import Embedder
from indexer.index import KnowledgeIndex, current_build_dir, load_index
from indexer.loaders import load_sources
from indexer.retrieval import FusionConfig, Retriever
from indexer.text import TextProcessor, normalize

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
