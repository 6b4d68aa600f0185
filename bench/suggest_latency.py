"""Latency of POST /v1/suggest over real HTTP against a running server, beside bare retrieval in the same run.

Run: .venv/bin/python bench/suggest_latency.py [--requests 300] [--chunks 50000]
Starts `erp-assist serve` (uvicorn, one process) on 127.0.0.1 twice — on the demo index, then on a synthetic
index of --chunks chunks — sends golden questions one at a time, and prints p50/p95/p99 for HTTP and for the
bare hybrid retrieval on the same index, so the overhead (classification, drafting, SQLite, HTTP) is visible.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.synthetic import cpu_note, demo_sentences, synthetic_chunks, write_synthetic_index  # noqa: E402
from erp_assist.settings import Settings  # noqa: E402
from indexer.text import TextProcessor  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pcts(values: list[float]) -> str:
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return f"p50 {p50:6.2f} ms   p95 {p95:6.2f} ms   p99 {p99:6.2f} ms"


def bare_retrieval(settings: Settings, questions: list[str]) -> list[float]:
    from assistant.service import Assistant
    from indexer.retrieval import FusionConfig

    assistant = Assistant(settings).load()
    config = FusionConfig.from_settings(settings, assistant.index.manifest)
    times = []
    for q in questions:
        started = time.perf_counter()
        assistant.serving.retriever.hybrid(q, settings.candidate_k, config)
        times.append((time.perf_counter() - started) * 1000)
    return times


def http_latency(env: dict[str, str], questions: list[str]) -> list[float]:
    from assistant.store import create_key, open_store

    _, key = create_key(open_store(env["ERP_ASSIST_DATABASE_URL"]), name="bench", role="asker")
    port = _free_port()
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "erp-assist"), "serve", "--port", str(port)],
                              env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=30) as client:
            for _ in range(300):
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            else:
                raise RuntimeError("server did not become ready")
            times = []
            for q in questions:
                started = time.perf_counter()
                response = client.post("/v1/suggest", json={"question": q})
                times.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
            return times
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--chunks", type=int, default=50_000)
    args = parser.parse_args()
    golden = [json.loads(line)["question"] for line in (ROOT / "eval" / "data" / "golden.jsonl").open(encoding="utf-8")]
    questions = (golden * (args.requests // len(golden) + 1))[: args.requests]
    # Generous rate limit: the benchmark is one client asking as fast as it can.
    common = {"ERP_ASSIST_RATE_LIMIT_PER_MINUTE": str(args.requests * 10), "HF_HUB_OFFLINE": "1"}
    print(f"{len(questions)} sequential requests, {cpu_note()}")
    with tempfile.TemporaryDirectory() as tmp:
        demo_settings = Settings()
        env = {**common, "ERP_ASSIST_DATABASE_URL": f"sqlite:///{tmp}/demo.db"}
        print(f"demo index ({demo_settings.index_dir}):")
        print(f"  bare retrieval  {_pcts(bare_retrieval(demo_settings, questions))}")
        print(f"  HTTP suggest    {_pcts(http_latency(env, questions))}")

        index_dir = Path(tmp) / "synthetic-index"
        settings = Settings(index_dir=index_dir)
        processor = TextProcessor.from_settings(settings)
        started = time.perf_counter()
        write_synthetic_index(index_dir, synthetic_chunks(args.chunks, demo_sentences(ROOT / "data" / "demo")),
                              processor, settings)
        print(f"synthetic index, {args.chunks} chunks (built in {time.perf_counter() - started:.0f} s):")
        print(f"  bare retrieval  {_pcts(bare_retrieval(settings, questions))}")
        env = {**common, "ERP_ASSIST_INDEX_DIR": str(index_dir), "ERP_ASSIST_DATABASE_URL": f"sqlite:///{tmp}/syn.db"}
        print(f"  HTTP suggest    {_pcts(http_latency(env, questions))}")


if __name__ == "__main__":
    main()
