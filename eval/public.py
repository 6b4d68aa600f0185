"""Optional public benchmarks from ../shared/data: AFQMC paraphrase pairs and the Odoo 16 zh_CN docs.

Both are built as in-memory corpora on the spot; when the files are absent the caller gets ``None`` and says so.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from erp_assist.domain import Chunk, Document, SourceType
from eval.dataset import GoldenQuestion, load_dataset
from indexer.chunking import chunk_documents

__all__ = ["Benchmark", "afqmc_benchmark", "odoo_benchmark", "ODOO_QUESTIONS"]

ODOO_QUESTIONS = Path(__file__).resolve().parent / "data" / "odoo_questions.jsonl"


@dataclass
class Benchmark:
    name: str
    chunks: list[Chunk]
    questions: list[GoldenQuestion]
    sha256: str
    problems: list[str] = field(default_factory=list)


def afqmc_benchmark(path: Path, limit: int | None = None) -> Benchmark | None:
    """Index every distinct sentence2 (plus negative pairs' sentence1 as distractors); query with the
    sentence1 of each positive pair; its own sentence2 is the one relevant answer."""
    if not path.is_file():
        return None
    raw = path.read_bytes()
    pairs = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    positives = [p for p in pairs if str(p["label"]) == "1"]
    queries = {p["sentence1"] for p in positives}
    texts: dict[str, str] = {}
    for p in pairs:
        texts.setdefault(p["sentence2"], f"afqmc-{len(texts)}")
        # A negative pair's first sentence is a distractor, unless it is itself a query (it would find itself).
        if str(p["label"]) == "0" and p["sentence1"] not in queries:
            texts.setdefault(p["sentence1"], f"afqmc-{len(texts)}")
    documents = [Document(SourceType.FAQ, doc_id, text, text) for text, doc_id in texts.items()]
    chunks = chunk_documents(documents)
    questions = [
        GoldenQuestion(f"afqmc-q{i}", p["sentence1"], (f"kb://faq/{texts[p['sentence2']]}",))
        for i, p in enumerate(positives)
        if p["sentence1"] != p["sentence2"]
    ]
    return Benchmark("afqmc", chunks, questions[:limit] if limit else questions, hashlib.sha256(raw).hexdigest())


def odoo_benchmark(corpus_dir: Path, questions_path: Path = ODOO_QUESTIONS, chunk_size: int = 400,
                   chunk_overlap: int = 40) -> Benchmark | None:
    """The 207 Odoo pages as SOP documents, queried with user-phrased questions labelled with page ids."""
    if not corpus_dir.is_dir() or not questions_path.is_file():
        return None
    from indexer.loaders import load_sop_tree

    loaded = load_sop_tree(corpus_dir)
    chunks = chunk_documents(loaded.documents, chunk_size, chunk_overlap)
    known = {c.uri.split("#")[0] for c in chunks}
    dataset = load_dataset(questions_path, known_sources=known)
    return Benchmark("odoo", chunks, dataset.questions, dataset.sha256, dataset.problems)
