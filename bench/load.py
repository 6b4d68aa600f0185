"""Open-loop load on POST /v1/suggest over real HTTP, on SQLite and on PostgreSQL, with and without experts
reviewing at the same time.

Run: .venv/bin/python bench/load.py [--rates 50 150] [--duration 60] [--workers 2]
                                    [--stores sqlite postgresql] [--experts 20] [--json out.json]
Smoke: .venv/bin/python bench/load.py --duration 5 --rates 20 --workers 1

Builds the demo index once into a temporary directory (`erp-assist index`; the classifier is
var/models/classifier.joblib, trained there by `erp-assist train-classifier` when absent, ~8 min on 2 cores).
Per store: one fresh review database (a SQLite file, or a database on a throwaway PostgreSQL server from
tests/pgcluster.py), keys made with `erp-assist keys create`, and per scenario a fresh
`erp-assist serve --workers N` on 127.0.0.1, warmed up before measuring.

Scenarios, each --duration seconds:
- one per --rates value: requests start every 1/rate s whatever the server does (open loop, not one client
  waiting for the last answer), each a golden-set question with a unique marker in ``context``;
- "experts": the same at --experts-rate, while --experts expert clients repeatedly fetch the open queue
  together and all decide its first --expert-batch questions at once (accept/edit/reject by expert), so every
  decision races with the others on the same question.

Latency is from the moment a request was due to its answer (a client that falls behind counts against the
server), over the 2xx answers. After the duration nothing more is sent; stragglers get --straggler-s seconds,
then are cancelled and counted as "unfinished". Server RSS is the largest sum over the server's process tree,
sampled every 0.5 s while the load runs. "client lag" is how late requests left: a large one means the load
generator (on the same cores) fell behind.

Checks, in the database itself after the server stopped: each 2xx suggest answer's marker is stored exactly
once, under the question id the answer gave; after the experts scenario, no question has more than one
accept/edit/reject since its last reopen, nor more than one learned-FAQ row.
Goals (issue #15): 0 errors at ≤ 50 req/s; above that no 5xx but 503 with Retry-After, and p95 < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.synthetic import cpu_note  # noqa: E402
from tests.live_server import free_port  # noqa: E402

BIN = Path(sys.executable).parent
DEFAULT_CLASSIFIER = ROOT / "var" / "models" / "classifier.joblib"
STORES = ("sqlite", "postgresql")
DECISIONS = ("accept", "edit", "reject")


# -- results -------------------------------------------------------------------------------------------------

@dataclass
class Sent:
    """One suggest request: what came back and when."""

    n: int
    marker: str
    status: str = "unfinished"  # an HTTP status code, "timeout", "conn-error" or "unfinished"
    latency_ms: float | None = None
    lag_ms: float = 0.0  # how late the request left after it was due
    retry_after: bool = False
    question_id: int | None = None
    body: str | None = None  # the start of a non-2xx answer, to show why

    @property
    def ok(self) -> bool:
        return self.status.isdigit() and 200 <= int(self.status) < 300


@dataclass
class Scenario:
    """One row of the load table (and of --json)."""

    store: str
    scenario: str
    workers: int
    rate: float
    duration_s: float
    sent: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # status → count, everything not 2xx
    error_samples: dict[str, str] = field(default_factory=dict)  # status → the first such answer's body
    retry_after_503: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    client_lag_p99_ms: float | None = None  # large: the load generator fell behind
    max_rss_mb: float | None = None
    stored_once: bool | None = None
    store_check: dict[str, int] = field(default_factory=dict)
    experts: dict[str, Any] | None = None
    goal: str = ""
    goal_met: bool | None = None

    def judge(self, strict_rate: float) -> None:
        """Issue #15's goals: no error at all up to ``strict_rate``; above it no 5xx but 503 with Retry-After
        (nor a transport error or a missing answer) and p95 < 100 ms."""
        if self.rate <= strict_rate:
            self.goal, self.goal_met = "0 errors", not self.errors
        else:
            bad = {s: c for s, c in self.errors.items() if s != "503"}
            self.goal = "no 5xx/lost, 503 only with Retry-After, p95<100ms"
            self.goal_met = (not bad and self.retry_after_503 == self.errors.get("503", 0)
                             and self.p95_ms is not None and self.p95_ms < 100)
        if self.stored_once is False:
            self.goal_met = False


# -- the server ----------------------------------------------------------------------------------------------

def _cli(*args: str, env: dict[str, str], timeout: float = 1800) -> str:
    """Run ``erp-assist ARGS`` and return its output; a failure raises with the output's tail."""
    done = subprocess.run([str(BIN / "erp-assist"), *args], check=False, env=env, cwd=ROOT,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"erp-assist {' '.join(args)} failed ({done.returncode}):\n"
                           f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def serve_supports_workers(env: dict[str, str]) -> bool:
    return "--workers" in _cli("serve", "--help", env=env)


def create_key(env: dict[str, str], *, role: str, name: str) -> str:
    out = _cli("keys", "create", "--role", role, "--name", name, env=env)
    found = re.search(r"\(id \d+\): (\S+)", out)
    if not found:
        raise RuntimeError(f"no key in the output of `erp-assist keys create`:\n{out}")
    return found.group(1)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])  # fields after "(comm)": state, ppid, ...
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_rss_bytes(pid: int) -> int:
    """The summed RSS of ``pid`` and all its descendants (uvicorn's workers are its children)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                total += proc.memory_info().rss
        return total
    tree, total, todo = _children(), 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(tree.get(current, []))
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


class Server:
    """``erp-assist serve`` on a free port of 127.0.0.1, in its own process group, stopped on exit."""

    def __init__(self, env: dict[str, str], workers: int, log: Path) -> None:
        self.env, self.workers, self.log = env, workers, log
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.max_rss = 0

    def __enter__(self) -> Self:
        command = [str(BIN / "erp-assist"), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, env=self.env, cwd=ROOT, stdin=subprocess.DEVNULL,
                                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_ready(timeout_s=300)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}):\n{self.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.base_url}/readyz", timeout=5).status_code == 200:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"the server was not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    @contextlib.contextmanager
    def sampling_rss(self, every_s: float = 0.5) -> Iterator[None]:
        """Sample the process tree's RSS in a thread while the block runs; the max lands in ``max_rss``."""
        assert self.process is not None
        pid, stop = self.process.pid, threading.Event()

        def sample() -> None:
            while not stop.is_set():
                self.max_rss = max(self.max_rss, tree_rss_bytes(pid))
                stop.wait(every_s)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def __exit__(self, *_exc: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # uvicorn stops its workers on SIGTERM
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        # Whatever is left of our own process group (a worker that did not stop).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


# -- the load ------------------------------------------------------------------------------------------------

async def _suggest(client: httpx.AsyncClient, key: str, question: str, record: Sent, due: float) -> None:
    loop = asyncio.get_running_loop()
    try:
        response = await client.post("/v1/suggest", headers={"X-API-Key": key},
                                     json={"question": question, "context": record.marker})
    except httpx.TimeoutException:
        record.status = "timeout"
        return
    except httpx.TransportError:
        record.status = "conn-error"
        return
    record.latency_ms = (loop.time() - due) * 1000
    record.status = str(response.status_code)
    record.retry_after = "retry-after" in response.headers
    if record.ok:
        with contextlib.suppress(ValueError, KeyError):
            record.question_id = response.json()["question_id"]
    else:
        record.body = response.text[:300]


async def open_loop(client: httpx.AsyncClient, key: str, questions: list[str], *, rate: float,
                    duration_s: float, prefix: str, straggler_s: float) -> list[Sent]:
    """Start one request every 1/rate s for duration_s, whatever the answers; then wait for stragglers."""
    loop = asyncio.get_running_loop()
    records = [Sent(n, f"{prefix}-{n}") for n in range(int(rate * duration_s))]
    tasks = []
    start = loop.time() + 0.05
    for record in records:
        due = start + record.n / rate
        if (delay := due - loop.time()) > 0:
            await asyncio.sleep(delay)
        record.lag_ms = max(0.0, (loop.time() - due) * 1000)
        question = questions[record.n % len(questions)]
        tasks.append(asyncio.create_task(_suggest(client, key, question, record, due)))
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=straggler_s)
        for task in pending:
            task.cancel()  # counted as "unfinished"
        await asyncio.gather(*pending, return_exceptions=True)
    return records


