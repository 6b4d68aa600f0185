"""A published index build: chunks, the search backend over them, and the manifest that describes both.

The build directory always holds the manifest, ``chunks.jsonl`` and the BM25 statistics; the searchable part
lives beside them (FAISS + bm25s files) or in a Milvus collection the manifest names. The manifest records the
size and sha256 of every other file of the build (``build_files``) and a checksum of its own content
(``manifest_sha256``), so a build changed on disk after it was verified is refused instead of served.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from erp_assist.domain import Chunk
from erp_assist.settings import Settings
from indexer.backends import LocalBackend, SearchBackend
from indexer.dense import DenseIndex
from indexer.errors import IndexCorruptError, IndexNotFoundError
from indexer.lexical import LexicalIndex

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST",
    "KnowledgeIndex",
    "build_file_checksums",
    "check_embedder_dimension",
    "current_build_dir",
    "has_vectors",
    "load_index",
    "seal_manifest",
    "vector_store",
    "verify_build_files",
]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
CURRENT = "current"
FORMAT_VERSION = 1
BUILD_FILES = "build_files"
MANIFEST_SHA256 = "manifest_sha256"
_BLOCK = 1 << 20
_FIX = "rebuild with `erp-assist index` or roll back with `erp-assist index rollback`"
_unsealed_warned: set[str] = set()  # builds already reported as unverifiable, so the log says it once


@dataclass
class KnowledgeIndex:
    path: Path
    manifest: dict[str, Any]
    chunks: list[Chunk]
    backend: SearchBackend

    @property
    def build_id(self) -> str:
        return str(self.manifest["build_id"])

    @property
    def has_vectors(self) -> bool:
        """Whether the build holds chunk vectors (a BM25-only build has none and needs no embedder)."""
        return has_vectors(self.manifest)

    def chunk_by_uri(self, uri: str) -> list[Chunk]:
        """All chunks of a source link; an entry an expert merged into another (knowledge-base hygiene) answers
        with its keeper's chunks, so old links keep working."""
        found = [c for c in self.chunks if c.uri == uri or c.uri.startswith(uri + "#")]
        return found or [c for c in self.chunks if uri in c.metadata.get("merged_from", ())]


def current_build_dir(index_dir: Path) -> Path:
    """The build the ``current`` pointer names; raises ``IndexNotFoundError`` when nothing is published."""
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        raise IndexNotFoundError(f"no published index under {index_dir}; run `erp-assist index` first")
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"the current index pointer is unreadable ({type(exc).__name__}); {_FIX}") from exc
    build = index_dir / "builds" / name
    if not name or Path(name).name != name or not build.is_dir():
        # Shown to API callers (503), so it names the build, not the server's directories.
        raise IndexCorruptError(f"the current index pointer names build {name!r}, which does not exist; {_FIX}")
    return build


