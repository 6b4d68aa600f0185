"""What serving costs: a real `erp-assist serve` process over a published index, asked golden-set questions over
HTTP one after another (warm), with its memory read from /proc.

Run: .venv/bin/python bench/serving_memory.py [--sizes 0 50000] [--queries 200] [--venv /tmp/lean]
Size 0 is the bundled demo KB; other sizes are synthetic FAQ KBs of that many entries (bench/index_build.py),
built with the product's default settings. Prints suggest p50/p95 (ms, client-side, over HTTP), the server's
RSS after the questions and its peak (VmHWM), and whether torch was ever mapped into it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.index_build import _write_synthetic_faq  # noqa: E402
from bench.synthetic import cpu_note  # noqa: E402
from erp_assist.settings import Settings  # noqa: E402
from tests.live_server import serve_cli  # noqa: E402


def _status_mb(pid: int, field: str) -> float:
    match = re.search(rf"{field}:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else float("nan")


def measure(size: int, queries: int, workdir: Path, venv: Path) -> dict[str, float]:
    from assistant.service import load_or_train_classifier, load_or_train_gate
    from assistant.store import create_key, open_store
    from indexer.build import build_index

    data_dir = ROOT / "data" / "demo"
    if size:
        data_dir = workdir / f"kb-{size}"
        _write_synthetic_faq(data_dir, size)
    settings = Settings(data_dir=data_dir, index_dir=workdir / f"index-{size}",
                        database_url=f"sqlite:///{workdir / f'erp-{size}.db'}", cache_dir=workdir / "cache",
                        rate_limit_per_minute=1_000_000)
    load_or_train_classifier(settings)  # the saved models, trained once if this checkout has none
    load_or_train_gate(settings)
    chunks = build_index(settings).manifest["counts"]["chunks"]
    key = create_key(open_store(settings.database_url), name="bench", role="asker")[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **{
        f"ERP_ASSIST_{name.upper()}": str(getattr(settings, name))
        for name in ("data_dir", "index_dir", "classifier_path", "gate_path", "database_url", "cache_dir",
                     "rate_limit_per_minute")
    }}
    golden = [json.loads(line)["question"] for line in (ROOT / "eval" / "data" / "golden.jsonl").open(encoding="utf-8")]
    asked = (golden * (queries // len(golden) + 1))[:queries]
    started = time.monotonic()
    with serve_cli(env, venv=venv) as (base, server):
        ready_s = time.monotonic() - started
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as client:
            for question in golden[:20]:  # warm-up
                client.post("/v1/suggest", json={"question": question}).raise_for_status()
            times = []
            for question in asked:
                t0 = time.perf_counter()
                client.post("/v1/suggest", json={"question": question}).raise_for_status()
                times.append((time.perf_counter() - t0) * 1000)
        p50, p95 = np.percentile(times, [50, 95])
        torch = "libtorch" in Path(f"/proc/{server.pid}/maps").read_text()
        return {"chunks": chunks, "ready_s": ready_s, "p50_ms": float(p50), "p95_ms": float(p95),
                "rss_mb": _status_mb(server.pid, "VmRSS"), "peak_mb": _status_mb(server.pid, "VmHWM"),
                "torch_mapped": float(torch)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 50_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--venv", type=Path, default=Path(sys.executable).parent.parent,
                        help="the virtual environment whose erp-assist serves (e.g. one made from requirements/run.lock)")
    args = parser.parse_args()
    print(f"erp-assist serve from {args.venv}, {args.queries} golden questions over HTTP after 20 warm-up, "
          f"{cpu_note()}")
    print(f"{'KB':>10} {'chunks':>8} {'ready s':>8} {'p50 ms':>8} {'p95 ms':>8} {'RSS MB':>8} {'peak MB':>8} torch")
    with tempfile.TemporaryDirectory(prefix="erp-serve-") as tmp:
        for size in args.sizes:
            r = measure(size, args.queries, Path(tmp), args.venv)
            name = "demo" if size == 0 else f"syn-{size}"
            print(f"{name:>10} {r['chunks']:>8.0f} {r['ready_s']:>8.1f} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} "
                  f"{r['rss_mb']:>8.0f} {r['peak_mb']:>8.0f} {'yes' if r['torch_mapped'] else 'no'}", flush=True)


if __name__ == "__main__":
    main()