async def warm_up(client: httpx.AsyncClient, key: str, questions: list[str], *, workers: int,
                  prefix: str) -> None:
    """A few concurrent requests so each worker has served some before measuring (first-query caches)."""
    for batch in range(4):
        records = [Sent(n, f"{prefix}-{batch}-{n}") for n in range(2 * workers)]
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(_suggest(client, key, questions[r.n], r, loop.time()) for r in records))


@dataclass
class ExpertLog:
    decisions: Counter = field(default_factory=Counter)  # (decision, status) → count
    queue: Counter = field(default_factory=Counter)  # status → count
    ok_per_question: Counter = field(default_factory=Counter)  # question id → 2xx decisions
    latencies_ms: list[float] = field(default_factory=list)
    rounds: int = 0


async def _expert_round(client: httpx.AsyncClient, index: int, key: str, batch: int, log: ExpertLog) -> bool:
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        response = await client.get("/v1/review/queue", params={"limit": batch}, headers={"X-API-Key": key})
    except httpx.TransportError as exc:
        log.queue[type(exc).__name__] += 1
        return False
    log.queue[str(response.status_code)] += 1
    log.latencies_ms.append((loop.time() - started) * 1000)
    if response.status_code != 200:
        return False
    questions = response.json()["questions"]
    decision = DECISIONS[index % len(DECISIONS)]
    for q in questions:  # every expert in the same order: they collide on each question
        if decision == "accept" and q["suggestions"]:
            body: dict[str, Any] = {"decision": "accept", "suggestion_rank": q["suggestions"][0]["rank"]}
        elif decision == "edit":
            draft = q["suggestions"][0]["draft"] if q["suggestions"] else ""
            body = {"decision": "edit", "edited_answer": f"{draft}\n（专家 {index} 修订）"}
        else:
            body = {"decision": "reject", "note": f"bench: 专家 {index} 认为不相关"}
        started = loop.time()
        try:
            answer = await client.post(f"/v1/questions/{q['id']}/review", json=body,
                                       headers={"X-API-Key": key})
            status = str(answer.status_code)
        except httpx.TransportError as exc:
            status = type(exc).__name__
        log.latencies_ms.append((loop.time() - started) * 1000)
        log.decisions[body["decision"], status] += 1
        if status.startswith("2"):
            log.ok_per_question[q["id"]] += 1
    return bool(questions)


