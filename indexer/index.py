"""A published index build: chunks, BM25, FAISS and the manifest that describes them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from erp_assist.domain import Chunk
from indexer.dense import DenseIndex
from indexer.errors import IndexCorruptError, IndexNotFoundError
from indexer.lexical import LexicalIndex

__all__ = ["KnowledgeIndex", "load_index", "current_build_dir", "MANIFEST", "FORMAT_VERSION"]

MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
CURRENT = "current"
FORMAT_VERSION = 1


@dataclass
class KnowledgeIndex:
    path: Path
    manifest: dict[str, Any]
    chunks: list[Chunk]
    lexical: LexicalIndex
    dense: DenseIndex

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


def load_index(path: Path, expected_dimension: int | None = None) -> KnowledgeIndex:
    """Read a build directory back, refusing one whose files disagree with its manifest."""
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
        lexical = LexicalIndex.load(path)
        dense = DenseIndex.load(path)
    except IndexCorruptError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise IndexCorruptError(f"{path}: cannot read index files ({exc})") from exc
    expected = manifest["counts"]["chunks"]
    if not (len(chunks) == expected == lexical.n_docs == len(dense)):
        raise IndexCorruptError(
            f"{path}: manifest says {expected} chunks but found {len(chunks)} chunks, "
            f"{lexical.n_docs} BM25 rows and {len(dense)} vectors"
        )
    if dense.dimension != manifest["embedder"]["dimension"]:
        raise IndexCorruptError(f"{path}: vectors have dimension {dense.dimension}, manifest says otherwise")
    if expected_dimension is not None and expected_dimension != dense.dimension:
        raise IndexCorruptError(
            f"{path}: built with {manifest['embedder']['name']} (dimension {dense.dimension}), but the configured "
            f"embedder has dimension {expected_dimension}; rebuild the index or set ERP_ASSIST_EMBEDDER back"
        )
    return KnowledgeIndex(path=path, manifest=manifest, chunks=chunks, lexical=lexical, dense=dense)
