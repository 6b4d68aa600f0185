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


def _entries(term_counts: Sequence[Mapping[str, int]], vocab: dict[str, int]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Term ids (new terms join ``vocab``), counts and entries per document of these documents' term counts."""
    for counts in term_counts:
        for term in counts:
            vocab.setdefault(term, len(vocab))
    terms = np.fromiter((vocab[term] for counts in term_counts for term in counts), dtype=np.int32)
    counts = np.fromiter((n for counts in term_counts for n in counts.values()), dtype=np.int32, count=len(terms))
    per_document = np.fromiter(map(len, term_counts), dtype=np.int64, count=len(term_counts))
    return terms, counts, per_document


@dataclass(frozen=True)
class TermMatrix:
    """Term counts of ``n_docs`` documents, kept by term (compressed sparse columns): the documents holding
    ``terms[t]`` are ``rows[starts[t]:starts[t + 1]]``, with ``counts`` at the same places.

    That is how bm25s keeps its scores, so BM25 is computed entry by entry with nothing reordered. A rebuild
    starts from the last build's matrix: it renumbers the rows of the chunks it kept, drops those of chunks that
    left (``renumbered``) and adds the new chunks' entries at the end of their terms (``with_documents``); a
    term's rows need not be in order (bm25s adds them up)."""

    terms: list[str]
    starts: np.ndarray  # int64, len(terms) + 1
    rows: np.ndarray  # int32
    counts: np.ndarray  # int32
    n_docs: int

    @classmethod
    def from_counts(cls, term_counts: Sequence[Mapping[str, int]]) -> TermMatrix:
        """The matrix of these documents' term counts (document i is row i)."""
        return cls([], np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32),
                   len(term_counts)).with_documents(term_counts, range(len(term_counts)))

    def with_documents(self, term_counts: Sequence[Mapping[str, int]], rows: Sequence[int]) -> TermMatrix:
        """This matrix with the counts of more documents, at rows ``rows`` (which must hold nothing yet)."""
        if not len(term_counts):
            return self
        vocab = {term: i for i, term in enumerate(self.terms)}
        columns, counts, per_document = _entries(term_counts, vocab)
        document_rows = np.repeat(np.asarray(rows, dtype=np.int32), per_document)
        order = np.argsort(columns, kind="stable")
        columns, counts, document_rows = columns[order], counts[order], document_rows[order]
        added = np.bincount(columns, minlength=len(vocab))
        starts = np.concatenate([self.starts, np.full(len(vocab) - len(self.terms), self.starts[-1])])
        at = starts[columns + 1]  # the end of each term's entries
        starts = starts + np.concatenate([[0], np.cumsum(added)])
        return TermMatrix(list(vocab), starts, np.insert(self.rows, at, document_rows),
                          np.insert(self.counts, at, counts), self.n_docs)

    def renumbered(self, new_rows: np.ndarray, n_docs: int) -> TermMatrix:
        """The matrix with old row r moved to ``new_rows[r]`` of ``n_docs`` rows (-1: dropped)."""
        if len(new_rows) != self.n_docs:
            raise ValueError(f"{len(new_rows)} new row numbers for {self.n_docs} rows")
        if np.array_equal(new_rows, np.arange(self.n_docs)):  # nothing moved or left (entries were added)
            return TermMatrix(self.terms, self.starts, self.rows, self.counts, n_docs)
        moved = new_rows[self.rows]
        kept = moved >= 0
        if kept.all():
            return TermMatrix(self.terms, self.starts, moved, self.counts, n_docs)
        kept_before = np.concatenate([[0], np.cumsum(kept, dtype=np.int64)])
        return TermMatrix(self.terms, kept_before[self.starts], moved[kept], self.counts[kept], n_docs)

    def document_counts(self, documents: Sequence[int]) -> list[dict[str, int]]:
        """The term counts of these documents."""
        wanted = np.asarray(documents, dtype=np.int32)
        places = np.flatnonzero(np.isin(self.rows, wanted))
        columns = np.searchsorted(self.starts, places, side="right") - 1
        found: dict[int, dict[str, int]] = {d: {} for d in wanted.tolist()}
        for row, column, count in zip(self.rows[places].tolist(), columns.tolist(), self.counts[places].tolist()):
            found[row][self.terms[column]] = count
        return [found[d] for d in wanted.tolist()]

    def document_lengths(self) -> np.ndarray:
        """Each document's number of terms, repeats counted."""
        return np.bincount(self.rows, weights=self.counts, minlength=self.n_docs)

    def with_placeholders(self, lengths: np.ndarray) -> TermMatrix:
        """Empty documents hold one placeholder term: bm25s cannot index an empty document, and rows stay aligned.
        ``lengths``: ``document_lengths()``."""
        empty = np.flatnonzero(lengths == 0).astype(np.int32)
        if not len(empty):
            return self
        return TermMatrix([*self.terms, _PLACEHOLDER], np.append(self.starts, self.starts[-1] + len(empty)),
                          np.concatenate([self.rows, empty]),
                          np.concatenate([self.counts, np.ones(len(empty), dtype=np.int32)]), self.n_docs)

    def without_unused_terms(self) -> TermMatrix:
        """Only the terms some document has, in their order (a term no chunk has any more is unknown)."""
        used = np.diff(self.starts) > 0
        if used.all():
            return self
        return TermMatrix([term for term, kept in zip(self.terms, used.tolist()) if kept],
                          np.concatenate([self.starts[:1], self.starts[1:][used]]), self.rows, self.counts,
                          self.n_docs)


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
        lengths = documents.document_lengths()
        documents = documents.with_placeholders(lengths).without_unused_terms()
        lengths = np.maximum(lengths, 1)  # a placeholder counts once
        self.n_docs = documents.n_docs
        doc_freq = np.diff(documents.starts)
        self.doc_freq = dict(zip(documents.terms, doc_freq.tolist()))
        self.doc_freq.pop(_PLACEHOLDER, None)
        if not scorer:
            return self
        # float32 and in place: at 50,000 chunks the matrix has millions of entries, and each pass over them costs.
        idf = np.log(1 + (self.n_docs - doc_freq + 0.5) / (doc_freq + 0.5)).astype(np.float32)
        norm = (self.k1 * ((1 - self.b) + self.b * lengths / lengths.mean())).astype(np.float32)
        scores = np.repeat(idf, doc_freq)
        scores *= documents.counts
        denominators = norm[documents.rows]
        denominators += documents.counts
        scores /= denominators
        bm25 = bm25s.BM25(method="lucene", k1=self.k1, b=self.b)
        bm25.scores = {"data": scores, "indices": documents.rows.astype(np.int32, copy=False),
                       "indptr": documents.starts.astype(np.int64, copy=False), "num_docs": self.n_docs}
        # bm25s gives the empty token the next id (and no column), as its own index() does.
        bm25.vocab_dict = {term: i for i, term in enumerate(documents.terms)}
        bm25.vocab_dict[""] = len(documents.terms)
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