async def experts_loop(client: httpx.AsyncClient, keys: list[str], *, batch: int, until: float,
                       log: ExpertLog) -> None:
    """Rounds until ``until`` (loop time): all experts fetch the queue together, then all decide together."""
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        found = await asyncio.gather(*(_expert_round(client, i, key, batch, log)
                                       for i, key in enumerate(keys)))
        log.rounds += 1
        if not any(found):
            await asyncio.sleep(0.2)  # the queue is empty: suggest traffic will fill it


async def run_scenario(base_url: str, asker: str, experts: list[str], questions: list[str], *, rate: float,
                       duration_s: float, straggler_s: float, prefix: str, workers: int, batch: int,
                       server: Server) -> tuple[list[Sent], ExpertLog | None]:
    # Bounded: thousands of open connections make httpx itself the bottleneck (its pool is linear per request).
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    timeout = httpx.Timeout(duration_s + straggler_s + 30, pool=None)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
        await warm_up(client, asker, questions, workers=workers, prefix=f"{prefix}-warm")
        loop = asyncio.get_running_loop()
        log = ExpertLog() if experts else None
        with server.sampling_rss():
            load = open_loop(client, asker, questions, rate=rate, duration_s=duration_s, prefix=prefix,
                             straggler_s=straggler_s)
            if log is None:
                return await load, None
            records, _ = await asyncio.gather(
                load, experts_loop(client, experts, batch=batch, until=loop.time() + duration_s, log=log))
            return records, log


# -- checks in the database ----------------------------------------------------------------------------------

