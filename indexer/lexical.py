"""BM25 (bm25s, Lucene variant) over the multi-granularity token stream, with bounded scores.

Raw BM25 scores are unbounded and query-dependent, which makes "is this answer good enough?" impossible to
decide. Each Lucene term contribution is at most its idf, so dividing by the sum of the query terms' idf gives
a score in [0, 1]: the share of the question's evidence that a chunk matches. Query terms the corpus has never
seen count in that sum with the idf of the rarest known term, so an off-topic question scores low.

Concept tokens of the ERP vocabulary packs (``~purchase_receipt``) count ``concept_weight`` times a plain token
in both the score and the bound: they say "another vendor's name for the same thing", which is weaker evidence
than the question's own words.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import bm25s
import numpy as np

# The vocabulary packs' concept-token prefix (indexer.vocab.CONCEPT_PREFIX; not imported: vocab imports text).
CONCEPT_PREFIX = "~"

__all__ = ["LexicalIndex"]


class LexicalIndex:
    """BM25 over pre-tokenized documents plus the document frequencies needed to bound scores."""

    def __init__(self, k1: float = 1.2, b: float = 0.75, concept_weight: float = 1.0) -> None:
        if concept_weight < 0:
            raise ValueError(f"concept_weight {concept_weight} must be ≥ 0; set ERP_ASSIST_VOCAB_CONCEPT_WEIGHT")
        self.k1 = k1
        self.b = b
        self.concept_weight = concept_weight
        self._bm25: bm25s.BM25 | None = None
        self.doc_freq: dict[str, int] = {}
        self.n_docs = 0

    def fit(self, corpus_tokens: list[list[str]], *, scorer: bool = True) -> LexicalIndex:
        """Document frequencies, and (unless ``scorer`` is False: another engine scores) the bm25s index."""
        if not corpus_tokens:
            raise ValueError("cannot build a BM25 index over zero chunks; add FAQ, SOP or chat sources")
        self.n_docs = len(corpus_tokens)
        self.doc_freq = dict(Counter(token for tokens in corpus_tokens for token in set(tokens)))
        if not scorer:
            return self
        self._bm25 = bm25s.BM25(method="lucene", k1=self.k1, b=self.b)
        # An empty document would break bm25s; a single placeholder token keeps row numbers aligned.
        self._bm25.index([tokens or ["\x00"] for tokens in corpus_tokens], show_progress=False)
        return self

    def idf(self, token: str) -> float:
        df = self.doc_freq.get(token, 1)
        return math.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))

    def weight(self, token: str) -> float:
        """How much a query token counts: 1, or ``concept_weight`` for a concept token."""
        return self.concept_weight if token.startswith(CONCEPT_PREFIX) else 1.0

    def bound(self, query_tokens: list[str]) -> float:
        """The best BM25 score any chunk could reach for these tokens: the sum of their (weighted) idf."""
        return sum(self.idf(t) * self.weight(t) for t in dict.fromkeys(query_tokens))

    def scores(self, query_tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Raw BM25 scores and bounded scores in [0, 1] for every document."""
        assert self._bm25 is not None, "LexicalIndex used before fit() or load()"
        unique = list(dict.fromkeys(query_tokens))
        known = [t for t in unique if t in self.doc_freq]
        if not known:
            zeros = np.zeros(self.n_docs, dtype=np.float32)
            return zeros, zeros
        plain = [t for t in known if not t.startswith(CONCEPT_PREFIX)]
        concepts = [t for t in known if t.startswith(CONCEPT_PREFIX)] if self.concept_weight > 0 else []
        unique = [t for t in unique if self.weight(t) > 0]
        raw = np.zeros(self.n_docs, dtype=np.float32)
        if plain:
            raw += np.asarray(self._bm25.get_scores(plain), dtype=np.float32)
        if concepts:
            raw += self.concept_weight * np.asarray(self._bm25.get_scores(concepts), dtype=np.float32)
        bound = self.bound(unique)
        return raw, np.clip(raw / bound, 0.0, 1.0) if bound > 0 else raw * 0

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if self._bm25 is not None:
            self._bm25.save(str(directory / "bm25"))
        stats = {"k1": self.k1, "b": self.b, "concept_weight": self.concept_weight, "n_docs": self.n_docs, "doc_freq": self.doc_freq}
        (directory / "lexical.json").write_text(json.dumps(stats, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, *, scorer: bool = True) -> LexicalIndex:
        stats = json.loads((directory / "lexical.json").read_text(encoding="utf-8"))
        index = cls(k1=stats["k1"], b=stats["b"], concept_weight=stats.get("concept_weight", 1.0))
        index.n_docs = stats["n_docs"]
        index.doc_freq = stats["doc_freq"]
        if scorer:
            index._bm25 = bm25s.BM25.load(str(directory / "bm25"))
        return index
