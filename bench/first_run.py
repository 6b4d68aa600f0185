"""A new user's first run: `make run` in a fresh clone, timed until the API answers, step by step.

Run (any Python 3.11, no venv needed): python3 bench/first_run.py [--ref HEAD] [--ref bd2470a] [--cold] [--port 8765]
Clones each git ref of this repository into a temporary directory, runs `make run` there (install, train the
classifier, build the demo index, answer a question, serve) and polls /readyz. Prints, per ref, the seconds each
step took (from the timestamps of make's own command lines), the time until the API served, the venv size and
the serving process's RSS. ``--cold`` installs with no package cache (PIP_NO_CACHE_DIR=1, UV_NO_CACHE=1). Refs run one
after the other on the same machine, so compare them within one run.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# make echoes each command before running it; the step is named after the command it starts.
STEPS = (("pip install", "install"), ("train-classifier", "train"), ("erp-assist index", "index"),
         ("erp-assist ask", "ask"), ("keys create", "key"), ("erp-assist serve", "serve"))


def _dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


def _rss_mb(group: int) -> float:
    """The largest RSS among the processes of make's process group: the serving process."""
    listed = subprocess.run(["ps", "-o", "rss=", "-g", str(group)], capture_output=True, text=True).stdout.split()
    return max(map(int, listed), default=0) / 1024


def first_run(ref: str, port: int, cold: bool, workdir: Path, timeout_s: float) -> dict[str, float]:
    clone = workdir / ref.replace("/", "_")
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", ref], check=True)
    shared = ROOT.parent / "shared"
    if shared.exists() and not (workdir / "shared").exists():
        (workdir / "shared").symlink_to(shared)
    env = {**os.environ, "ERP_ASSIST_API_PORT": str(port), "HF_HUB_OFFLINE": "1"}
    if cold:
        env["PIP_NO_CACHE_DIR"] = env["UV_NO_CACHE"] = "1"
    started = time.monotonic()
    marks: dict[str, float] = {}
    make = subprocess.Popen(["make", "run"], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    served = None
    log: list[str] = []
    os.set_blocking(make.stdout.fileno(), False)  # type: ignore[union-attr]
    try:
        while time.monotonic() - started < timeout_s:
            for line in iter(make.stdout.readline, ""):  # type: ignore[union-attr]
                log.append(line)
                for needle, step in STEPS:
                    if needle in line and step not in marks and line.startswith((".venv", "\t", "python")):
                        marks[step] = time.monotonic() - started
            if make.poll() is not None:
                raise RuntimeError(f"make run ({ref}) exited with {make.returncode}:\n{''.join(log[-30:])}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        served = time.monotonic() - started
                        break
            except OSError:  # not listening yet, or 503 while loading
                pass
            time.sleep(0.5)
        if served is None:
            raise RuntimeError(f"make run ({ref}) did not serve within {timeout_s:.0f} s")
        rss = _rss_mb(make.pid)
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        make.wait(timeout=30)
    order = [step for _, step in STEPS if step in marks]
    spans = {step: (marks[order[i + 1]] if i + 1 < len(order) else served) - marks[step]
             for i, step in enumerate(order)}
    return {"served_s": served, **{f"{k}_s": v for k, v in spans.items()}, "venv_mb": _dir_mb(clone / ".venv"),
            "serve_rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", action="append", help="git ref to clone and run (repeatable; default HEAD)")
    parser.add_argument("--cold", action="store_true", help="install with no package cache")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPU cores")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for ref in args.ref or ["HEAD"]:
            rows[ref] = first_run(ref, args.port, args.cold, Path(tmp), args.timeout)
            print(ref, {k: round(v, 1) for k, v in rows[ref].items()}, flush=True)
    columns = sorted({k for r in rows.values() for k in r}, key=lambda k: (k != "served_s", k))
    print(f"{'ref':>12} " + " ".join(f"{c:>14}" for c in columns))
    for ref, row in rows.items():
        print(f"{ref:>12} " + " ".join(f"{row.get(c, float('nan')):>14.1f}" for c in columns))
    print("cache:", "cold (PIP_NO_CACHE_DIR=1, UV_NO_CACHE=1)" if args.cold else "warm")


if __name__ == "__main__":
    main()
