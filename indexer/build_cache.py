"""What a rebuild takes from the last build instead of computing it again, found by content.

Tokenizing is most of a build without vectors (jieba, vocabulary packs, character n-grams); reading and
chunking the SOPs and the hygiene check's pairwise similarities come next. Each depends only on content and
settings, so the last build's results are kept in ``<cache_dir>/tokens/<tenant>-<tokenizer>.cache`` by a hash
of what they depend on:

- the BM25 term counts of every chunk, as the last build's term-count matrix with a key per row (the chunk's
  title, alternate questions and body): a rebuild renumbers the rows of unchanged chunks and adds the new ones
  with a few numpy passes, and tokenizes only what changed;
- the documents of each SOP page, by its bytes and what else shapes them (its root, the module ids);
- the chunks of each SOP document, by its content and the chunking settings, and the chunk id of each FAQ
  entry and chat thread (one chunk each), by its content;
- the module the classifier gave each chunk whose source has none (chat threads, SOP pages without one), by
  its text and the classifier's identity;
- the hygiene check's scored pairs, by all Q&A entries' content and the thresholds, and the term counts of the
  questions and answers it compared, for the next time the pairs are scored.

A missing, stale or unreadable cache only means computing again; only what the last build used is kept, so the
file does not grow with history.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import marshal
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from erp_assist import __version__
from erp_assist.domain import Chunk, Document, SourceType
from indexer.chunking import chunk_document, whole_document_chunk
from indexer.hygiene import PairScore
from indexer.lexical import TermMatrix, chunk_term_counts, expand
from indexer.text import DICT_DIR, TextProcessor

__all__ = ["BuildCache"]

log = logging.getLogger(__name__)

_FORMAT = 2
_SECTIONS = ("texts", "documents", "chunk_ids", "module_tags", "pairs", "files", "matrix")


_ROOT = Path(__file__).resolve().parent.parent
# The code whose results are cached: reading sources, PII masking, chunking, tokenizing, BM25 counts, hygiene
# pairs. A change to any of them (the version number rarely moves) starts a new cache.
_CODE = ("indexer/loaders.py", "indexer/pii.py", "indexer/chunking.py", "indexer/text.py", "indexer/vocab.py",
         "indexer/lexical.py", "indexer/hygiene.py", "indexer/build_cache.py", "erp_assist/domain.py")


def _fingerprint(processor: TextProcessor, title_weight: int) -> str:
    """Everything that shapes the cached results besides the content: the code, the tokenizer's setup and
    dictionaries."""
    digest = hashlib.sha256()
    for name in _CODE:
        digest.update((_ROOT / name).read_bytes())
    setup = {"code": __version__, "title_weight": title_weight, "word": processor.word_weight,
             "unigram": processor.unigram_weight, "bigram": processor.bigram_weight,
             "vocabulary": processor.vocabulary_fingerprint, "jieba_words": list(processor.jieba_words)}
    digest.update(json.dumps(setup, sort_keys=True, ensure_ascii=False).encode())
    for path in sorted(DICT_DIR.glob("*.txt")):
        digest.update(path.read_bytes())
    if processor.user_dict is not None and processor.user_dict.is_file():
        digest.update(processor.user_dict.read_bytes())
    return digest.hexdigest()[:16]


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode("utf-8")).hexdigest()[:32]


def _key(*texts: str) -> bytes:
    """A short content key of some texts; their lengths lead, so the parts stay apart whatever they contain."""
    lengths = ",".join([str(len(text)) for text in texts])
    return hashlib.blake2b("\x1f".join([lengths, *texts]).encode("utf-8"), digest_size=16).digest()


def _chunk_key(chunk: Chunk) -> bytes:
    """What a chunk's BM25 counts depend on (``chunk_term_counts``)."""
    return _key(chunk.title, chunk.text, *chunk.metadata.get("alternates", ()))


