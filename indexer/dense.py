"""FAISS inner-product index over L2-normalized embeddings (cosine similarity)."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

__all__ = ["DenseIndex"]


class DenseIndex:
    """Exact search (``IndexFlatIP``) below ``hnsw_threshold`` vectors, HNSW above it."""

    def __init__(self, vectors: np.ndarray, hnsw_threshold: int = 200_000) -> None:
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be a 2-D array, got shape {vectors.shape}")
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        dim = self.vectors.shape[1]
        if len(self.vectors) >= hnsw_threshold:
            self.faiss_index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        else:
            self.faiss_index = faiss.IndexFlatIP(dim)
        self.faiss_index.add(self.vectors)

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return int(self.faiss_index.ntotal)

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Row numbers and cosine similarities of the k nearest chunks."""
        k = min(k, len(self))
        if k == 0:
            return []
        scores, rows = self.faiss_index.search(query.reshape(1, -1).astype(np.float32), k)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]

    def similarity(self, query: np.ndarray, rows: list[int]) -> np.ndarray:
        """Cosine similarity of the query to the given rows (for fusing candidates found lexically)."""
        return self.vectors[rows] @ query.astype(np.float32)

    def save(self, directory: Path) -> None:
        faiss.write_index(self.faiss_index, str(directory / "dense.faiss"))
        np.save(directory / "embeddings.npy", self.vectors)

    @classmethod
    def load(cls, directory: Path) -> DenseIndex:
        index = cls.__new__(cls)
        index.vectors = np.load(directory / "embeddings.npy")
        index.faiss_index = faiss.read_index(str(directory / "dense.faiss"))
        return index
