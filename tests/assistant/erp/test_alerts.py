"""ERP alerts against the real Tryton: each scripted trouble raises exactly one alert, a re-run posts nothing new,
fixing the trouble in the ERP stops it; posted through a real webhook over HTTP."""

from __future__ import annotations

import json
import threading
from datetime import timezone
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from assistant.erp import ErpLookups
from assistant.erp.alerts import Alert, run_alerts
from assistant.store import open_store
from assistant.store.erp import alert_post_counts, record_alert_post
from erp_assist.domain import Urgency
from tests.assistant.channels.conftest import FEISHU_APP, fake  # noqa: F401 - the fake platform fixture
from tests.assistant.erp.conftest import CHECKS, erp_yaml, write_erp_config
from tests.conftest import make_settings
from tests.live_server import free_port


@contextmanager
def webhook(status: int = 200) -> Iterator[tuple[str, list[dict]]]:
    """A real HTTP endpoint that keeps what is POSTed to it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()


def setup(server_url: str, tmp_path, hook: str):  # noqa: ANN001, ANN201
    settings = make_settings(tmp_path, erp_config_dir=tmp_path / "erp")
    write_erp_config(settings.erp_config_dir, "default",
                     erp_yaml(server_url, alerts={"target": {"webhook": hook}, "checks": CHECKS}))
    store = open_store(settings.database_url)
    return ErpLookups(settings, store), store


def test_each_trouble_raises_one_alert_rerun_posts_nothing_fixing_stops_it(fresh_tryton, tmp_path):
    with webhook() as (hook, received):
        lookups, store = setup(fresh_tryton.url, tmp_path, hook)
        first = run_alerts(lookups, store, "default")
        assert first.error is None and not first.failed
        assert sorted((a.check_name, a.subject) for a in first.posted) == [
            ("今日应发未发", "OUT-2024-0001"),  # SO-2024-0101's shipment, due today, not done
            ("低于最低库存", "C-2001"),  # 8 on hand, minimum 20 (A-1003 has 500, minimum 100: fine)
            ("负库存", "B20250728-003@WH"),
            ("采购单待审批超时", "PO-2024-0316"),  # quoted 5 days ago; PO-2024-0317 (today) is not late
        ]
        assert len(received) == 4
        negative = next(r for r in received if r["check"] == "负库存")
        assert negative["title"] == "【告警】[P1 紧急] 负库存" and negative["urgency"] == "P1"
        assert "B20250728-003" in negative["text"] and "-5" in negative["text"] and "请立即核查" in negative["text"]

        again = run_alerts(lookups, store, "default")
        assert again.posted == [] and len(again.unchanged) == 4 and len(received) == 4

        fresh_tryton.fix_troubles()
        fixed = run_alerts(lookups, store, "default")
        assert fixed.posted == [] and len(received) == 4
        assert sorted(s for _, s in fixed.resolved) == ["B20250728-003@WH", "C-2001", "OUT-2024-0001",
                                                        "PO-2024-0316"]
        assert run_alerts(lookups, store, "default").posted == []
        assert alert_post_counts(store, tenant="default") == {("default", "P1"): 2, ("default", "P2"): 2}


def test_changed_facts_post_again(fresh_tryton, tmp_path):
    with webhook() as (hook, received):
        lookups, store = setup(fresh_tryton.url, tmp_path, hook)
        run_alerts(lookups, store, "default")
        # The same trouble with other facts (as if the stock moved further below zero) is posted again.
        changed = Alert("负库存", "B20250728-003@WH", Urgency.P1,
                        {"code": "B20250728-003", "warehouse": "主仓", "on_hand": -9.0}, "…")
        record_alert_post(store, tenant="default", check_name=changed.check_name, subject=changed.subject,
                          fingerprint=changed.fingerprint, urgency="P1", message=changed.text, delivered=True)
        second = run_alerts(lookups, store, "default")
        assert [a.subject for a in second.posted] == ["B20250728-003@WH"] and len(received) == 5


def test_a_failed_post_is_tried_again(fresh_tryton, tmp_path):
    with webhook(status=500) as (hook, received):
        lookups, store = setup(fresh_tryton.url, tmp_path, hook)
        first = run_alerts(lookups, store, "default")
        assert len(first.failed) == 4 and first.posted == []
    with webhook() as (hook, received):
        lookups.tenant("default").config.alerts.target.webhook = hook
        second = run_alerts(lookups, store, "default")
        assert len(second.posted) == 4 and len(received) == 4


def test_unreachable_erp_posts_nothing(tmp_path):
    with webhook() as (hook, received):
        lookups, store = setup(f"http://127.0.0.1:{free_port()}/", tmp_path, hook)
        run = run_alerts(lookups, store, "default")
        assert run.error and run.posted == [] and received == []


@pytest.mark.parametrize("hours, expected", [(24 * 6, []), (48, ["PO-2024-0316"])])
def test_waiting_hours_come_from_the_check(tryton, tmp_path, hours, expected):
    checks = [{"name": "待审批", "kind": "purchase_waiting_approval", "hours": hours}]
    with webhook() as (hook, _):
        settings = make_settings(tmp_path, erp_config_dir=tmp_path / "erp")
        write_erp_config(settings.erp_config_dir, "default",
                         erp_yaml(tryton.url, alerts={"target": {"webhook": hook}, "checks": checks}))
        store = open_store(settings.database_url)
        run = run_alerts(ErpLookups(settings, store), store, "default")
        assert [a.subject for a in run.posted] == expected


def test_alerts_are_counted_in_the_daily_digest(tmp_path):
    from datetime import date, datetime, timedelta

    from assistant.group_metrics import daily_digest, digest_markdown

    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    for urgency, delivered in (("P1", True), ("P1", True), ("P2", True), ("P2", False)):
        record_alert_post(store, tenant="default", check_name="负库存", subject=f"X-{urgency}", fingerprint="f",
                          urgency=urgency, message="…", delivered=delivered)
    tz = timezone(timedelta(hours=8))
    today = datetime.now(tz).date()
    digest = daily_digest(store, today, tenant="default", tz=tz)
    assert digest.erp_alerts == {"P1": 2, "P2": 1}  # the failed post is not counted
    assert "ERP 告警：P1 2 条，P2 1 条" in digest_markdown(digest)[1]
    assert daily_digest(store, today, tenant="acme", tz=tz).erp_alerts == {}
    assert daily_digest(store, date(2020, 1, 1), tenant="default", tz=tz).erp_alerts == {}


def test_alerts_go_through_the_channel_adapters(fresh_tryton, tmp_path, fake):  # noqa: F811
    settings = make_settings(tmp_path, erp_config_dir=tmp_path / "erp", feishu_verification_token="t",
                             feishu_app_id=FEISHU_APP[0], feishu_app_secret=FEISHU_APP[1], feishu_api_base=fake.url,
                             channel_send_backoff_seconds=0.01)
    write_erp_config(settings.erp_config_dir, "default", erp_yaml(
        fresh_tryton.url, alerts={"target": {"platform": "feishu", "chat_id": "oc_alerts"}, "checks": CHECKS[:1]}))
    store = open_store(settings.database_url)
    run = run_alerts(ErpLookups(settings, store), store, "default")
    assert [a.subject for a in run.posted] == ["B20250728-003@WH"]
    [call] = fake.sent("/open-apis/im/v1/messages")
    assert call.body["receive_id"] == "oc_alerts"
    card = json.loads(call.body["content"])
    assert card["header"]["template"] == "red"  # P1: urgent
    assert "B20250728-003" in json.dumps(card, ensure_ascii=False)


def test_the_alert_loop_inside_serve(fresh_tryton, tmp_path):
    import time

    from assistant.erp.metrics import start_alert_loop

    with webhook() as (hook, received):
        lookups, store = setup(fresh_tryton.url, tmp_path, hook)
        assert start_alert_loop(lookups, store, lookups.settings) is None  # off unless configured
        settings = lookups.settings.model_copy(update={"erp_alerts_in_serve_minutes": 0.01})
        loop = start_alert_loop(lookups, store, settings)
        try:
            deadline = time.monotonic() + 30
            while len(received) < 4 and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1.5)  # more rounds: still nothing new
        finally:
            loop.stop()
        assert len(received) == 4
