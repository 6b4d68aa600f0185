"""BM25 tokens of the chunks of the last build, so a rebuild tokenizes only the chunks that changed.

Tokenizing is most of a build without vectors (jieba, vocabulary packs, character n-grams). A chunk's tokens
depend only on its title, alternate questions and body and on the tokenizer, so they are kept by a hash of both
in ``<cache_dir>/tokens/<tenant>-<tokenizer>.jsonl``: term counts per chunk (BM25 reads counts, not order). A
missing, stale or unreadable cache only means tokenizing again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from erp_assist import __version__
from erp_assist.domain import Chunk
from indexer.text import DICT_DIR, TextProcessor

__all__ = ["TokenCache"]

log = logging.getLogger(__name__)


def _tokenizer_fingerprint(processor: TextProcessor, title_weight: int) -> str:
    """Everything that shapes a chunk's tokens besides its text."""
    digest = hashlib.sha256()
    setup = {"code": __version__, "title_weight": title_weight, "word": processor.word_weight,
             "unigram": processor.unigram_weight, "bigram": processor.bigram_weight,
             "vocabulary": processor.vocabulary_fingerprint, "jieba_words": list(processor.jieba_words)}
    digest.update(json.dumps(setup, sort_keys=True, ensure_ascii=False).encode())
    for path in sorted(DICT_DIR.glob("*.txt")):
        digest.update(path.read_bytes())
    if processor.user_dict is not None and processor.user_dict.is_file():
        digest.update(processor.user_dict.read_bytes())
    return digest.hexdigest()[:16]


def _chunk_key(chunk: Chunk) -> str:
    parts = [chunk.title, *chunk.metadata.get("alternates", []), "\x1e", chunk.text]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


class TokenCache:
    """Token counts by chunk content for one tenant and tokenizer; ``tokens`` fills what is missing."""

    def __init__(self, cache_dir: Path, tenant: str, processor: TextProcessor, title_weight: int) -> None:
        self.directory = cache_dir / "tokens"
        self.prefix = f"{tenant}-"
        self.path = self.directory / f"{self.prefix}{_tokenizer_fingerprint(processor, title_weight)}.jsonl"
        self._counts: dict[str, dict[str, int]] = {}
        self.reused = 0
        try:
            with self.path.open(encoding="utf-8") as handle:
                for line in handle:
                    record = json.loads(line)
                    self._counts[record["key"]] = record["tf"]
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("token cache %s is unreadable (%s); tokenizing every chunk", self.path.name, exc)
            self._counts = {}

    def tokens(self, chunks: list[Chunk], tokenize: Callable[[Chunk], list[str]],
               progress: Callable[[int], None] | None = None) -> list[list[str]]:
        """Each chunk's tokens, from the cache when its content was tokenized before, else by ``tokenize``."""
        out: list[list[str]] = []
        fresh: dict[str, dict[str, int]] = {}
        for i, chunk in enumerate(chunks, start=1):
            key = _chunk_key(chunk)
            counts = self._counts.get(key)
            if counts is None:
                counts = dict(Counter(tokenize(chunk)))
            else:
                self.reused += 1
            fresh[key] = counts
            out.append(_expand(counts.items()))
            if progress:
                progress(i)
        self._counts = fresh  # only what this build holds: the file does not grow with history
        return out

    def save(self) -> None:
        """Write the cache atomically and drop this tenant's caches of other tokenizers."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(".partial")
            with partial.open("w", encoding="utf-8") as handle:
                for key, counts in self._counts.items():
                    handle.write(json.dumps({"key": key, "tf": counts}, ensure_ascii=False) + "\n")
            os.replace(partial, self.path)
            for other in self.directory.glob(f"{self.prefix}*.jsonl"):
                if other != self.path:
                    other.unlink(missing_ok=True)
        except OSError as exc:  # a cache that cannot be written costs the next build time, nothing else
            log.warning("token cache %s not written: %s", self.path, exc)


def _expand(counts: Iterable[tuple[str, int]]) -> list[str]:
    return [token for token, n in counts for _ in range(n)]
