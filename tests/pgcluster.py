"""A throwaway PostgreSQL server for tests and benchmarks: ``initdb`` into a temporary directory, then
``pg_ctl start``.

    with TemporaryPostgres() as pg:
        url = pg.create_database("erp")   # postgresql+psycopg://postgres@127.0.0.1:<port>/erp

Uses Debian's server (``/usr/lib/postgresql/<version>/bin``, installed by ``make postgres``) or ``initdb`` on
PATH. ``initdb`` refuses to run as root, and CI runs as root: then every server command runs as the
``postgres`` system user that the Debian package creates, in directories handed to that user. Trust
authentication on 127.0.0.1 only, fsync off: a server for tests, never for data anyone keeps.

``TemporaryPostgres.available()`` says whether a server can be started here, and if not why, so tests skip
with that reason rather than fail on a machine without PostgreSQL.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.live_server import free_port

__all__ = ["PostgresUnavailable", "TemporaryPostgres"]

SYSTEM_USER = "postgres"  # created by Debian's postgresql package; runs the server when we are root
SUPERUSER = "postgres"  # the cluster's superuser (initdb -U)
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started on this machine (the message says why)."""


def _find_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: the newest Debian version, else PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(re.sub(r"\D", "", Path(p).parts[-3]) or 0))
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl", path=str(Path(initdb).parent)):
        return Path(initdb).parent
    return None


class TemporaryPostgres:
    """A PostgreSQL cluster in a temporary directory, on a free port of 127.0.0.1, removed on exit.

    A context manager (``start()``/``stop()`` for callers that manage the lifetime themselves). ``stop()``
    kills the server (``pg_ctl stop -m immediate``) and removes its directory, also after a failed start.
    """

    def __init__(self, *, max_connections: int = 200, start_timeout_s: int = 60) -> None:
        self.max_connections = max_connections
        self.start_timeout_s = start_timeout_s
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.bindir: Path | None = None
        self._root: Path | None = None
        self._as_postgres = os.geteuid() == 0

    # -- availability ----------------------------------------------------------------------------------------

    @staticmethod
    def available() -> tuple[bool, str]:
        """``(True, "")`` when a server can be started here, else ``(False, why)``."""
        if importlib.util.find_spec("psycopg") is None:
            return False, "psycopg is not installed (pip install 'psycopg[binary]')"
        if _find_bindir() is None:
            return False, ("no PostgreSQL server: initdb not in /usr/lib/postgresql/*/bin nor on PATH "
                           "(`make postgres` installs Debian's postgresql as root)")
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(SYSTEM_USER)
            except KeyError:
                return False, (f"running as root and there is no {SYSTEM_USER!r} system user to run initdb "
                               "as (Debian's postgresql package creates it)")
            if not (shutil.which("runuser") or shutil.which("setpriv")):
                return False, f"running as root and neither runuser nor setpriv can switch to {SYSTEM_USER!r}"
        return True, ""

    # -- lifecycle -------------------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> Self:
        ok, why = self.available()
        if not ok:
            raise PostgresUnavailable(why)
        self.bindir = _find_bindir()
        self._root = Path(tempfile.mkdtemp(prefix="erp-pg-"))
        try:
            self._initdb()
            self._start_server()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill the server (if it runs) and remove its directory; safe to call twice."""
        root, self._root = self._root, None
        if root is None:
            return
        try:
            if (root / "data" / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(root / "data"), "stop", "-m", "immediate", "-w", check=False)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._root is not None

    @property
    def data_dir(self) -> Path:
        if self._root is None:
            raise RuntimeError("the server is not started: use `with TemporaryPostgres() as pg:` or start()")
        return self._root / "data"

    # -- databases -------------------------------------------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        """The SQLAlchemy URL of database ``dbname`` on this server."""
        if self.port is None or self._root is None:
            raise RuntimeError("the server is not started: use `with TemporaryPostgres() as pg:` or start()")
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    def dsn(self, dbname: str = "postgres") -> str:
        """The libpq connection string of ``dbname`` (for psycopg directly)."""
        self.url(dbname)  # raises when not started
        return f"host={self.host} port={self.port} user={SUPERUSER} dbname={dbname}"

    def create_database(self, name: str) -> str:
        """CREATE DATABASE ``name`` and return its SQLAlchemy URL."""
        import psycopg
        from psycopg import sql

        if not _DB_NAME.match(name):
            raise ValueError(f"database name {name!r}: use letters, digits and underscores, at most 63, "
                             "not starting with a digit")
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    # -- internals -------------------------------------------------------------------------------------------

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert self.bindir is not None
        command = [str(self.bindir / program), *args]
        if self._as_postgres:
            command = (["runuser", "-u", SYSTEM_USER, "--", *command] if shutil.which("runuser") else
                       ["setpriv", f"--reuid={SYSTEM_USER}", f"--regid={SYSTEM_USER}", "--init-groups",
                        *command])
        # cwd: a directory the postgres user may enter (not root's home).
        done = subprocess.run(command, check=False, capture_output=True, text=True, cwd=self._root or "/",
                              stdin=subprocess.DEVNULL, timeout=self.start_timeout_s + 30)
        if check and done.returncode != 0:
            raise PostgresUnavailable(f"{program} {' '.join(args)} failed ({done.returncode}):\n"
                                      f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
        return done

    def _initdb(self) -> None:
        assert self._root is not None
        if self._as_postgres:
            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(self._root, entry.pw_uid, entry.pw_gid)
        data = str(self._root / "data")
        common = ["-D", data, "-U", SUPERUSER, "--auth=trust", "-E", "UTF8"]
        try:
            self._run("initdb", *common, "--locale=C.UTF-8")
        except PostgresUnavailable:
            # A machine without the C.UTF-8 locale: the C locale sorts bytewise, which is all the tests need.
            shutil.rmtree(data, ignore_errors=True)
            self._run("initdb", *common, "--no-locale")

    def _start_server(self) -> None:
        assert self._root is not None
        last: PostgresUnavailable | None = None
        log = self._root / "server.log"
        for _ in range(3):  # the free port may be taken between choosing it and binding it
            self.port = free_port()
            options = (f"-p {self.port} -k {self._root} -c listen_addresses={self.host} -c fsync=off "
                       f"-c max_connections={self.max_connections}")
            try:
                self._run("pg_ctl", "-D", str(self.data_dir), "-o", options, "-l", str(log),
                          "-t", str(self.start_timeout_s), "-w", "start")
                return
            except PostgresUnavailable as exc:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                last = PostgresUnavailable(f"{exc}\nserver log:\n{tail}")
                if "could not bind" not in tail and "already in use" not in tail:
                    break
        self.port = None
        assert last is not None
        raise last
