"""A real Tryton ERP (tests/tryton_erp.py) for the ERP lookup and alert tests: the database with the scripted
company is built once per day and trytond version, and a server on a copy of it serves the whole session.
Tests that change the ERP start their own server on another copy (``fresh_tryton``)."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tests.tryton_erp import DATABASE, READER_LOGIN, READER_PASSWORD, TrytonServer, template_database, tryton_available

CHECKS = [
    {"name": "负库存", "kind": "negative_stock", "urgency": "P1"},
    {"name": "低于最低库存", "kind": "below_minimum", "urgency": "P2", "minimum": {"C-2001": 20, "A-1003": 100}},
    {"name": "采购单待审批超时", "kind": "purchase_waiting_approval", "urgency": "P2", "hours": 48},
    {"name": "今日应发未发", "kind": "shipment_due_not_done", "urgency": "P1"},
]


@pytest.fixture(scope="session")
def tryton_template() -> Path:
    reason = tryton_available()
    if reason:
        pytest.skip(reason)
    cache = Path(os.environ.get("ERP_ASSIST_TRYTON_CACHE", Path(tempfile.gettempdir()) / "erp-assist-tryton"))
    return template_database(cache)


@pytest.fixture(scope="session")
def tryton(tryton_template, tmp_path_factory):
    """trytond serving the scripted company for the session (read only: no test changes it)."""
    server = TrytonServer.start(tryton_template, tmp_path_factory.mktemp("tryton"))
    yield server
    server.stop()


@pytest.fixture
def fresh_tryton(tryton_template, tmp_path):
    """A server on a copy of its own, for a test that changes the ERP."""
    server = TrytonServer.start(tryton_template, tmp_path / "tryton")
    yield server
    server.stop()


def erp_yaml(server_url: str, *, whitelist: dict | None = None, alerts: dict | None = None,
             password: str = READER_PASSWORD, **extra) -> dict:  # noqa: ANN003
    # The scripted company's dates are the machine's local ones; the group's clock must agree with them.
    local_offset = datetime.now().astimezone().utcoffset().total_seconds() / 3600
    config = {"connector": "tryton", "utc_offset_hours": local_offset,
              "connection": {"url": server_url, "database": DATABASE, "login": READER_LOGIN, "password": password,
                             "timeout_seconds": 10},
              **extra}
    if whitelist is not None:
        config["whitelist"] = whitelist
    if alerts is not None:
        config["alerts"] = alerts
    return config


def write_erp_config(directory: Path, tenant: str, config: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{tenant}.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path
