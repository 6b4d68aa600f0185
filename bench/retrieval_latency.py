"""BM25 query latency over a 50k-chunk synthetic corpus: words + char n-grams (ours) vs. words only.

Run: .venv/bin/python bench/retrieval_latency.py [--chunks 50000] [--queries 300]
Prints p50/p95/p99 per tokenization and the ratio of ours to the words-only baseline, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.synthetic import cpu_note, demo_sentences, synthetic_chunks  # noqa: E402
from erp_assist.settings import Settings  # noqa: E402
from indexer.build import lexical_tokens  # noqa: E402
from indexer.lexical import LexicalIndex  # noqa: E402
from indexer.text import TextProcessor  # noqa: E402


def measure(processor: TextProcessor, chunks, questions: list[str], settings: Settings) -> dict[str, float]:
    started = time.perf_counter()
    index = LexicalIndex().fit([lexical_tokens(c, processor, settings.title_weight) for c in chunks])
    build_s = time.perf_counter() - started
    times = []
    for question in questions:
        started = time.perf_counter()
        _, bounded = index.scores(processor.tokenize(question))
        np.argpartition(-bounded, 50)[:50]
        times.append((time.perf_counter() - started) * 1000)
    p50, p95, p99 = np.percentile(times, [50, 95, 99])
    return {"build_s": build_s, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    settings = Settings()
    chunks = synthetic_chunks(args.chunks, demo_sentences(ROOT / "data" / "demo"))
    golden = [json.loads(line)["question"] for line in (ROOT / "eval" / "data" / "golden.jsonl").open(encoding="utf-8")]
    questions = (golden * (args.queries // len(golden) + 1))[: args.queries]
    print(f"BM25 over {len(chunks)} synthetic chunks, {len(questions)} golden questions, {cpu_note()}")
    results = {}
    for name, processor in (("words only (baseline)", TextProcessor(unigram_weight=0, bigram_weight=0)),
                            ("words + char 1-2 grams (ours)", TextProcessor.from_settings(settings))):
        processor.warm_up()
        results[name] = measure(processor, chunks, questions, settings)
        r = results[name]
        print(f"{name:32s} build {r['build_s']:6.1f} s   p50 {r['p50_ms']:6.2f} ms   p95 {r['p95_ms']:6.2f} ms"
              f"   p99 {r['p99_ms']:6.2f} ms")
    base, ours = results["words only (baseline)"], results["words + char 1-2 grams (ours)"]
    print(f"ratio ours/baseline: p50 {ours['p50_ms'] / base['p50_ms']:.2f}x   p95 {ours['p95_ms'] / base['p95_ms']:.2f}x")


if __name__ == "__main__":
    main()