class BuildCache:
    """One tenant's cache for one tokenizer; ``save`` keeps what this build asked for."""

    def __init__(self, cache_dir: Path, tenant: str, processor: TextProcessor, title_weight: int) -> None:
        self.directory = cache_dir / "tokens"
        self.prefix = f"{tenant}-"
        self.path = self.directory / f"{self.prefix}{_fingerprint(processor, title_weight)}.cache"
        self.processor = processor
        self.title_weight = title_weight
        # What came from the cache: SOP files read, documents chunked, chunks counted, module labels, hygiene
        # pairs (0 or 1).
        self.hits: Counter[str] = Counter()
        cached = self._read()
        self._texts: dict[bytes, dict[str, int]] = cached.get("texts", {})
        self._documents: dict[str, list[dict[str, Any]]] = cached.get("documents", {})
        self._chunk_ids: dict[bytes, str] = cached.get("chunk_ids", {})
        self._module_tags: dict[bytes, str] = cached.get("module_tags", {})
        self._pairs: dict[str, Any] = cached.get("pairs", {})
        self._files: dict[str, list[dict[str, Any]]] = cached.get("files", {})
        self._matrix = self._read_matrix(cached.get("matrix"))
        self._memo: dict[bytes, dict[str, int]] = {}  # texts tokenized in this build, kept only for it
        self._used_files: dict[str, list[dict[str, Any]]] = {}
        self._used_texts: dict[bytes, dict[str, int]] = {}
        self._used_documents: dict[str, list[dict[str, Any]]] = {}
        self._used_chunk_ids: dict[bytes, str] = {}
        self._used_module_tags: dict[bytes, str] = {}
        self._used_pairs: dict[str, Any] = {}
        self._used_matrix: tuple[list[bytes], TermMatrix] | None = None

    def _read(self) -> dict[str, Any]:
        try:
            # marshal, not JSON: the cache is our own file of plain dicts, lists and bytes, read by every rebuild,
            # and marshal reads and writes it several times faster.
            data = marshal.loads(self.path.read_bytes())
            if not isinstance(data, dict) or data.get("format") != _FORMAT:
                raise ValueError("written by another version")
            if not all(isinstance(data.get(k), dict) for k in _SECTIONS):
                raise ValueError("a section is missing")
            return data
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, EOFError, TypeError) as exc:
            log.warning("build cache %s is unreadable (%s); computing everything again", self.path.name, exc)
            return {}

    def _read_matrix(self, section: dict[str, Any] | None) -> tuple[dict[bytes, int], TermMatrix] | None:
        if not section:
            return None
        try:
            keys, terms = section["keys"], section["terms"]
            if not (isinstance(keys, list) and isinstance(terms, list)):
                raise TypeError("keys and terms must be lists")
            starts = np.frombuffer(section["starts"], dtype=np.int64)
            rows = np.frombuffer(section["rows"], dtype=np.int32)
            counts = np.frombuffer(section["counts"], dtype=np.int32)
            terms_fit = (len(starts) == len(terms) + 1 and starts[0] == 0 and np.all(np.diff(starts) >= 0)
                         and len(set(terms)) == len(terms))
            entries_fit = starts[-1] == len(rows) == len(counts)
            rows_fit = not len(rows) or 0 <= rows.min() <= rows.max() < len(keys)
            if not (terms_fit and entries_fit and rows_fit):
                raise ValueError("its arrays do not fit together")
            return {key: row for row, key in enumerate(keys)}, TermMatrix(terms, starts, rows, counts, len(keys))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            log.warning("build cache %s: term counts unreadable (%s); tokenizing every chunk", self.path.name, exc)
            return None

    def _lookup_counts(self, key: bytes) -> dict[str, int] | None:
        for section in (self._used_texts, self._memo, self._texts):
            counts = section.get(key)
            if isinstance(counts, dict):
                return counts
        return None

    def _counts(self, text: str, keep: bool) -> dict[str, int]:
        key = _key(text)
        counts = self._lookup_counts(key)
        if counts is None:
            # Interned: a term appears in many texts, and marshal writes an interned string once.
            counts = {sys.intern(token): n for token, n in Counter(self.processor.tokenize(text)).items()}
        (self._used_texts if keep else self._memo)[key] = counts
        return counts

    def text_counts(self, text: str) -> dict[str, int]:
        """The term counts of ``processor.tokenize(text)``, kept for the next build (the hygiene check's texts)."""
        return self._counts(text, keep=True)

    def text_tokens(self, text: str) -> list[str]:
        """``processor.tokenize(text)`` as a bag of words (grouped by term)."""
        return expand(self.text_counts(text))

    def chunk_counts(self, chunks: Sequence[Chunk], progress: Callable[[int, int], None] | None = None
                     ) -> TermMatrix:
        """The chunks' BM25 term counts (``chunk_term_counts``: title and alternate questions ``title_weight``
        times, the body once): the last build's rows for unchanged chunks, the tokenizer's for the others.
        ``progress(done, total)`` counts the chunks tokenized."""
        keys = [_chunk_key(chunk) for chunk in chunks]
        rows_before, before = self._matrix or ({}, TermMatrix.from_counts([]))
        new_rows = [-1] * before.n_docs  # where each row of the last build's matrix goes (-1: its chunk left)
        todo: list[int] = []
        for i, key in enumerate(keys):
            row = rows_before.get(key, -1)
            if row >= 0 and new_rows[row] < 0:
                new_rows[row] = i
            else:  # new, changed, or a second chunk with the same texts (a row has one place)
                todo.append(i)
        self.hits["chunks"] += len(chunks) - len(todo)
        counted: list[dict[str, int]] = []
        # Kept for this build only: the next build takes these chunks' counts from the matrix.
        text_counts = functools.partial(self._counts, keep=False)
        for done, i in enumerate(todo, start=1):
            counted.append(chunk_term_counts(chunks[i], text_counts, self.title_weight))
            if progress and (done % 200 == 0 or done == len(todo)):
                progress(done, len(todo))
        if progress and not todo:
            progress(0, 0)
        matrix = (before.renumbered(np.asarray(new_rows, dtype=np.int32), len(chunks))
                  .with_documents(counted, todo).without_unused_terms())
        self._used_matrix = (keys, matrix)
        return matrix

    def document_chunks(self, document: Document, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
        """``chunk_document``, or the chunks it gave last time for the same content and chunking settings."""
        if document.source_type is not SourceType.SOP:  # one chunk: only its id (a hash of normalized text) is kept
            key = _key(document.uri, document.title, document.text)
            chunk_id = self._used_chunk_ids.get(key) or self._chunk_ids.get(key)
            self.hits["documents"] += isinstance(chunk_id, str)
            chunk = whole_document_chunk(document, chunk_id if isinstance(chunk_id, str) else None)
            self._used_chunk_ids[key] = chunk.id
            return [chunk]
        key = _digest(__version__, chunk_size, chunk_overlap, document.source_type.value, document.source_id,
                      document.uri, document.title, document.text, document.module, document.url, document.metadata)
        records = self._used_documents.get(key) or self._documents.get(key)
        if isinstance(records, list):
            try:
                chunks = [Chunk.from_record(record) for record in records]
                self._used_documents[key] = records
                self.hits["documents"] += 1
                return chunks
            except (KeyError, TypeError, ValueError):
                pass
        chunks = chunk_document(document, chunk_size, chunk_overlap)
        self._used_documents[key] = [c.to_record() for c in chunks]
        return chunks

    def module_tags(self, texts: Sequence[str], tagger: Callable[[list[str]], list[str]]) -> list[str]:
        """``tagger(texts)``: module labels of chunks whose source has none. Labels it gave a text before are
        reused when the tagger has an ``identity`` (the classifier's) and it is the same."""
        identity = getattr(tagger, "identity", None)
        if not isinstance(identity, str):
            return tagger(list(texts))
        keys = [_key(identity, text) for text in texts]
        labels = [self._used_module_tags.get(key, self._module_tags.get(key)) for key in keys]
        todo = [i for i, label in enumerate(labels) if not isinstance(label, str)]
        self.hits["module_tags"] += len(texts) - len(todo)
        for i, label in zip(todo, tagger([texts[i] for i in todo]) if todo else []):
            labels[i] = label
        self._used_module_tags.update(zip(keys, labels))
        return labels

    def file_documents(self, path: Path, context: tuple, read: Callable[[Path], list[Document]]) -> list[Document]:
        """``read(path)``, or the documents it gave last time for the same bytes and ``context``."""
        try:
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            return read(path)  # the reader says what is wrong with the file
        key = _digest(__version__, str(path), content, context)
        records = self._used_files.get(key) or self._files.get(key)
        if isinstance(records, list):
            try:
                documents = [Document(**{**record, "source_type": SourceType(record["source_type"])})
                             for record in records]
                self._used_files[key] = records
                self.hits["files"] += 1
                return documents
            except (KeyError, TypeError, ValueError):
                pass
        documents = read(path)
        self._used_files[key] = [{**asdict(d), "source_type": d.source_type.value} for d in documents]
        return documents

    def pairs(self, key_parts: Sequence[object], score: Callable[[], list[PairScore]]) -> list[PairScore]:
        """``score()``: the hygiene check's pairs, or last build's when everything they depend on is the same."""
        key = _digest(*key_parts)
        rows = self._pairs.get(key)
        found = None
        if isinstance(rows, list):
            try:
                found = [PairScore(*row) for row in rows]
                self.hits["hygiene_pairs"] = 1
                # The same entries as last time: the texts they were scored from are kept for the next scoring.
                self._used_texts.update(self._texts)
            except TypeError:
                pass
        if found is None:
            found = score()
        self._used_pairs = {key: [(p.left, p.right, p.question, p.answer, p.dense) for p in found]}
        return found

    def save(self) -> None:
        """Write the cache atomically and drop this tenant's caches of other tokenizers."""
        matrix: dict[str, Any] = {}
        if self._used_matrix is not None:
            keys, used = self._used_matrix
            # marshal writes any buffer as bytes: the arrays are not copied before it.
            matrix = {"keys": keys, "terms": used.terms,
                      "starts": memoryview(np.ascontiguousarray(used.starts, dtype=np.int64)),
                      "rows": memoryview(np.ascontiguousarray(used.rows, dtype=np.int32)),
                      "counts": memoryview(np.ascontiguousarray(used.counts, dtype=np.int32))}
        data = {"format": _FORMAT, "texts": self._used_texts, "documents": self._used_documents,
                "chunk_ids": self._used_chunk_ids, "module_tags": self._used_module_tags, "pairs": self._used_pairs,
                "files": self._used_files, "matrix": matrix}
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(".partial")
            partial.write_bytes(marshal.dumps(data))
            os.replace(partial, self.path)
            for other in self.directory.glob(f"{self.prefix}*"):
                if other != self.path:
                    other.unlink(missing_ok=True)
        except (OSError, ValueError) as exc:  # an unwritten cache costs the next build time, nothing else
            log.warning("build cache %s not written: %s", self.path, exc)
