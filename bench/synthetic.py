"""A synthetic knowledge base of any size, made by recombining the demo's real Chinese sentences.

Speed benchmarks need 50k chunks; the demo has 300. Each synthetic chunk joins 2–4 random demo sentences
(with a fresh document number so chunks differ). Vectors are random unit vectors: the benchmarks measure
speed, not quality, and embedding 50k chunks on 2 cores would take longer than the benchmark itself.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from pathlib import Path

import numpy as np

from erp_assist.domain import Chunk, SourceType, content_id
from erp_assist.settings import Settings
from indexer.build import lexical_tokens, publish_build
from indexer.dense import DenseIndex
from indexer.index import CHUNKS, FORMAT_VERSION, MANIFEST
from indexer.lexical import LexicalIndex
from indexer.loaders import load_sources
from indexer.text import TextProcessor

MODULES = ["finance", "purchasing", "inventory", "production", "sales", "hr", "crm", "system"]


def demo_sentences(data_dir: Path) -> list[str]:
    text = "\n".join(d.title + "。" + d.text for d in load_sources(data_dir).documents)
    return [s.strip() for s in re.split(r"(?<=[。！？；\n])", text) if len(s.strip()) >= 8]


def synthetic_chunks(n: int, sentences: list[str], seed: int = 0) -> list[Chunk]:
    rng = random.Random(seed)
    chunks = []
    for i in range(n):
        body = "".join(rng.sample(sentences, rng.randint(2, 4))) + f" 单号 SYN-{i:06d}"
        title = rng.choice(sentences)[:40]
        chunks.append(Chunk(id=content_id("syn", str(i), body), source_type=SourceType.FAQ, source_id=f"syn-{i}",
                            title=title, text=body, module=rng.choice(MODULES)))
    return chunks


def random_unit_vectors(n: int, dimension: int = 384) -> np.ndarray:
    vectors = np.random.default_rng(0).normal(size=(n, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def write_build(backend: str, build_id: str, chunks: list[Chunk], vectors: np.ndarray, processor: TextProcessor,
                settings: Settings) -> tuple[Path, float, float]:
    """Write a build of the chunks for ``backend`` (``faiss`` or ``milvus``) in the normal layout under
    ``settings.index_dir``, unpublished; returns its path and the seconds spent tokenizing and indexing."""
    path = settings.index_dir / "builds" / build_id
    path.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tokens = [lexical_tokens(c, processor, settings.title_weight) for c in chunks]
    tokenize_s = time.perf_counter() - started
    started = time.perf_counter()
    store: dict = {"kind": backend}
    if backend == "faiss":
        lexical = LexicalIndex().fit(tokens)
        DenseIndex(vectors, hnsw_threshold=settings.hnsw_threshold).save(path)
    else:
        from indexer.milvus import MilvusStore

        lexical = LexicalIndex().fit(tokens, scorer=False)
        milvus = MilvusStore(settings)
        name = milvus.collection(settings.tenant, build_id)
        milvus.drop(name)
        milvus.create(name, vectors.shape[1], k1=lexical.k1, b=lexical.b, hnsw=len(chunks) >= settings.hnsw_threshold)
        milvus.write(name, chunks, tokens, lambda rows: vectors[rows])
        store.update(collection=name, tenant=settings.tenant)
    lexical.save(path)
    index_s = time.perf_counter() - started
    with (path / CHUNKS).open("w", encoding="utf-8") as handle:
        for chunk in chunks:
            handle.write(json.dumps(chunk.to_record(), ensure_ascii=False) + "\n")
    manifest = {"format_version": FORMAT_VERSION, "build_id": build_id, "counts": {"chunks": len(chunks)},
                "embedder": {"name": settings.embedder, "dimension": int(vectors.shape[1])}, "synthetic": True,
                "vector_store": store}
    (path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return path, tokenize_s, index_s


def write_synthetic_index(index_dir: Path, chunks: list[Chunk], processor: TextProcessor, settings: Settings,
                          dimension: int = 384) -> str:
    """Write and publish a FAISS build of the synthetic chunks in the normal index layout."""
    settings = settings.model_copy(update={"index_dir": index_dir})
    build_id = f"synthetic-{len(chunks)}"
    write_build("faiss", build_id, chunks, random_unit_vectors(len(chunks), dimension), processor, settings)
    publish_build(settings, build_id, keep=10)
    return build_id


def cpu_note() -> str:
    return f"{os.cpu_count()} CPU cores"