def vector_store(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest's backend block: ``{"kind": "faiss"}`` or ``{"kind": "milvus", "collection": …, …}``."""
    return manifest.get("vector_store") or {"kind": "faiss"}


def has_vectors(manifest: dict[str, Any]) -> bool:
    """A build made with ``ERP_ASSIST_DENSE_VECTORS`` resolving to no vectors records no embedder."""
    return bool((manifest.get("embedder") or {}).get("name"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _files_of(build: Path) -> list[str]:
    return sorted(p.relative_to(build).as_posix() for p in build.rglob("*") if p.is_file() and p != build / MANIFEST)


def build_file_checksums(build: Path) -> dict[str, dict[str, Any]]:
    """Size and sha256 of every file of a build directory but its manifest, by path relative to the build."""
    return {name: {"bytes": (build / name).stat().st_size, "sha256": _sha256(build / name)}
            for name in _files_of(build)}


def _manifest_digest(manifest: dict[str, Any]) -> str:
    content = {k: v for k, v in manifest.items() if k != MANIFEST_SHA256}
    return hashlib.sha256(json.dumps(content, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def seal_manifest(build: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with the checksums of the build's files (all written by now) and of its own content."""
    sealed = {k: v for k, v in manifest.items() if k != MANIFEST_SHA256}
    sealed[BUILD_FILES] = build_file_checksums(build)
    sealed[MANIFEST_SHA256] = _manifest_digest(sealed)
    return sealed


def _redacted(exc: BaseException, path: Path) -> str:
    """An exception as text, with the server's directories cut down to the build's name."""
    return f"{type(exc).__name__}: {str(exc).replace(str(path), path.name)}"


def _read_manifest(path: Path) -> dict[str, Any]:
    name = path.name
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise IndexCorruptError(f"build {name} has no {MANIFEST}; the build is incomplete")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"build {name}: {MANIFEST} is unreadable ({_redacted(exc, path)}); {_FIX}") from exc
    if not isinstance(manifest, dict):
        raise IndexCorruptError(f"build {name}: {MANIFEST} is not a JSON object; {_FIX}")
    # Checked before any value is trusted: a flipped digit in a count or a weight still parses as JSON. Both keys
    # or neither (a build from before checksums), so a flip in one key's name cannot turn the checks off.
    sealed = MANIFEST_SHA256 in manifest or BUILD_FILES in manifest
    if sealed and manifest.get(MANIFEST_SHA256) != _manifest_digest(manifest):
        raise IndexCorruptError(f"build {name}: {MANIFEST} does not match its own checksum "
                                f"(corrupt or changed after the build); {_FIX}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexCorruptError(
            f"build {name}: index format {manifest.get('format_version')} is not {FORMAT_VERSION}; rebuild it"
        )
    return manifest


def verify_build_files(path: Path, manifest: dict[str, Any], names: Iterable[str] | None = None) -> None:
    """Refuse a build whose files differ from what its manifest recorded at build time: a listed file missing,
    of another size or checksum, or a file the manifest does not list. ``names`` checks only those files.

    Builds made before the manifest recorded checksums cannot be checked; they pass, with a warning once."""
    name = path.name
    recorded = manifest.get(BUILD_FILES)
    if recorded is None:
        if str(path) not in _unsealed_warned:
            _unsealed_warned.add(str(path))
            log.warning("build %s predates file checksums in its manifest; its files cannot be verified "
                        "(rebuild it to get them)", name)
        return
    if not isinstance(recorded, dict) or not all(isinstance(v, dict) for v in recorded.values()):
        raise IndexCorruptError(f"build {name}: {MANIFEST} has a malformed {BUILD_FILES} block; {_FIX}")
    try:
        present = set(_files_of(path))
    except OSError as exc:
        raise IndexCorruptError(f"build {name}: its files cannot be listed ({_redacted(exc, path)}); {_FIX}") from exc
    wanted = sorted(recorded) if names is None else list(names)
    if names is None:
        # A build is immutable once verified; an extra file could still be read (bm25s looks for optional ones).
        extras = sorted(present - set(recorded))
        if extras:
            raise IndexCorruptError(f"build {name}: {extras[0]} is not listed in {MANIFEST} (added after the "
                                    f"build); {_FIX}")
    for file in wanted:
        entry = recorded.get(file)
        if entry is None:
            raise IndexCorruptError(f"build {name}: {MANIFEST} records no checksum for {file}; {_FIX}")
        if file not in present:
            raise IndexCorruptError(f"build {name}: {file} is missing (listed in {MANIFEST}); {_FIX}")
        try:
            size = (path / file).stat().st_size
            digest = _sha256(path / file) if size == entry.get("bytes") else None
        except OSError as exc:
            raise IndexCorruptError(f"build {name}: {file} is unreadable ({_redacted(exc, path)}); {_FIX}") from exc
        if size != entry.get("bytes"):
            raise IndexCorruptError(f"build {name}: {file} has {size} bytes but the manifest says {entry.get('bytes')} "
                                    f"(corrupt or changed after the build); {_FIX}")
        if digest != entry.get("sha256"):
            raise IndexCorruptError(f"build {name}: {file} does not match its checksum in {MANIFEST} "
                                    f"(corrupt or changed after the build); {_FIX}")


def load_index(path: Path, expected_dimension: int | None = None, settings: Settings | None = None, *,
               just_written: list[Chunk] | None = None) -> KnowledgeIndex:
    """Read a build directory back, refusing one whose files differ from its manifest or cannot be read
    (``IndexCorruptError``, naming the build and the file). A Milvus build needs ``settings`` (the connection).

    ``just_written``: the chunks of a build this process has just written and sealed (its verification); they
    are not read back, nor are the checksums computed a moment ago computed again."""
    name = path.name
    manifest = _read_manifest(path)
    if just_written is None:
        verify_build_files(path, manifest)
    try:
        if just_written is not None:
            chunks = just_written
        else:
            with (path / CHUNKS).open("rb") as handle:
                chunks = [Chunk.from_record(orjson.loads(line)) for line in handle if line.strip()]
        store = vector_store(manifest)
        if store["kind"] == "milvus":
            backend, rows = _milvus_backend(path, manifest, chunks, settings)
        else:
            lexical = LexicalIndex.load(path)
            if settings is not None:  # a query-time weight: the concept tokens themselves are in the build
                lexical.concept_weight = settings.vocab_concept_weight
            backend = LocalBackend(lexical, DenseIndex.load(path) if has_vectors(manifest) else None)
            if lexical.n_docs != len(backend):
                raise IndexCorruptError(f"build {name}: {lexical.n_docs} BM25 rows but {len(backend)} vectors")
            rows = len(backend)
        expected = int(manifest["counts"]["chunks"])
        dimension = int(manifest["embedder"]["dimension"])
    except IndexCorruptError:
        raise
    except Exception as exc:  # noqa: BLE001 - numpy, faiss, bm25s and json fail in many ways; all mean the same
        raise IndexCorruptError(f"build {name} cannot be read ({_redacted(exc, path)}); {_FIX}") from exc
    if not (len(chunks) == expected == rows):
        raise IndexCorruptError(
            f"build {name}: manifest says {expected} chunks but found {len(chunks)} chunks and {rows} searchable rows"
        )
    if backend.dimension != dimension:
        raise IndexCorruptError(f"build {name}: vectors have dimension {backend.dimension}, manifest says {dimension}")
    index = KnowledgeIndex(path=path, manifest=manifest, chunks=chunks, backend=backend)
    if expected_dimension is not None:
        check_embedder_dimension(index, expected_dimension)
    return index


def check_embedder_dimension(index: KnowledgeIndex, configured: int) -> None:
    """Refuse to search a build's vectors with an embedder of another dimension (a build without vectors passes)."""
    if index.has_vectors and configured != index.backend.dimension:
        raise IndexCorruptError(
            f"build {index.path.name}: built with {index.manifest['embedder'].get('name')} (dimension "
            f"{index.backend.dimension}), but the configured embedder has dimension {configured}; rebuild the index "
            "or set ERP_ASSIST_EMBEDDER back"
        )


def _milvus_backend(path: Path, manifest: dict[str, Any], chunks: list[Chunk],
                    settings: Settings | None) -> tuple[SearchBackend, int]:
    from indexer.milvus import MilvusBackend, MilvusStore

    if settings is None:
        raise IndexCorruptError(f"build {path.name} is a Milvus build; loading it needs the Milvus connection "
                                f"settings")
    block = vector_store(manifest)
    store = MilvusStore(settings)
    if not store.client.has_collection(block["collection"]):
        raise IndexCorruptError(f"build {path.name}: its Milvus collection {block['collection']} does not exist in "
                                f"the Milvus at ERP_ASSIST_MILVUS_URI; {_FIX}")
    stats = LexicalIndex.load(path, scorer=False)
    stats.concept_weight = settings.vocab_concept_weight
    backend = MilvusBackend(store, block["collection"], chunks, stats, int(manifest["embedder"]["dimension"]))
    return backend, store.count(block["collection"])
