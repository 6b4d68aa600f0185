"""FAISS + bm25s vs. Milvus Lite: index build time, suggest latency and memory, at several corpus sizes.

Run: .venv/bin/python bench/backends.py [--sizes 50000 500000] [--queries 100] [--dense-weight 0]
(with ERP_ASSIST_MILVUS_URI / ERP_ASSIST_MILVUS_TOKEN set, against that Milvus server instead of Milvus Lite)

Each (backend, size) runs in its own process so its peak memory (max RSS: chunks, index, MiniLM and the
classifier) is its own. Chunks are synthetic (demo sentences recombined, see bench/synthetic.py) with random unit
vectors: embedding chunks costs the same on both backends and is left out of "index build". Latency is
``Assistant.suggest`` (classify, rank, draft: what ``POST /v1/suggest`` runs, without HTTP and SQLite) on
golden-set questions. ``--dense-weight 0`` is what is served with MiniLM; a positive weight also exercises each
backend's vector search (the question is then embedded with MiniLM, the same cost on both).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.synthetic import cpu_note, demo_sentences, random_unit_vectors, synthetic_chunks, write_build  # noqa: E402
from erp_assist.settings import Settings  # noqa: E402


def run_one(backend: str, size: int, queries: int, dense_weight: float, workdir: Path) -> dict[str, float]:
    """Build one backend's index, load it into the assistant and time ``Assistant.suggest`` in this process."""
    from assistant.service import Assistant
    from indexer.text import TextProcessor

    # A Milvus server named in ERP_ASSIST_MILVUS_URI is benchmarked as it is; otherwise Milvus Lite in a temp file.
    uri = os.environ.get("ERP_ASSIST_MILVUS_URI") or str(workdir / "milvus.db")
    settings = Settings(vector_store=backend, milvus_uri=uri, index_dir=workdir,
                        dense_weight=dense_weight)
    chunks = synthetic_chunks(size, demo_sentences(ROOT / "data" / "demo"))
    processor = TextProcessor.from_settings(settings)
    processor.warm_up()
    path, tokenize_s, index_s = write_build(backend, f"bench-{backend}-{size}", chunks, random_unit_vectors(size),
                                            processor, settings)
    started = time.perf_counter()
    assistant = Assistant(settings).load(build=path)
    load_s = time.perf_counter() - started

    golden = [json.loads(line)["question"] for line in (ROOT / "eval" / "data" / "golden.jsonl").open(encoding="utf-8")]
    questions = (golden * (queries // len(golden) + 1))[:queries]
    assistant.suggest(questions[0])  # warm-up: first-query caches
    times = []
    for question in questions:
        started = time.perf_counter()
        assistant.suggest(question)
        times.append((time.perf_counter() - started) * 1000)
    p50, p95 = np.percentile(times, [50, 95])
    return {"tokenize_s": tokenize_s, "build_s": index_s, "load_s": load_s, "p50_ms": float(p50),
            "p95_ms": float(p95), "rss_mb": _max_rss_mb()}


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 500_000])
    parser.add_argument("--backends", nargs="+", default=["faiss", "milvus"])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--dense-weight", type=float, default=0.0)
    parser.add_argument("--one", nargs=2, metavar=("BACKEND", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory(prefix="erp-bench-") as tmp:
            result = run_one(args.one[0], int(args.one[1]), args.queries, args.dense_weight, Path(tmp))
        print("RESULT " + json.dumps(result))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    console.print(f"Assistant.suggest (dense weight {args.dense_weight}), {args.queries} golden questions, {cpu_note()}")
    rows: dict[tuple[str, int], dict[str, float]] = {}
    for size in args.sizes:
        for backend in args.backends:
            console.print(f"[dim]{backend} × {size:,} chunks …[/dim]")
            done = subprocess.run([sys.executable, __file__, "--one", backend, str(size), "--queries", str(args.queries),
                                   "--dense-weight", str(args.dense_weight)], capture_output=True, text=True)
            line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                console.print(f"[red]{backend} × {size} failed:[/red] {done.stderr[-2000:]}")
                continue
            rows[backend, size] = json.loads(line[7:])
            console.print(f"[dim]{backend} × {size:,}: {line[7:]}[/dim]")  # kept if a later, larger run is killed
    table = Table("backend", "chunks", "tokenize s", "index build s", "load s", "suggest p50 ms", "p95 ms",
                  "max RSS MB", "× FAISS p95", "× FAISS build")
    for (backend, size), r in rows.items():
        base = rows.get(("faiss", size))
        table.add_row(backend, f"{size:,}", f"{r['tokenize_s']:.1f}", f"{r['build_s']:.1f}", f"{r['load_s']:.1f}", f"{r['p50_ms']:.1f}",
                      f"{r['p95_ms']:.1f}", f"{r['rss_mb']:.0f}",
                      f"{r['p95_ms'] / base['p95_ms']:.1f}" if base else "–",
                      f"{r['build_s'] / base['build_s']:.1f}" if base else "–")
    console.print(table)


if __name__ == "__main__":
    main()