def check_stored(url: str, records: list[Sent], prefix: str) -> dict[str, int]:
    """Every 2xx answer's marker stored exactly once, under the id the answer gave."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, context FROM questions WHERE context LIKE :p"),
                                {"p": f"{prefix}-%"}).all()
    finally:
        engine.dispose()
    stored: dict[str, list[int]] = {}
    for question_id, marker in rows:
        stored.setdefault(marker, []).append(question_id)
    ok = [r for r in records if r.ok]
    ids = Counter(r.question_id for r in ok)
    return {
        "ok_answers": len(ok),
        "missing": sum(1 for r in ok if r.marker not in stored),
        "duplicates": sum(1 for r in ok if len(stored.get(r.marker, [])) > 1),
        "wrong_id": sum(1 for r in ok
                        if len(stored.get(r.marker, [])) == 1 and stored[r.marker][0] != r.question_id),
        "id_given_twice": sum(1 for i, c in ids.items() if c > 1 or i is None),
        # Not errors: a request that failed or was cancelled after its question was stored.
        "stored_without_2xx": sum(1 for r in records if not r.ok and r.marker in stored),
    }


# Rows after the question's last reopen (all of them when it was never reopened).
_SINCE_REOPEN = ("{alias}.{ref} > COALESCE((SELECT MAX(o.id) FROM reviews o"
                 " WHERE o.question_id = {alias}.question_id AND o.decision = 'reopen'), 0)")


def check_decisions(url: str) -> dict[str, int]:
    """No question with more than one accept/edit/reject since its last reopen, nor more than one learned
    row."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            decided = conn.execute(text(
                "SELECT r.question_id, COUNT(*) FROM reviews r"
                " WHERE r.decision IN ('accept', 'edit', 'reject') AND "
                + _SINCE_REOPEN.format(alias="r", ref="id") + " GROUP BY r.question_id")).all()
            learned = conn.execute(text(
                "SELECT l.question_id, COUNT(*) FROM learned_faq l WHERE "
                + _SINCE_REOPEN.format(alias="l", ref="review_id") + " GROUP BY l.question_id")).all()
    finally:
        engine.dispose()
    return {
        "questions_decided": len(decided),
        "questions_decided_twice": sum(1 for _, c in decided if c > 1),
        "questions_learned": len(learned),
        "questions_learned_twice": sum(1 for _, c in learned if c > 1),
    }


# -- one store -----------------------------------------------------------------------------------------------

def summarize(store: str, name: str, workers: int, rate: float, duration_s: float, records: list[Sent],
              server: Server) -> Scenario:
    row = Scenario(store=store, scenario=name, workers=workers, rate=rate, duration_s=duration_s,
                   sent=len(records))
    row.ok = sum(r.ok for r in records)
    row.errors = dict(Counter(r.status for r in records if not r.ok).most_common())
    for r in records:
        if not r.ok and r.body is not None:
            row.error_samples.setdefault(r.status, r.body)
    row.retry_after_503 = sum(1 for r in records if r.status == "503" and r.retry_after)
    latencies = [r.latency_ms for r in records if r.ok and r.latency_ms is not None]
    if latencies:
        row.p50_ms, row.p95_ms, row.p99_ms = (float(x) for x in np.percentile(latencies, [50, 95, 99]))
    if records:
        row.client_lag_p99_ms = float(np.percentile([r.lag_ms for r in records], 99))
    row.max_rss_mb = server.max_rss / 2**20
    return row


def run_store(store: str, db_url: str, base_env: dict[str, str], workdir: Path, args: argparse.Namespace,
              workers: int, questions: list[str], run_id: str, console: Any) -> list[Scenario]:
    env = {**base_env, "ERP_ASSIST_DATABASE_URL": db_url}
    console.print(f"[dim]{store}: keys …[/dim]")
    asker = create_key(env, role="asker", name="bench-asker")
    with ThreadPoolExecutor(max_workers=4) as pool:  # each `keys create` is a CLI start-up (~2 s)
        experts = list(pool.map(lambda i: create_key(env, role="expert", name=f"bench-expert-{i:02d}"),
                                range(args.experts)))
    plan: list[tuple[str, float, list[str]]] = [(f"{rate:g} req/s", rate, []) for rate in args.rates]
    if args.experts:
        plan.append((f"{args.experts_rate:g} req/s + {args.experts} experts", args.experts_rate, experts))
    rows = []
    for number, (name, rate, expert_keys) in enumerate(plan):
        prefix = f"bench-{run_id}-{store}-{number}"
        console.print(f"[dim]{store} · {name} · {workers} worker(s) · {args.duration:g} s …[/dim]")
        with Server(env, workers, workdir / f"server-{store}-{number}.log") as server:
            records, log = asyncio.run(run_scenario(
                server.base_url, asker, expert_keys, questions, rate=rate, duration_s=args.duration,
                straggler_s=args.straggler_s, prefix=prefix, workers=workers, batch=args.expert_batch,
                server=server))
        row = summarize(store, name, workers, rate, args.duration, records, server)
        row.store_check = check_stored(db_url, records, prefix)
        check = row.store_check
        row.stored_once = not any(check[k] for k in ("missing", "duplicates", "wrong_id", "id_given_twice"))
        if log is not None:
            in_db = check_decisions(db_url)
            row.experts = {
                "experts": len(expert_keys), "rounds": log.rounds, "queue": dict(log.queue),
                "decisions": {f"{d} {s}": c for (d, s), c in sorted(log.decisions.items())},
                "questions_with_two_2xx": sum(1 for c in log.ok_per_question.values() if c > 1),
                "p95_ms": float(np.percentile(log.latencies_ms, 95)) if log.latencies_ms else None,
                **in_db,
            }
            if row.experts["questions_with_two_2xx"] or in_db["questions_decided_twice"] \
                    or in_db["questions_learned_twice"]:
                row.stored_once = False
        row.judge(args.strict_rate)
        rows.append(row)
        console.print(f"[dim]{json.dumps(asdict(row), ensure_ascii=False)}[/dim]")
    return rows


