"""Lookups reach users: POST /v1/suggest (``lookup`` beside the drafts, over real HTTP), the review page's ask
box, and the chat channels' reply; /metrics counts lookups and alerts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from fastapi.testclient import TestClient

from assistant.app import create_app
from assistant.channels import ChannelService, IncomingMessage
from assistant.erp import ErpLookups
from assistant.store import create_key, open_store
from assistant.store.erp import list_lookups, record_alert_post
from tests.assistant.erp.conftest import erp_yaml, write_erp_config
from tests.live_server import serve_in_thread
from tests.ui.forms import login, submit


@pytest.fixture
def erp_settings(session_settings, tryton, tmp_path):
    settings = session_settings.model_copy(update={"erp_config_dir": tmp_path / "erp",
                                                   "database_url": f"sqlite:///{tmp_path / 'store.db'}",
                                                   "channel_chat_dir": tmp_path / "chats"})
    write_erp_config(settings.erp_config_dir, "default", erp_yaml(tryton.url))
    return settings


def test_suggest_carries_the_lookup_beside_the_drafts(erp_settings, assistant):
    store = open_store(erp_settings.database_url)
    _, key = create_key(store, name="仓库小王", role="asker")
    with serve_in_thread(create_app(erp_settings, assistant=assistant)) as base:
        def ask(question: str) -> dict:
            response = httpx.post(f"{base}/v1/suggest", json={"question": question}, headers={"X-API-Key": key},
                                  timeout=30)
            assert response.status_code == 200, response.text
            return response.json()

        stock = ask("A-1002 还有多少库存")
        assert stock["lookup"]["outcome"] == "found" and "主仓 可用 37 个" in stock["lookup"]["text"]
        assert stock["lookup"]["kind"] == "stock" and stock["lookup"]["connector"] == "tryton"
        assert "suggestions" in stock and stock["question_id"] is not None
        status = ask("PO-2024-0315 到哪一步了")
        assert "执行中，等待收货" in status["lookup"]["text"]
        how_to = ask("采购订单怎么审批")
        assert how_to["lookup"] is None and how_to["suggestions"]
        unknown = ask("A-9999 还有库存吗")
        assert unknown["lookup"]["outcome"] == "not_found" and "没有编号为 A-9999" in unknown["lookup"]["text"]
        record_alert_post(store, tenant="default", check_name="负库存", subject="B@WH", fingerprint="f",
                          urgency="P1", message="…", delivered=True)
        metrics = httpx.get(f"{base}/metrics").text
        assert 'erp_assist_erp_lookups_total{outcome="found"} 2.0' in metrics
        assert 'erp_assist_erp_alerts_posted{tenant="default",urgency="P1"} 1.0' in metrics
    trail = list_lookups(store, tenant="default")
    assert [(r.asker, r.channel, r.target) for r in trail][-1] == ("仓库小王", "api", "A-1002")


def test_lookups_from_the_chat_groups_count_in_the_metrics_too(erp_settings, assistant):
    """A DingTalk group's question answered with live data counts in /metrics like one asked over the API."""
    from assistant.routes import channels
    from tests.assistant.channels.conftest import load

    secret = "dingtalk-app-secret"
    settings = erp_settings.model_copy(update={"dingtalk_app_secret": secret})
    app = create_app(settings, assistant=assistant)
    app.include_router(channels.router)
    data = load("dingtalk_text.json")
    # The reply's session webhook is outside the DingTalk API base, so nothing is sent anywhere.
    data.update(msgId="msg-erp-1", createAt=int(time.time() * 1000), sessionWebhook="http://127.0.0.1:9/robot")
    data["text"]["content"] = " A-1002 还有多少库存"
    timestamp = int(time.time() * 1000)
    sign = base64.b64encode(hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest())
    with TestClient(app) as client:
        response = client.post("/v1/channels/dingtalk", content=json.dumps(data, ensure_ascii=False).encode(),
                               headers={"timestamp": str(timestamp), "sign": sign.decode(),
                                        "content-type": "application/json"})
        assert response.status_code == 200, response.text
        metrics = client.get("/metrics").text
    assert [(r.channel, r.target, r.outcome) for r in list_lookups(open_store(settings.database_url),
                                                                   tenant="default")] == [("dingtalk", "A-1002", "found")]
    assert 'erp_assist_erp_lookups_total{outcome="found"} 1.0' in metrics


def test_the_review_pages_ask_box_shows_the_lookup(erp_settings, assistant):
    store = open_store(erp_settings.database_url)
    _, key = create_key(store, name="销售小李", role="asker")
    with TestClient(create_app(erp_settings, assistant=assistant)) as client:
        assert login(client, key).status_code in (200, 303)
        page = submit(client, "/ui/ask", "/ui/ask", {"question": "SO-2024-0101 发货了没"})
        assert page.status_code == 200
        assert 'id="erp-lookup"' in page.text and "销售订单 SO-2024-0101" in page.text
        page = submit(client, "/ui/ask", "/ui/ask", {"question": "销售订单怎么反审核"})
        assert 'id="erp-lookup"' not in page.text
    assert list_lookups(store, tenant="default")[0].channel == "ui"


def test_a_chat_question_gets_the_live_answer_first(erp_settings, assistant):
    store = open_store(erp_settings.database_url)
    lookups = ErpLookups(erp_settings, store)
    service = ChannelService(erp_settings, adapters={}, erp=lookups)

    def message(text: str, msg_id: str) -> IncomingMessage:
        return IncomingMessage(platform="feishu", msg_id=msg_id, chat_id="oc_x", group="erp-仓库", sender="张敏",
                               sender_id="ou_1", text=text, ts=datetime.now(timezone(timedelta(hours=8))),
                               mentions_bot=True, reply_context={"message_id": msg_id})

    outcome = service.handle(message("B20250728-003 还有多少", "m1"), assistant=assistant, store=store)
    assert outcome.reply.markdown.startswith("**ERP 实时查询**：截至")
    assert "负库存" in outcome.reply.markdown
    how_to = service.handle(message("出库单怎么审核", "m2"), assistant=assistant, store=store)
    assert "ERP 实时查询" not in how_to.reply.markdown
    assert [(r.asker, r.channel) for r in list_lookups(store, tenant="default")] == [("张敏", "feishu")]


def test_a_long_connection_chat_gets_the_live_answer_too(erp_settings, assistant):
    """`erp-assist channels listen` (DingTalk Stream, Feishu websocket) answers with the same service as the
    HTTP callbacks, ERP lookups included."""
    from assistant.channels.longconn import channel_runner

    store = open_store(erp_settings.database_url)
    lookups = ErpLookups(erp_settings, store)
    runner = channel_runner(erp_settings, store=store, assistant=lambda: assistant, erp=lookups)
    message = IncomingMessage(platform="dingtalk", msg_id="s1", chat_id="cid_x", group="erp-仓库", sender="张敏",
                              sender_id="u_1", text="B20250728-003 还有多少", ts=datetime.now(timezone(timedelta(hours=8))),
                              mentions_bot=True, reply_context={})
    outcome = runner.service.handle(message, assistant=assistant, store=store)
    assert outcome.reply.markdown.startswith("**ERP 实时查询**：截至")
    assert [(r.asker, r.channel) for r in list_lookups(store, tenant="default")] == [("张敏", "dingtalk")]
    lookups.close()
