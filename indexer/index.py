"""A published index build: chunks, the search backend over them, and the manifest that describes both.

The build directory always holds the manifest, ``chunks.jsonl`` and the BM25 statistics; the searchable part
lives beside them (FAISS + bm25s files) or in a Milvus collection the manifest names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from erp_assist.domain import Chunk
from erp_assist.settings import Settings
from indexer.backends import LocalBackend, SearchBackend
from indexer.dense import DenseIndex
from indexer.errors import IndexCorruptError, IndexNotFoundError
from indexer.lexical import LexicalIndex

__all__ = ["KnowledgeIndex", "load_index", "current_build_dir", "vector_store", "MANIFEST", "FORMAT_VERSION"]

MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
CURRENT = "current"
FORMAT_VERSION = 1


@dataclass
class KnowledgeIndex:
    path: Path
    manifest: dict[str, Any]
    chunks: list[Chunk]
    backend: SearchBackend

    @property
    def build_id(self) -> str:
        return str(self.manifest["build_id"])

    def chunk_by_uri(self, uri: str) -> list[Chunk]:
        return [c for c in self.chunks if c.uri == uri or c.uri.startswith(uri + "#")]


def current_build_dir(index_dir: Path) -> Path:
    """The build the ``current`` pointer names; raises ``IndexNotFoundError`` when nothing is published."""
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        raise IndexNotFoundError(f"no published index under {index_dir}; run `erp-assist index` first")
    name = pointer.read_text(encoding="utf-8").strip()
    build = index_dir / "builds" / name
    if not build.is_dir():
        raise IndexCorruptError(f"{pointer} points to {name!r}, which does not exist under {index_dir / 'builds'}")
    return build


def vector_store(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest's backend block: ``{"kind": "faiss"}`` or ``{"kind": "milvus", "collection": …, …}``."""
    return manifest.get("vector_store") or {"kind": "faiss"}


def load_index(path: Path, expected_dimension: int | None = None, settings: Settings | None = None) -> KnowledgeIndex:
    """Read a build directory back, refusing one whose files disagree with its manifest. A Milvus build needs
    ``settings`` (the connection)."""
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise IndexCorruptError(f"{path} has no {MANIFEST}; the build is incomplete")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexCorruptError(
                f"{path}: index format {manifest.get('format_version')} is not {FORMAT_VERSION}; rebuild it"
            )
        with (path / CHUNKS).open(encoding="utf-8") as handle:
            chunks = [Chunk.from_record(json.loads(line)) for line in handle if line.strip()]
        store = vector_store(manifest)
        if store["kind"] == "milvus":
            backend, rows = _milvus_backend(path, manifest, chunks, settings)
        else:
            lexical = LexicalIndex.load(path)
            backend = LocalBackend(lexical, DenseIndex.load(path))
            if lexical.n_docs != len(backend):
                raise IndexCorruptError(f"{path}: {lexical.n_docs} BM25 rows but {len(backend)} vectors")
            rows = len(backend)
    except IndexCorruptError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise IndexCorruptError(f"{path}: cannot read index files ({exc})") from exc
    expected = manifest["counts"]["chunks"]
    if not (len(chunks) == expected == rows):
        raise IndexCorruptError(
            f"{path}: manifest says {expected} chunks but found {len(chunks)} chunks and {rows} searchable rows"
        )
    if backend.dimension != manifest["embedder"]["dimension"]:
        raise IndexCorruptError(f"{path}: vectors have dimension {backend.dimension}, manifest says otherwise")
    if expected_dimension is not None and expected_dimension != backend.dimension:
        raise IndexCorruptError(
            f"{path}: built with {manifest['embedder']['name']} (dimension {backend.dimension}), but the configured "
            f"embedder has dimension {expected_dimension}; rebuild the index or set ERP_ASSIST_EMBEDDER back"
        )
    return KnowledgeIndex(path=path, manifest=manifest, chunks=chunks, backend=backend)


def _milvus_backend(path: Path, manifest: dict[str, Any], chunks: list[Chunk],
                    settings: Settings | None) -> tuple[SearchBackend, int]:
    from indexer.milvus import MilvusBackend, MilvusStore

    if settings is None:
        raise IndexCorruptError(f"{path} is a Milvus build; loading it needs the Milvus connection settings")
    block = vector_store(manifest)
    store = MilvusStore(settings)
    if not store.client.has_collection(block["collection"]):
        raise IndexCorruptError(f"{path}: its Milvus collection {block['collection']} does not exist at "
                                f"{settings.milvus_uri}")
    backend = MilvusBackend(store, block["collection"], chunks, LexicalIndex.load(path, scorer=False),
                            int(manifest["embedder"]["dimension"]))
    return backend, store.count(block["collection"])