# -- preparation ---------------------------------------------------------------------------------------------

def prepare(workdir: Path, classifier: Path, console: Any) -> dict[str, str]:
    """The environment every erp-assist command runs under: the demo index built into ``workdir``."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "COLUMNS": "400",  # rich must not wrap the printed key
        "ERP_ASSIST_DATA_DIR": str(ROOT / "data" / "demo"),
        "ERP_ASSIST_INDEX_DIR": str(workdir / "index"),
        "ERP_ASSIST_CACHE_DIR": str(workdir / "cache"),
        "ERP_ASSIST_TENANTS_DIR": str(workdir / "tenants"),
        "ERP_ASSIST_CLASSIFIER_PATH": str(classifier),
        "ERP_ASSIST_GATE_PATH": str(classifier.with_name("gate.joblib")),  # the off-topic gate lives beside it
        "ERP_ASSIST_RATE_LIMIT_PER_MINUTE": "1000000",  # the bench measures the service, not the rate limiter
        "ERP_ASSIST_DATABASE_URL": f"sqlite:///{workdir / 'index-build.db'}",
    }
    if not classifier.exists():
        console.print(f"[dim]training the classifier into {classifier} (once; several minutes) …[/dim]")
        report = {"ERP_ASSIST_CLASSIFIER_REPORT_DIR": str(classifier.parent / "report")}
        _cli("train-classifier", env={**env, **report})
    console.print("[dim]building the demo index …[/dim]")
    started = time.perf_counter()
    _cli("index", env=env)
    console.print(f"[dim]demo index built in {time.perf_counter() - started:.0f} s[/dim]")
    return env


@contextlib.contextmanager
def database(store: str, workdir: Path, run_id: str) -> Iterator[str]:
    """A fresh, empty review database for ``store``; PostgreSQL on a throwaway server stopped afterwards."""
    if store == "sqlite":
        yield f"sqlite:///{workdir / f'{store}-{run_id}.db'}"
        return
    from tests.pgcluster import PostgresUnavailable, TemporaryPostgres

    ok, why = TemporaryPostgres.available()
    if not ok:
        raise PostgresUnavailable(why)
    with TemporaryPostgres(max_connections=200) as pg:
        yield pg.create_database(f"bench_{run_id}")


# -- output --------------------------------------------------------------------------------------------------

def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def print_tables(console: Any, rows: list[Scenario]) -> None:
    from rich.table import Table

    table = Table("store", "scenario", "workers", "rate/s", "sent", "ok", "errors by status",
                  "503 w/ Retry-After", "p50 ms", "p95 ms", "p99 ms", "client lag p99 ms", "max RSS MB",
                  "stored once", "goal",
                  title="POST /v1/suggest, open loop (latency of 2xx answers from when each request was due)")
    for r in rows:
        errors = ", ".join(f"{s}×{c}" for s, c in r.errors.items()) or "0"
        check = r.store_check
        failed = [f"{k} {check[k]}" for k in ("missing", "duplicates", "wrong_id", "id_given_twice")
                  if check.get(k)]
        stored = "✓" if r.stored_once else "✗ " + (", ".join(failed) or "see the experts table")
        table.add_row(r.store, r.scenario, str(r.workers), f"{r.rate:g}", str(r.sent), str(r.ok), errors,
                      f"{r.retry_after_503}/{r.errors.get('503', 0)}", _ms(r.p50_ms), _ms(r.p95_ms),
                      _ms(r.p99_ms), _ms(r.client_lag_p99_ms),
                      f"{r.max_rss_mb:.0f}" if r.max_rss_mb else "–", stored,
                      f"{'✓' if r.goal_met else '✗'} {r.goal}")
    console.print(table)
    expert_rows = [r for r in rows if r.experts]
    if not expert_rows:
        return
    table = Table("store", "experts", "rounds", "queue GETs", "decisions (decision status×count)",
                  "questions decided", "decided twice", "learned twice", "2xx twice (HTTP)", "p95 ms",
                  title="Experts deciding the same questions at once (checks in the database)")
    for r in expert_rows:
        e = r.experts or {}
        table.add_row(r.store, str(e["experts"]), str(e["rounds"]),
                      ", ".join(f"{s}×{c}" for s, c in e["queue"].items()),
                      "\n".join(f"{k}×{c}" for k, c in e["decisions"].items()) or "–",
                      str(e["questions_decided"]), str(e["questions_decided_twice"]),
                      str(e["questions_learned_twice"]), str(e["questions_with_two_2xx"]), _ms(e["p95_ms"]))
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--rates", type=float, nargs="+", default=[50.0, 150.0], help="requests per second, one run each")
    add("--duration", type=float, default=60.0, help="seconds of load per scenario")
    add("--workers", type=int, default=2, help="`erp-assist serve --workers` (1 where unsupported)")
    add("--stores", nargs="+", choices=STORES, default=list(STORES))
    add("--experts", type=int, default=20, help="expert clients of the experts scenario (0: none)")
    add("--experts-rate", type=float, default=50.0, help="suggest rate during the experts scenario")
    add("--expert-batch", type=int, default=5, help="queue questions all experts decide per round")
    add("--straggler-s", type=float, default=10.0, help="wait for answers after the last request")
    add("--strict-rate", type=float, default=50.0, help="up to this rate the goal is 0 errors")
    add("--classifier", type=Path, default=DEFAULT_CLASSIFIER,
        help="the trained classifier (trained there when absent)")
    add("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    if args.duration <= 0 or any(rate <= 0 for rate in [*args.rates, args.experts_rate]):
        parser.error("--duration and every rate must be positive")

    from rich.console import Console

    console = Console(width=200)
    with (ROOT / "eval" / "data" / "golden.jsonl").open(encoding="utf-8") as lines:
        golden = [json.loads(line)["question"] for line in lines]
    run_id = secrets.token_hex(4)
    rows: list[Scenario] = []
    workdir = Path(tempfile.mkdtemp(prefix="erp-load-"))
    try:
        env = prepare(workdir, args.classifier.resolve(), console)
        workers = args.workers
        if workers > 1 and not serve_supports_workers(env):
            console.print(f"[yellow]`erp-assist serve` has no --workers option yet: running with 1 worker, "
                          f"not {workers}[/yellow]")
            workers = 1
        console.print(f"open-loop load on {cpu_note()}, client and server on the same machine, "
                      f"{len(golden)} golden questions, run {run_id}")
        for store in args.stores:
            try:
                with database(store, workdir, run_id) as url:
                    rows += run_store(store, url, env, workdir, args, workers, golden, run_id, console)
            except Exception as exc:  # noqa: BLE001 - one store failing still leaves the other's results
                console.print(f"[red]{store} failed:[/red] {exc}")
                for log in sorted(workdir.glob(f"server-{store}-*.log"))[-1:]:
                    console.print(f"[dim]{log.name}:\n{log.read_text(errors='replace')[-3000:]}[/dim]")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_tables(console, rows)
    if args.json:
        results = {"cpu": cpu_note(), "run": run_id, "duration_s": args.duration,
                   "scenarios": [asdict(r) for r in rows]}
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
        console.print(f"results: {args.json}")


if __name__ == "__main__":
    main()
