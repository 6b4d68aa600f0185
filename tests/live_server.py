"""A real uvicorn server on 127.0.0.1 in a background thread, for tests that need real sockets and real
concurrency (a TestClient calls the app one request at a time)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

__all__ = ["free_port", "serve_cli", "serve_in_thread"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL once /healthz answers."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"the test server on {base} did not start")
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serve_cli(env: dict[str, str], *, workers: int = 1, venv: Path | None = None,
              timeout_s: float = 180) -> Iterator[tuple[str, subprocess.Popen]]:
    """`erp-assist serve` in processes of its own (real imports, real workers) until the block ends; yields its
    base URL and the process once /readyz answers 200. ``venv`` picks the installation that serves."""
    bin_dir = (venv / "bin") if venv is not None else Path(sys.executable).parent
    cli = shutil.which("erp-assist", path=str(bin_dir)) or "erp-assist"
    port = free_port()
    server = subprocess.Popen([cli, "serve", "--workers", str(workers), "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"erp-assist serve did not start: {server.stderr.read().decode()[-2000:]}")
            time.sleep(0.3)
        yield base, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
