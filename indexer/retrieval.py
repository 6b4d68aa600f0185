"""Lexical, dense and fused retrieval over a loaded ``KnowledgeIndex``.

Fusion is weighted score fusion over bounded scores by default (BM25 share of matched evidence, cosine
similarity), or reciprocal-rank fusion. The dense weight is a setting: with an embedder that cannot read
Chinese it should be 0, and evaluation — not belief — decides it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from erp_assist.domain import Hit
from erp_assist.settings import Settings
from indexer.embedding import Embedder
from indexer.index import KnowledgeIndex
from indexer.text import TextProcessor

__all__ = ["Retriever", "FusionConfig", "FALLBACK_ABSTAIN_THRESHOLD"]


# The abstention bar when neither the settings nor the build chose one. The build's rule (eval.tuning: the
# highest bar that still answers 95 % of answerable validation questions) gives 0.122 on
# eval/dev/abstain_dev.jsonl: 152 questions written from the demo knowledge base, 71 with no answer in it.
FALLBACK_ABSTAIN_THRESHOLD = 0.12


@dataclass(frozen=True)
class FusionConfig:
    method: Literal["rrf", "weighted"] = "weighted"
    bm25_weight: float = 1.0
    dense_weight: float = 0.0
    rrf_k: int = 60
    candidate_k: int = 50
    module_boost: float = 0.0
    abstain_threshold: float = FALLBACK_ABSTAIN_THRESHOLD

    @classmethod
    def from_settings(cls, settings: Settings, manifest: dict | None = None) -> FusionConfig:
        """Fusion as configured; an unset dense weight or abstention bar takes the one the build chose on
        validation data."""
        chosen = (manifest or {}).get("fusion") or {}
        dense = settings.dense_weight
        if dense is None:
            dense = float(chosen.get("dense_weight", 0.0))
        abstain = settings.abstain_threshold
        if abstain is None:
            abstain = float(chosen.get("abstain_threshold", FALLBACK_ABSTAIN_THRESHOLD))
        return cls(settings.fusion, settings.bm25_weight, dense, settings.rrf_k, settings.candidate_k,
                   settings.module_boost, abstain)


class Retriever:
    """Search one index through its backend. Thread-safe for reads; build a new Retriever to switch index."""

    def __init__(self, index: KnowledgeIndex, processor: TextProcessor, embedder: Embedder | None) -> None:
        self.index = index
        self.processor = processor
        self.embedder = embedder if index.has_vectors else None  # a BM25-only build has no vectors to search

    def lexical(self, query: str, k: int) -> list[Hit]:
        chunks = self.index.chunks
        found = self.index.backend.lexical_top(self.processor.tokenize(query), k)
        return [Hit(chunks[row], score, lexical=score) for row, score in found]

    def dense(self, query: str, k: int) -> list[Hit]:
        if self.embedder is None:
            raise ValueError("dense retrieval needs an embedder and a build with vectors "
                             "(ERP_ASSIST_DENSE_VECTORS=always)")
        vector = self.embedder.encode([query])[0]
        chunks = self.index.chunks
        return [Hit(chunks[row], score, dense=score) for row, score in self.index.backend.dense_top(vector, k)]

    def hybrid(self, query: str, k: int, config: FusionConfig) -> list[Hit]:
        """Fuse lexical and dense candidates. (``config.module_boost`` is the assistant's to apply, once it
        knows the question's module.)"""
        backend = self.index.backend
        tokens = self.processor.tokenize(query)
        lex_found = backend.lexical_top(tokens, config.candidate_k)
        lexical = dict(lex_found)
        use_dense = config.dense_weight > 0 and self.embedder is not None
        dense_rows: list[int] = []
        dense_sim: dict[int, float] = {}
        rows = [r for r, _ in lex_found]
        if use_dense:
            vector = self.embedder.encode([query])[0]  # type: ignore[union-attr]
            dense_rows = [r for r, _ in backend.dense_top(vector, config.candidate_k)]
            rows = list(dict.fromkeys([*rows, *dense_rows]))
            dense_sim = dict(zip(rows, map(float, backend.similarity(vector, rows))))
            lexical.update(backend.lexical_rows(tokens, [r for r in dense_rows if r not in lexical]))

        if config.method == "rrf":
            lex_rank = {r: i for i, (r, _) in enumerate(lex_found)}
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
                r: (config.bm25_weight * lexical.get(r, 0.0) + config.dense_weight * max(dense_sim.get(r, 0.0), 0.0))
                / total
                for r in rows
            }
        chunks = self.index.chunks
        ranked = sorted(fused, key=lambda r: (-fused[r], r))[:k]
        return [Hit(chunks[r], fused[r], lexical=lexical.get(r, 0.0), dense=dense_sim.get(r, 0.0)) for r in ranked]
