"""The search backends the retriever calls: FAISS + bm25s files on local disk, or a Milvus collection.

Both answer the same four questions about one build's chunks, addressed by row number (the chunk's position in
``chunks.jsonl``): the best chunks for a token list (BM25, bounded to [0, 1]), the bounded BM25 score of given
rows, the nearest vectors, and the cosine similarity of given rows. Everything above this line — fusion, module
bonus, abstention — is shared, so the two backends rank alike.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from indexer.dense import DenseIndex
from indexer.lexical import LexicalIndex

__all__ = ["LocalBackend", "SearchBackend", "top_rows"]


class SearchBackend(Protocol):
    name: str

    def __len__(self) -> int: ...

    @property
    def dimension(self) -> int: ...

    def lexical_top(self, tokens: list[str], k: int) -> list[tuple[int, float]]:
        """Rows with a positive bounded BM25 score, best first (ties by row), at most k."""

    def lexical_rows(self, tokens: list[str], rows: list[int]) -> dict[int, float]:
        """Bounded BM25 scores of the given rows (0 for rows that match nothing)."""

    def dense_top(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Rows of the k nearest vectors and their cosine similarity, best first."""

    def similarity(self, vector: np.ndarray, rows: list[int]) -> np.ndarray:
        """Cosine similarity of the vector to the given rows."""

    def vectors(self, rows: list[int]) -> np.ndarray:
        """The stored vectors of the given rows."""


def top_rows(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k best positive scores of an array as (row, score), best first, ties by row."""
    k = min(k, len(scores))
    if k <= 0:
        return []
    rows = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    rows = rows[np.lexsort((rows, -scores[rows]))]
    return [(int(r), float(scores[r])) for r in rows if scores[r] > 0]


class LocalBackend:
    """BM25 (bm25s) and FAISS in this process, read from the build directory. (Without ``dense``: a lexical
    variant for evaluation.)"""

    name = "faiss"

    def __init__(self, lexical: LexicalIndex, dense: DenseIndex | None) -> None:
        self.lexical = lexical
        self._dense = dense

    @property
    def dense(self) -> DenseIndex:
        if self._dense is None:
            raise ValueError("this lexical-only backend has no vectors")
        return self._dense

    def __len__(self) -> int:
        return len(self._dense) if self._dense is not None else self.lexical.n_docs

    @property
    def dimension(self) -> int:
        return self._dense.dimension if self._dense is not None else 0

    def lexical_top(self, tokens: list[str], k: int) -> list[tuple[int, float]]:
        return top_rows(self.lexical.scores(tokens)[1], k)

    def lexical_rows(self, tokens: list[str], rows: list[int]) -> dict[int, float]:
        bounded = self.lexical.scores(tokens)[1]
        return {r: float(bounded[r]) for r in rows}

    def dense_top(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        return self.dense.search(vector, k)

    def similarity(self, vector: np.ndarray, rows: list[int]) -> np.ndarray:
        return self.dense.similarity(vector, rows)

    def vectors(self, rows: list[int]) -> np.ndarray:
        return self.dense.vectors[rows]
