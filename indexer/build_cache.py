"""What a rebuild takes from the last build instead of computing it again, found by content.

Tokenizing is most of a build without vectors (jieba, vocabulary packs, character n-grams); reading and
chunking the SOPs and the hygiene check's pairwise similarities come next. Each depends only on content and
settings, so the last build's results are kept in ``<cache_dir>/tokens/<tenant>-<tokenizer>.cache`` by a hash
of what they depend on:

- term counts of each text (chunk titles, alternate questions, bodies; the hygiene check's questions and
  answers): a chunk's BM25 counts are assembled from them;
- the documents of each SOP page, by its bytes and what else shapes them (its root, the module ids);
- the chunks of each document, by its content and the chunking settings;
- the hygiene check's scored pairs, by all Q&A entries' content and the thresholds.

A missing, stale or unreadable cache only means computing again; only what the last build used is kept, so the
file does not grow with history.
"""

from __future__ import annotations

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

from erp_assist import __version__
from erp_assist.domain import Chunk, Document, SourceType
from indexer.chunking import chunk_document
from indexer.hygiene import PairScore
from indexer.lexical import chunk_term_counts, expand
from indexer.text import DICT_DIR, TextProcessor

__all__ = ["BuildCache"]

log = logging.getLogger(__name__)

_FORMAT = 1


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


class BuildCache:
    """One tenant's cache for one tokenizer; ``save`` keeps what this build asked for."""

    def __init__(self, cache_dir: Path, tenant: str, processor: TextProcessor, title_weight: int) -> None:
        self.directory = cache_dir / "tokens"
        self.prefix = f"{tenant}-"
        self.path = self.directory / f"{self.prefix}{_fingerprint(processor, title_weight)}.cache"
        self.processor = processor
        self.title_weight = title_weight
        # What came from the cache: SOP files read, documents chunked, chunks counted, hygiene pairs (0 or 1).
        self.hits: Counter[str] = Counter()
        self.tokenized_texts = 0
        cached = self._read()
        self._texts: dict[str, dict[str, int]] = cached.get("texts", {})
        self._documents: dict[str, list[dict[str, Any]]] = cached.get("documents", {})
        self._pairs: dict[str, Any] = cached.get("pairs", {})
        self._files: dict[str, list[dict[str, Any]]] = cached.get("files", {})
        self._used_files: dict[str, list[dict[str, Any]]] = {}
        self._used_texts: dict[str, dict[str, int]] = {}
        self._used_documents: dict[str, list[dict[str, Any]]] = {}
        self._used_pairs: dict[str, Any] = {}

    def _read(self) -> dict[str, Any]:
        try:
            # marshal, not JSON: the cache is our own file of plain dicts and lists, read by every rebuild, and
            # marshal reads and writes it several times faster.
            data = marshal.loads(self.path.read_bytes())
            if not isinstance(data, dict) or data.get("format") != _FORMAT:
                raise ValueError("written by another version")
            if not all(isinstance(data.get(k), dict) for k in ("texts", "documents", "pairs", "files")):
                raise ValueError("a section is missing")
            return data
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, EOFError, TypeError) as exc:
            log.warning("build cache %s is unreadable (%s); computing everything again", self.path.name, exc)
            return {}

    def text_counts(self, text: str) -> dict[str, int]:
        """The term counts of ``processor.tokenize(text)``."""
        key = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
        counts = self._used_texts.get(key) or self._texts.get(key)
        if not isinstance(counts, dict):
            # Interned: a term appears in many texts, and marshal writes an interned string once.
            counts = {sys.intern(token): n for token, n in Counter(self.processor.tokenize(text)).items()}
            self.tokenized_texts += 1
        self._used_texts[key] = counts
        return counts

    def text_tokens(self, text: str) -> list[str]:
        """``processor.tokenize(text)`` as a bag of words (grouped by term)."""
        return expand(self.text_counts(text))

    def chunk_counts(self, chunks: Sequence[Chunk], progress: Callable[[int], None] | None = None
                     ) -> list[dict[str, int]]:
        """Each chunk's BM25 term counts: its title and alternate questions ``title_weight`` times, its body
        once (``chunk_term_counts``), each text tokenized once across builds."""
        out: list[dict[str, int]] = []
        for i, chunk in enumerate(chunks, start=1):
            before = self.tokenized_texts
            out.append(chunk_term_counts(chunk, self.text_counts, self.title_weight))
            self.hits["chunks"] += self.tokenized_texts == before
            if progress:
                progress(i)
        return out

    def document_chunks(self, document: Document, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
        """``chunk_document``, or the chunks it gave last time for the same content and chunking settings."""
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
        if isinstance(rows, list):
            try:
                found = [PairScore(*row) for row in rows]
                self.hits["hygiene_pairs"] = 1
            except TypeError:
                found = score()
        else:
            found = score()
        self._used_pairs = {key: [(p.left, p.right, p.question, p.answer, p.dense) for p in found]}
        return found

    def save(self) -> None:
        """Write the cache atomically and drop this tenant's caches of other tokenizers."""
        data = {"format": _FORMAT, "texts": self._used_texts, "documents": self._used_documents,
                "pairs": self._used_pairs, "files": self._used_files}
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
