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
from collections.abc import Callable, Mapping, Sequence
from itertools import chain
from pathlib import Path

import bm25s
import numpy as np
from scipy import sparse

from erp_assist.domain import Chunk

# The vocabulary packs' concept-token prefix (indexer.vocab.CONCEPT_PREFIX; not imported: vocab imports text).
CONCEPT_PREFIX = "~"

__all__ = ["LexicalIndex", "chunk_term_counts", "expand"]

# An empty document would break bm25s; a single placeholder token keeps row numbers aligned.
_PLACEHOLDER = "\x00"
_EMPTY_DOCUMENT = {_PLACEHOLDER: 1}


def chunk_term_counts(chunk: Chunk, text_counts: Callable[[str], Mapping[str, int]], title_weight: int
                      ) -> dict[str, int]:
    """A chunk's BM25 term counts: its title (FAQ question, heading path) and the FAQ's alternate questions
    count ``title_weight`` times, the body once. ``text_counts``: the tokenizer's term counts of one text."""
    counts = dict(text_counts(chunk.text))  # the body has most terms: copied whole, the few title terms added
    for question in (chunk.title, *chunk.metadata.get("alternates", [])):
        for token, n in text_counts(question).items():
            counts[token] = counts.get(token, 0) + n * title_weight
    return counts


def expand(counts: Mapping[str, int]) -> list[str]:
    """Term counts back to a token list (grouped by term)."""
    return [token for token, n in counts.items() for _ in range(n)]


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

    def fit(self, corpus_tokens: Sequence[Sequence[str]], *, scorer: bool = True) -> LexicalIndex:
        """Document frequencies, and (unless ``scorer`` is False: another engine scores) the bm25s index."""
        return self.fit_counts([Counter(tokens) for tokens in corpus_tokens], scorer=scorer)

    def fit_counts(self, term_counts: Sequence[Mapping[str, int]], *, scorer: bool = True) -> LexicalIndex:
        """``fit`` from each document's term counts (what the build's cache keeps).

        The score matrix is the one bm25s's Lucene variant builds (``idf · tf / (tf + k1·(1 − b + b·dl/avgdl))``,
        one column per term), computed with numpy over the counts instead of bm25s's loop over every token: the
        BM25 fit was a third of an incremental rebuild."""
        if not term_counts:
            raise ValueError("cannot build a BM25 index over zero chunks; add FAQ, SOP or chat sources")
        term_counts = [counts or _EMPTY_DOCUMENT for counts in term_counts]
        terms = list(chain.from_iterable(term_counts))
        vocab = {term: i for i, term in enumerate(dict.fromkeys(terms))}
        columns = np.fromiter(map(vocab.__getitem__, terms), dtype=np.int64, count=len(terms))
        frequencies = np.fromiter(chain.from_iterable(counts.values() for counts in term_counts), dtype=np.float64,
                                  count=len(terms))
        terms_per_doc = np.fromiter(map(len, term_counts), dtype=np.int64, count=len(term_counts))
        rows = np.repeat(np.arange(len(term_counts), dtype=np.int64), terms_per_doc)
        self.n_docs = len(term_counts)
        doc_freq = np.bincount(columns, minlength=len(vocab))
        self.doc_freq = dict(zip(vocab, doc_freq.tolist()))
        self.doc_freq.pop(_PLACEHOLDER, None)
        if not scorer:
            return self
        lengths = np.bincount(rows, weights=frequencies, minlength=self.n_docs)
        idf = np.log(1 + (self.n_docs - doc_freq + 0.5) / (doc_freq + 0.5)).astype(np.float32)
        norm = self.k1 * ((1 - self.b) + self.b * lengths[rows] / lengths.mean())
        matrix = sparse.csc_matrix(((idf[columns] * (frequencies / (norm + frequencies))).astype(np.float32),
                                    (rows, columns)), shape=(self.n_docs, len(vocab)))
        matrix.sort_indices()
        bm25 = bm25s.BM25(method="lucene", k1=self.k1, b=self.b)
        bm25.scores = {"data": matrix.data, "indices": matrix.indices.astype(np.int32),
                       "indptr": matrix.indptr.astype(np.int64), "num_docs": self.n_docs}
        # bm25s gives the empty token the next id (and no column), as its own index() does.
        bm25.vocab_dict = {**vocab, "": len(vocab)}
        bm25.unique_token_ids_set = set(bm25.vocab_dict.values())
        bm25.nonoccurrence_array = None
        self._bm25 = bm25
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
        stats = {"k1": self.k1, "b": self.b, "concept_weight": self.concept_weight, "n_docs": self.n_docs}
        if self._bm25 is None:  # with a bm25s index the document frequencies are its columns' lengths
            stats["doc_freq"] = self.doc_freq
        (directory / "lexical.json").write_text(json.dumps(stats, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, *, scorer: bool = True) -> LexicalIndex:
        stats = json.loads((directory / "lexical.json").read_text(encoding="utf-8"))
        index = cls(k1=stats["k1"], b=stats["b"], concept_weight=stats.get("concept_weight", 1.0))
        index.n_docs = stats["n_docs"]
        bm25 = bm25s.BM25.load(str(directory / "bm25")) if scorer or "doc_freq" not in stats else None
        if "doc_freq" in stats:
            index.doc_freq = stats["doc_freq"]
        else:
            columns = np.diff(bm25.scores["indptr"]).tolist()
            index.doc_freq = {term: columns[i] for term, i in bm25.vocab_dict.items()
                              if i < len(columns) and term != _PLACEHOLDER}
        index._bm25 = bm25 if scorer else None
        return index
