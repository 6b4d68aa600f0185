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
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np
from scipy import sparse

from erp_assist.domain import Chunk

# The vocabulary packs' concept-token prefix (indexer.vocab.CONCEPT_PREFIX; not imported: vocab imports text).
CONCEPT_PREFIX = "~"

__all__ = ["LexicalIndex", "TermMatrix", "chunk_term_counts", "expand"]

# An empty document would break bm25s; a single placeholder token keeps row numbers aligned.
_PLACEHOLDER = "\x00"


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


@dataclass(frozen=True)
class TermMatrix:
    """Term counts of documents as a sparse matrix (a row per document, a column per term in ``terms``).

    A rebuild takes the rows of unchanged chunks from the last build's matrix (``extended``, ``take``) instead of
    assembling every chunk's counts again."""

    counts: sparse.csr_matrix
    terms: list[str]

    @classmethod
    def from_counts(cls, term_counts: Sequence[Mapping[str, int]], terms: Sequence[str] = ()) -> TermMatrix:
        """The matrix of these documents' counts; its columns start with ``terms`` (new terms are appended)."""
        vocab = {term: i for i, term in enumerate(terms)}
        for counts in term_counts:
            for term in counts:
                vocab.setdefault(term, len(vocab))
        columns = np.fromiter((vocab[term] for counts in term_counts for term in counts), dtype=np.int32)
        frequencies = np.fromiter((n for counts in term_counts for n in counts.values()), dtype=np.int32,
                                  count=len(columns))
        indptr = np.zeros(len(term_counts) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, term_counts), dtype=np.int64, count=len(term_counts)), out=indptr[1:])
        counts = sparse.csr_matrix((frequencies, columns, indptr), shape=(len(term_counts), len(vocab)))
        return cls(counts, list(vocab))

    @property
    def n_docs(self) -> int:
        return self.counts.shape[0]

    def row(self, i: int) -> dict[str, int]:
        """Document ``i``'s term counts."""
        start, end = self.counts.indptr[i], self.counts.indptr[i + 1]
        return {self.terms[j]: int(n) for j, n in zip(self.counts.indices[start:end], self.counts.data[start:end])}

    def take(self, rows: Sequence[int]) -> TermMatrix:
        """These rows, in this order."""
        rows = np.asarray(rows, dtype=np.int64)
        if np.array_equal(rows, np.arange(len(rows))):  # the first rows (a rebuild after entries were added)
            return self if len(rows) == self.n_docs else TermMatrix(self.counts[:len(rows)], self.terms)
        return TermMatrix(self.counts[rows], self.terms)

    def extended(self, below: TermMatrix) -> TermMatrix:
        """This matrix with ``below``'s rows added under it; ``below``'s columns start with this one's terms."""
        if below.terms[:len(self.terms)] != self.terms:
            raise ValueError("the rows below must number their terms as this matrix does")
        if not below.n_docs:
            return self
        width = len(below.terms)
        return TermMatrix(sparse.vstack([sparse.csr_matrix(self.counts, shape=(self.n_docs, width)), below.counts],
                                        format="csr"), below.terms)

    def with_placeholders(self) -> TermMatrix:
        """Empty documents hold one placeholder term: bm25s cannot index an empty document, and rows stay aligned."""
        empty = np.flatnonzero(np.diff(self.counts.indptr) == 0)
        if not len(empty):
            return self
        terms = [*self.terms, _PLACEHOLDER]
        filler = sparse.csr_matrix((np.ones(len(empty), dtype=self.counts.dtype),
                                    (empty, np.full(len(empty), len(self.terms)))), shape=(self.n_docs, len(terms)))
        return TermMatrix(sparse.csr_matrix(self.counts, shape=filler.shape) + filler, terms)

    def without_unused_terms(self) -> TermMatrix:
        """Only the columns some document uses, in their order (a term no chunk has any more is unknown)."""
        used = np.bincount(self.counts.indices, minlength=len(self.terms)) > 0
        if used.all():
            return self
        renumbered = (np.cumsum(used) - 1).astype(np.int32)  # keeps the columns' order: rows stay sorted as they were
        counts = sparse.csr_matrix((self.counts.data, renumbered[self.counts.indices], self.counts.indptr),
                                   shape=(self.n_docs, int(used.sum())))
        return TermMatrix(counts, [term for term, kept in zip(self.terms, used.tolist()) if kept])


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
        """``fit`` from each document's term counts."""
        return self.fit_matrix(TermMatrix.from_counts(term_counts), scorer=scorer)

    def fit_matrix(self, documents: TermMatrix, *, scorer: bool = True) -> LexicalIndex:
        """``fit`` from a term-count matrix (what a build assembles from its cache).

        The score matrix is the one bm25s's Lucene variant builds (``idf · tf / (tf + k1·(1 − b + b·dl/avgdl))``,
        one column per term), computed with numpy over the counts instead of bm25s's loop over every token."""
        if not documents.n_docs:
            raise ValueError("cannot build a BM25 index over zero chunks; add FAQ, SOP or chat sources")
        documents = documents.with_placeholders().without_unused_terms()
        counts = documents.counts
        vocab = {term: i for i, term in enumerate(documents.terms)}
        self.n_docs = documents.n_docs
        doc_freq = np.bincount(counts.indices, minlength=len(vocab))
        self.doc_freq = dict(zip(documents.terms, doc_freq.tolist()))
        self.doc_freq.pop(_PLACEHOLDER, None)
        if not scorer:
            return self
        # float32 and in place: at 50,000 chunks the matrix has millions of entries, and every temporary costs.
        frequencies = counts.data.astype(np.float32)
        lengths = np.add.reduceat(counts.data, counts.indptr[:-1]).astype(np.float64)  # no empty rows (placeholders)
        idf = np.log(1 + (self.n_docs - doc_freq + 0.5) / (doc_freq + 0.5)).astype(np.float32)
        norm = (self.k1 * ((1 - self.b) + self.b * lengths / lengths.mean())).astype(np.float32)
        denominators = np.repeat(norm, np.diff(counts.indptr))
        denominators += frequencies
        scores = idf[counts.indices]
        scores *= frequencies
        scores /= denominators
        matrix = sparse.csr_matrix((scores, counts.indices, counts.indptr), shape=counts.shape).tocsc()
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
