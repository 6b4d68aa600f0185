"""Milvus as the search backend: one collection per build and tenant, an alias per tenant for the live one.

The same ``pymilvus`` client talks to Milvus Lite (``milvus_uri`` is a local ``.db`` path: tests, one-machine
installs) and to a Milvus standalone or cluster (``http://host:19530`` + token).

Lexical parity with the local backend: Milvus scores BM25 itself, but over *our* token stream (normalization,
ERP dictionary, char n-grams, codes kept whole). Each token is written as an opaque ASCII word (a short hash),
so any Milvus analyzer that splits on whitespace or non-word characters — Lite's "standard", a cluster's
"whitespace" or "standard" — sees exactly our tokens and no second tokenizer is involved. Milvus' BM25 is Lucene's
times (k1 + 1); dividing by that and by the sum of the query's idf (kept in the build's ``lexical.json``) gives
the same bounded score as the local backend.

Builds: rows are written into a collection named after the build; when ``keep_builds`` collections already
exist, the oldest one that is neither live nor the rollback target is renamed and brought up to date
(upsert changed chunks, delete removed ones, by chunk id) instead of re-inserting everything. The build
directory (manifest last) stays the commit marker; a collection without a finished build directory is an
orphan of a crashed build and is dropped by the next build. Publishing moves the tenant's alias.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from erp_assist.domain import Chunk
from erp_assist.settings import Settings
from indexer.errors import IndexCorruptError
from indexer.lexical import LexicalIndex

__all__ = ["MilvusBackend", "MilvusStore", "MilvusWrite", "token_word"]

log = logging.getLogger(__name__)

# VARCHAR fields hold at most 65,535 bytes; each token is 12 bytes with its separator.
_MAX_VARCHAR = 65_535
_TEXT_BYTES = 60_000
_BATCH = 1_000
_clients: dict[tuple[str, str, str], object] = {}
_clients_lock = threading.Lock()


def token_word(token: str) -> str:
    """An opaque lower-case ASCII word for one of our tokens (48-bit hash: collisions are negligible at the
    vocabulary sizes of a knowledge base, and would only merge two tokens' counts)."""
    digest = hashlib.blake2b(token.encode("utf-8"), digest_size=6).digest()
    return "t" + base64.b32encode(digest).decode("ascii").lower().rstrip("=")


def _lexical_field(tokens: list[str]) -> tuple[str, bool]:
    words = [token_word(t) for t in tokens]
    text = " ".join(words)
    if len(text) <= _MAX_VARCHAR:
        return text, False
    return text[: text.rfind(" ", 0, _MAX_VARCHAR)], True


def _utf8_prefix(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def fingerprint(chunk: Chunk, tokens: list[str]) -> str:
    """What a stored row depends on besides its vector: tokens (alternates learned from reviews change them
    without changing the chunk id), module and metadata."""
    payload = json.dumps([tokens, chunk.module, chunk.metadata, chunk.title, chunk.uri], ensure_ascii=False,
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


@dataclass
class MilvusWrite:
    """What writing one build's collection did."""

    collection: str
    recycled_from: str | None = None
    inserted: int = 0
    deleted: int = 0
    unchanged: int = 0
    embedded: int = 0
    truncated: list[str] = field(default_factory=list)


class MilvusStore:
    """Collections and aliases of one Milvus deployment (Lite file or server), named per tenant."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.prefix = settings.milvus_collection_prefix
        self.client = _client(settings)

    # Names ---------------------------------------------------------------------------------------------------
    def alias(self, tenant: str) -> str:
        return f"{self.prefix}__{tenant}"

    def collection(self, tenant: str, build_id: str) -> str:
        return f"{self.prefix}__{tenant}__b{build_id.replace('-', '_')}"

    def tenant_collections(self, tenant: str) -> list[str]:
        start = f"{self.prefix}__{tenant}__b"
        return sorted(name for name in self.client.list_collections() if name.startswith(start))

    # Lifecycle -----------------------------------------------------------------------------------------------
    def create(self, name: str, dimension: int, *, k1: float, b: float, hnsw: bool) -> None:
        from pymilvus import DataType, Function, FunctionType

        schema = self.client.create_schema(auto_id=False, description="erp-assist chunks of one build")
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("tokens", DataType.VARCHAR, max_length=_MAX_VARCHAR, enable_analyzer=True,
                         analyzer_params={"tokenizer": "standard"})
        schema.add_field("bm25", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
        schema.add_field("fingerprint", DataType.VARCHAR, max_length=64)
        schema.add_field("uri", DataType.VARCHAR, max_length=2_048)
        schema.add_field("module", DataType.VARCHAR, max_length=64)
        schema.add_field("text", DataType.VARCHAR, max_length=_MAX_VARCHAR)
        schema.add_field("metadata", DataType.JSON)
        schema.add_function(Function(name="bm25_of_tokens", function_type=FunctionType.BM25,
                                     input_field_names=["tokens"], output_field_names=["bm25"]))
        index_params = self.client.prepare_index_params()
        index_params.add_index("bm25", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                               params={"bm25_k1": k1, "bm25_b": b})
        if hnsw:
            index_params.add_index("vector", index_type="HNSW", metric_type="IP", params={"M": 32, "efConstruction": 200})
        else:
            index_params.add_index("vector", index_type="FLAT", metric_type="IP")
        self.client.create_collection(name, schema=schema, index_params=index_params)

    def rename(self, old: str, new: str) -> None:
        self.client.rename_collection(old, new)

    def drop(self, name: str) -> None:
        if self.client.has_collection(name):
            self.client.drop_collection(name)

    def load(self, name: str) -> None:
        """Collections answer queries only once loaded (a new or renamed one, or after a restart, is not)."""
        self.client.load_collection(name)

    def count(self, name: str) -> int:
        self.load(name)
        rows = self.client.query(name, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def point_alias(self, tenant: str, name: str) -> None:
        """Make the tenant's alias name ``name`` (one atomic switch for every reader of the alias)."""
        alias = self.alias(tenant)
        if alias in self.client.list_aliases().get("aliases", []):
            self.client.alter_alias(name, alias)
        else:
            self.client.create_alias(name, alias)

    def aliased(self, tenant: str) -> str | None:
        alias = self.alias(tenant)
        if alias not in self.client.list_aliases().get("aliases", []):
            return None
        return str(self.client.describe_alias(alias)["collection_name"])

    # Rows ----------------------------------------------------------------------------------------------------
    def fingerprints(self, name: str) -> dict[str, str]:
        found: dict[str, str] = {}
        self.load(name)
        iterator = self.client.query_iterator(name, batch_size=_BATCH, filter="", output_fields=["id", "fingerprint"])
        try:
            while batch := iterator.next():
                found.update((row["id"], row["fingerprint"]) for row in batch)
        finally:
            iterator.close()
        return found

    def vectors_by_id(self, name: str, ids: list[str]) -> dict[str, np.ndarray]:
        self.load(name)
        return _fetch_vectors(self.client, name, ids)

    def write(
        self,
        name: str,
        chunks: list[Chunk],
        tokens: list[list[str]],
        vectors: Callable[[list[int]], np.ndarray],
        *,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> MilvusWrite:
        """Bring collection ``name`` to exactly these chunks: upsert rows that are new or changed, delete rows
        that are gone. ``vectors(rows)`` supplies vectors for the rows written."""
        result = MilvusWrite(name)
        stored = self.fingerprints(name)
        wanted = {c.id for c in chunks}
        gone = [cid for cid in stored if cid not in wanted]
        for start in range(0, len(gone), _BATCH):
            self.client.delete(name, ids=gone[start : start + _BATCH])
        result.deleted = len(gone)
        prints = [fingerprint(c, t) for c, t in zip(chunks, tokens)]
        todo = [i for i, c in enumerate(chunks) if stored.get(c.id) != prints[i]]
        result.unchanged = len(chunks) - len(todo)
        for start in range(0, len(todo), _BATCH):
            rows = todo[start : start + _BATCH]
            matrix = vectors(rows)
            records = []
            for i, vector in zip(rows, matrix):
                lexical, cut = _lexical_field(tokens[i])
                if cut:
                    result.truncated.append(chunks[i].uri)
                records.append({
                    "id": chunks[i].id, "tokens": lexical, "vector": vector.tolist(), "fingerprint": prints[i],
                    "uri": chunks[i].uri, "module": chunks[i].module or "",
                    "text": _utf8_prefix(chunks[i].search_text, _TEXT_BYTES), "metadata": chunks[i].metadata,
                })
            self.client.upsert(name, records)
            if progress:
                progress("milvus", min(start + _BATCH, len(todo)), len(todo))
        result.inserted = len(todo)
        self.client.flush(name)
        return result


def _fetch_vectors(client, name: str, ids: list[str]) -> dict[str, np.ndarray]:  # noqa: ANN001
    """Vectors by chunk id from a loaded collection, in batches."""
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(ids), _BATCH):
        for row in client.get(name, ids=ids[start : start + _BATCH], output_fields=["vector"]):
            found[row["id"]] = np.asarray(row["vector"], dtype=np.float32)
    return found


def _client(settings: Settings):  # noqa: ANN202 - pymilvus is imported lazily
    """One client per deployment and process: Milvus Lite allows one process per file, and its in-process
    server is shared by every client of that file."""
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise IndexCorruptError("ERP_ASSIST_VECTOR_STORE=milvus needs pymilvus, which is not installed: "
                                "pip install 'erp-assist[milvus]'") from exc

    key = (settings.milvus_uri, settings.milvus_token or "", settings.milvus_db_name)
    with _clients_lock:
        if key not in _clients:
            options = {"uri": settings.milvus_uri}
            if settings.milvus_token:
                options["token"] = settings.milvus_token
            if settings.milvus_db_name:
                options["db_name"] = settings.milvus_db_name
            try:
                _clients[key] = MilvusClient(**options)
            except Exception as exc:  # pymilvus raises several unrelated types for an unreachable server
                hint = ""
                if settings.milvus_uri.endswith(".db"):
                    hint = ("; Milvus Lite opens a file in one process only — if `erp-assist serve` holds it, rebuild "
                            "with POST /v1/admin/rebuild, or use a Milvus server")
                raise IndexCorruptError(f"cannot open Milvus at {settings.milvus_uri}: {exc}{hint}") from exc
        return _clients[key]


class MilvusBackend:
    """Search one build's collection; rows are positions in the build's ``chunks.jsonl``."""

    name = "milvus"

    def __init__(self, store: MilvusStore, collection: str, chunks: list[Chunk], stats: LexicalIndex,
                 dimension: int) -> None:
        self.store = store
        self.client = store.client
        self.collection = collection
        self.stats = stats
        self._dimension = dimension
        self._ids = [c.id for c in chunks]
        self._row = {cid: row for row, cid in enumerate(self._ids)}
        store.load(collection)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def dimension(self) -> int:
        return self._dimension

    def _bm25(self, tokens: list[str], k: int, ids: list[str] | None = None) -> list[tuple[int, float]]:
        unique = [t for t in dict.fromkeys(tokens) if t in self.stats.doc_freq and self.stats.weight(t) > 0]
        bound = self.stats.bound(tokens) * (self.stats.k1 + 1)
        if not unique or bound <= 0 or k <= 0:
            return []
        # Concept tokens of the vocabulary packs weigh ``concept_weight``: searched apart and added, as LexicalIndex
        # does (a row in one top-k but not the other gets 0 from the other).
        raw: dict[int, float] = {}
        for weight in sorted({self.stats.weight(t) for t in unique}):
            group = [t for t in unique if self.stats.weight(t) == weight]
            for row, score in self._raw(group, k, ids).items():
                raw[row] = raw.get(row, 0.0) + weight * score
        hits = [(row, min(score / bound, 1.0)) for row, score in raw.items()]
        return sorted((h for h in hits if h[1] > 0), key=lambda h: (-h[1], h[0]))[:k]

    def _raw(self, tokens: list[str], k: int, ids: list[str] | None) -> dict[int, float]:
        options = {"filter": f"id in {json.dumps(ids)}"} if ids is not None else {}
        found = self.client.search(self.collection, data=[" ".join(map(token_word, tokens))], anns_field="bm25",
                                   limit=min(k, 16_384), output_fields=["id"], **options)[0]
        # Milvus Lite reports BM25 as a negated distance, a server as the score; either way it is |distance|.
        return {self._row[h["id"]]: abs(float(h["distance"])) for h in found if h["id"] in self._row}

    def lexical_top(self, tokens: list[str], k: int) -> list[tuple[int, float]]:
        return self._bm25(tokens, k)

    def lexical_rows(self, tokens: list[str], rows: list[int]) -> dict[int, float]:
        scores = dict(self._bm25(tokens, len(rows), [self._ids[r] for r in rows])) if rows else {}
        return {r: scores.get(r, 0.0) for r in rows}

    def dense_top(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        found = self.client.search(self.collection, data=[np.asarray(vector, dtype=np.float32).tolist()],
                                   anns_field="vector", limit=min(k, 16_384), output_fields=["id"])[0]
        return [(self._row[h["id"]], float(h["distance"])) for h in found if h["id"] in self._row]

    def vectors(self, rows: list[int]) -> np.ndarray:
        ids = [self._ids[r] for r in rows]
        # Loaded once in __init__: a query must not pay for load_collection again.
        found = _fetch_vectors(self.client, self.collection, ids)
        missing = [cid for cid in ids if cid not in found]
        if missing:
            raise IndexCorruptError(f"Milvus collection {self.collection} lacks {len(missing)} chunks, e.g. {missing[0]}")
        return np.vstack([found[cid] for cid in ids]) if ids else np.zeros((0, self._dimension), np.float32)

    def similarity(self, vector: np.ndarray, rows: list[int]) -> np.ndarray:
        return self.vectors(rows) @ np.asarray(vector, dtype=np.float32)


def recyclable(store: MilvusStore, tenant: str, keep: int, finished: list[str], protected: set[str]) -> str | None:
    """The finished build whose collection a new build may take over: the oldest one beyond what rollback
    needs, once ``keep`` builds exist (it would be pruned when the new build is published anyway)."""
    existing = set(store.tenant_collections(tenant))
    candidates = [b for b in finished if b not in protected and store.collection(tenant, b) in existing]
    return candidates[0] if len(finished) >= keep and candidates else None


def drop_orphans(store: MilvusStore, tenant: str, finished: Iterable[str]) -> list[str]:
    """Drop this tenant's collections that no finished build owns (left by a crashed build)."""
    owned = {store.collection(tenant, b) for b in finished}
    orphans = [n for n in store.tenant_collections(tenant) if n not in owned]
    for name in orphans:
        log.warning("dropping Milvus collection %s: no finished build owns it", name)
        store.drop(name)
    return orphans
