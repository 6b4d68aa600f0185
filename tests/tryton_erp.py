"""A real Tryton ERP for the tests and bench/erp_lookup.py: a SQLite database with stock, purchase and sale
activated, a small scripted company (products with codes, two warehouses, stock moves, purchase and sale orders
in several states, a few in trouble), and trytond's own HTTP server on a free port.

Creating the database takes ~30 s on a shared core, so ``template_database`` builds it once per day and
version under a cache directory; every server runs on its own copy (``TrytonServer``), so a test that changes
the ERP (fixing a trouble case) never disturbs another.

The company is scripted with proteus (Tryton's own client) in a subprocess: proteus keeps one global
configuration per thread and initializing trytond in the test process would tie it to one database.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from tests.live_server import free_port

__all__ = ["ADMIN_PASSWORD", "READER_LOGIN", "READER_PASSWORD", "TrytonServer", "template_database",
           "tryton_available", "DATABASE"]

DATABASE = "erp"
ADMIN_PASSWORD = "admin-pass-Tr0n"
READER_LOGIN = "erp_assist"
READER_PASSWORD = "reader-pass-Tr0n-42"
MODULES = ("stock", "purchase", "sale")
_SCRIPT = Path(__file__).resolve().parent / "tryton_company.py"


def tryton_available() -> str | None:
    """None when trytond, its stock/purchase/sale modules and proteus are installed; else why not (the tests
    skip with it). Looked up without importing them: trytond's modules register models on import."""
    from importlib.util import find_spec

    for name in ("trytond", "proteus", *(f"trytond.modules.{m}" for m in MODULES)):
        try:
            found = find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return f"{name} is not installed (pip install -e '.[tryton]', part of '.[dev]')"
    return None


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _config(directory: Path, port: int | None = None) -> Path:
    lines = ["[database]", "uri = sqlite://", f"path = {directory}"]
    if port is not None:
        lines += ["[web]", f"listen = 127.0.0.1:{port}"]
    lines += ["[session]", "max_attempt = 1000", "[cache]", "clean_timeout = 0"]
    conf = directory / "trytond.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def template_database(cache_dir: Path, *, today: date | None = None) -> Path:
    """The directory holding ``erp.sqlite`` with the scripted company (built on first use, then reused)."""
    import trytond

    today = today or date.today()
    key = hashlib.sha256(_SCRIPT.read_bytes() + trytond.__version__.encode() + today.isoformat().encode())
    directory = cache_dir / f"tryton-{key.hexdigest()[:12]}"
    cache_dir.mkdir(parents=True, exist_ok=True)
    # One builder at a time: test sessions running side by side share the cache.
    with open(cache_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (directory / "ready").exists():
            _build(cache_dir, directory, today)
    return directory


def _build(cache_dir: Path, directory: Path, today: date) -> None:
    for old in cache_dir.glob("tryton-*"):  # another day's or script's company
        shutil.rmtree(old, ignore_errors=True)
    directory.mkdir(parents=True)
    (directory / f"{DATABASE}.sqlite").touch()
    conf = _config(directory)
    passfile = directory / "admin.pass"
    passfile.write_text(ADMIN_PASSWORD)
    env = {**os.environ, "TRYTONPASSFILE": str(passfile)}
    steps = [[_bin("trytond-admin"), "-c", str(conf), "-d", DATABASE, "--all", "-u", *MODULES,
              "--activate-dependencies", "--email", "admin@example.com"],
             [sys.executable, str(_SCRIPT), "build", str(conf), DATABASE, today.isoformat()]]
    for step in steps:
        done = subprocess.run(step, env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"building the Tryton test database failed at {step[0]}:\n{done.stderr[-3000:]}")
    passfile.unlink()
    (directory / "ready").touch()


@dataclass
class TrytonServer:
    """trytond's HTTP server (JSON-RPC and XML-RPC) on a copy of a template database."""

    directory: Path
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @classmethod
    def start(cls, template: Path, work_dir: Path, *, timeout: float = 60.0) -> TrytonServer:
        work_dir.mkdir(parents=True, exist_ok=True)
        for stale in (f"{DATABASE}.sqlite-wal", f"{DATABASE}.sqlite-shm"):  # a copy must not meet an old journal
            (work_dir / stale).unlink(missing_ok=True)
        shutil.copy(template / f"{DATABASE}.sqlite", work_dir / f"{DATABASE}.sqlite")
        port = free_port()
        conf = _config(work_dir, port)
        log = open(work_dir / "trytond.log", "wb")  # noqa: SIM115 - kept open for the server's life
        process = subprocess.Popen([_bin("trytond"), "-c", str(conf), "-d", DATABASE], stdout=log, stderr=subprocess.STDOUT)
        server = cls(work_dir, port, process)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"trytond exited: {(work_dir / 'trytond.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(server.url, timeout=1)  # noqa: S310 - our own local server
                return server
            except OSError as exc:
                if getattr(exc, "code", None) is not None:  # an HTTP error: the server answers
                    return server
                time.sleep(0.2)
        server.stop()
        raise RuntimeError(f"trytond did not answer on port {port} within {timeout} s")

    def fix_troubles(self) -> None:
        """Put every scripted trouble case right, through the running server as the admin (XML-RPC)."""
        url = f"http://admin:{ADMIN_PASSWORD}@127.0.0.1:{self.port}/{DATABASE}/rpc/"
        done = subprocess.run([sys.executable, str(_SCRIPT), "fix", url], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"fixing the trouble cases failed:\n{done.stderr[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
