"""Lexical, dense and fused retrieval over a loaded ``KnowledgeIndex``.

Fusion is weighted score fusion over bounded scores by default (BM25 share of matched evidence, cosine
similarity), or reciprocal-rank fusion. The dense weight is a setting: with an embedder that cannot read
Chinese it should be 0, and evaluation — not belief — decides it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from erp_assist.domain import Hit
from erp_assist.settings import Settings
from indexer.embedding import Embedder
from indexer.index import KnowledgeIndex
from indexer.text import TextProcessor

__all__ = ["Retriever", "FusionConfig"]


@dataclass(frozen=True)
class FusionConfig:
    method: Literal["rrf", "weighted"] = "weighted"
    bm25_weight: float = 1.0
    dense_weight: float = 0.0
    rrf_k: int = 60
    candidate_k: int = 50
    module_boost: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings, manifest: dict | None = None) -> FusionConfig:
        """Fusion as configured; an unset dense weight takes the one the build chose on validation data."""
        dense = settings.dense_weight
        if dense is None:
            dense = float(((manifest or {}).get("fusion") or {}).get("dense_weight", 0.0))
        return cls(settings.fusion, settings.bm25_weight, dense, settings.rrf_k, settings.candidate_k,
                   settings.module_boost)


class Retriever:
    """Search one index. Thread-safe for reads; build a new Retriever to switch index."""

    def __init__(self, index: KnowledgeIndex, processor: TextProcessor, embedder: Embedder | None) -> None:
        self.index = index
        self.processor = processor
        self.embedder = embedder

    def lexical(self, query: str, k: int) -> list[Hit]:
        _, bounded = self.index.lexical.scores(self.processor.tokenize(query))
        return self._top(bounded, k, kind="lexical")

    def dense(self, query: str, k: int) -> list[Hit]:
        if self.embedder is None:
            raise ValueError("dense retrieval needs an embedder; pass one to Retriever")
        vector = self.embedder.encode([query])[0]
        chunks = self.index.chunks
        return [Hit(chunks[row], score, dense=score) for row, score in self.index.dense.search(vector, k)]

    def _top(self, scores: np.ndarray, k: int, kind: str) -> list[Hit]:
        k = min(k, len(scores))
        rows = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        rows = rows[np.argsort(-scores[rows], kind="stable")]
        chunks = self.index.chunks
        return [Hit(chunks[r], float(scores[r]), **{kind: float(scores[r])}) for r in rows if scores[r] > 0]

    def hybrid(self, query: str, k: int, config: FusionConfig) -> list[Hit]:
        """Fuse lexical and dense candidates. (``config.module_boost`` is the assistant's to apply, once it
        knows the question's module.)"""
        _, lexical = self.index.lexical.scores(self.processor.tokenize(query))
        n = len(lexical)
        cand = min(config.candidate_k, n)
        lex_rows = np.argsort(-lexical, kind="stable")[:cand]
        use_dense = config.dense_weight > 0 and self.embedder is not None
        dense_rows: list[int] = []
        dense_sim: dict[int, float] = {}
        if use_dense:
            vector = self.embedder.encode([query])[0]  # type: ignore[union-attr]
            found = self.index.dense.search(vector, cand)
            dense_rows = [r for r, _ in found]
            rows = list(dict.fromkeys([*map(int, lex_rows), *dense_rows]))
            dense_sim = dict(zip(rows, map(float, self.index.dense.similarity(vector, rows))))
        else:
            rows = [int(r) for r in lex_rows if lexical[r] > 0]

        if config.method == "rrf":
            lex_rank = {int(r): i for i, r in enumerate(lex_rows) if lexical[r] > 0}
            dense_rank = {r: i for i, r in enumerate(dense_rows)}
            fused = {
                r: (config.bm25_weight / (config.rrf_k + lex_rank[r] + 1) if r in lex_rank else 0.0)
                + (config.dense_weight / (config.rrf_k + dense_rank[r] + 1) if r in dense_rank else 0.0)
                for r in rows
            }
            # RRF values are tiny; rescale so the best possible score (rank 1 in both) is 1.
            top = (config.bm25_weight + (config.dense_weight if use_dense else 0)) / (config.rrf_k + 1)
            fused = {r: s / top for r, s in fused.items()}
        else:
            total = config.bm25_weight + (config.dense_weight if use_dense else 0.0)
            fused = {
                r: (config.bm25_weight * float(lexical[r]) + config.dense_weight * max(dense_sim.get(r, 0.0), 0.0))
                / total
                for r in rows
            }
        chunks = self.index.chunks
        ranked = sorted(fused, key=lambda r: -fused[r])[:k]
        return [Hit(chunks[r], fused[r], lexical=float(lexical[r]), dense=dense_sim.get(r, 0.0)) for r in ranked]
