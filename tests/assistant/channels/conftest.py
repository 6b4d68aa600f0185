"""A local fake of the DingTalk, Feishu and WeCom APIs on 127.0.0.1, and the real app with the channel router.

The fake checks each request the way the platform documents it (signed webhook URL, bearer token, JSON
shape) and answers with the platform's error codes when something is off; it can fail the first attempts of
a path with HTTP 503 to exercise the client's retries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from assistant.app import create_app
from assistant.routes import channels

DATA = Path(__file__).resolve().parents[2] / "data" / "channels"

FEISHU_APP = ("cli_test_app", "feishu-app-secret")
WECOM_SECRET = "wecom-corp-secret"
ROBOT = ("robot-token", "SECrobot-secret")
WECOM_ROBOT = ("robotToken42", "kLm3Nq7rSt9uVw1xYz2AbC4dEf6GhI8jKl0MnOpQrSt", "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa")
# The platforms' documented limits on one message, and the errors they answer when a message is longer.
WECOM_APP_MARKDOWN_BYTES = 2048  # message/send markdown.content
WECOM_ROBOT_MARKDOWN_BYTES = 4096  # webhook/send markdown.content
DINGTALK_BODY_BYTES = 20000
FEISHU_CARD_BODY_BYTES = 30 * 1024


def load(name: str) -> Any:
    text = (DATA / name).read_text(encoding="utf-8")
    return json.loads(text) if name.endswith(".json") else text


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int = 200


@dataclass
class FakePlatform:
    """Records every request; ``fail[path] = n`` answers the next n requests to ``path`` with 503."""

    url: str = ""
    ws_url: str = ""  # what the Feishu long-connection endpoint hands out
    calls: list[Call] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sent(self, path_prefix: str) -> list[Call]:
        return [c for c in self.calls if c.path.startswith(path_prefix) and c.status == 200]

    # Each handler returns (status, body) for a request that reached it.
    def answer(self, call: Call) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if self.fail.get(call.path, 0) > 0:
                self.fail[call.path] -= 1
                return 503, {"error": "injected failure"}
        p, q, body = call.path, call.query, call.body
        size = len(json.dumps(body, ensure_ascii=False).encode()) if body is not None else 0
        if p.startswith("/robot/") and size > DINGTALK_BODY_BYTES:
            return 200, {"errcode": 460101, "errmsg": "message too long, exceed 20000 bytes"}
        if p.startswith("/open-apis/im/") and size > FEISHU_CARD_BODY_BYTES:
            return 400, {"code": 230025, "msg": "The message content is too long"}
        if p == "/cgi-bin/webhook/send":
            if q.get("key") != WECOM_ROBOT[2]:
                return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
            content = (body.get("markdown") or {}).get("content", "")
            if body.get("msgtype") != "markdown" or not content or not body.get("chatid"):
                return 200, {"errcode": 40008, "errmsg": "invalid message type"}
            if len(content.encode()) > WECOM_ROBOT_MARKDOWN_BYTES:
                return 200, {"errcode": 45002, "errmsg": "content size out of limit"}
            return 200, {"errcode": 0, "errmsg": "ok"}
        if p == "/robot/sendBySession":
            return 200, _dingtalk_message(body) or {"errcode": 0, "errmsg": "ok"}
        if p == "/robot/send":
            token, secret = ROBOT
            expected = base64.b64encode(hmac.new(secret.encode(), f"{q.get('timestamp')}\n{secret}".encode(),
                                                 hashlib.sha256).digest()).decode()
            if q.get("access_token") != token or q.get("sign") != expected:
                return 200, {"errcode": 310000, "errmsg": "sign not match"}
            return 200, _dingtalk_message(body) or {"errcode": 0, "errmsg": "ok"}
        if p == "/open-apis/auth/v3/tenant_access_token/internal":
            if body != {"app_id": FEISHU_APP[0], "app_secret": FEISHU_APP[1]}:
                return 200, {"code": 10014, "msg": "app secret invalid"}
            return 200, {"code": 0, "msg": "ok", "tenant_access_token": "t-fake-tenant-token", "expire": 7200}
        if p.startswith("/open-apis/im/v1/messages"):
            if call.headers.get("authorization") != "Bearer t-fake-tenant-token":
                return 200, {"code": 99991663, "msg": "invalid access token"}
            reply = p.endswith("/reply")
            if not reply and (q.get("receive_id_type") not in ("chat_id", "open_id") or not body.get("receive_id")):
                return 400, {"code": 230001, "msg": "invalid receive_id"}
            if body.get("msg_type") != "interactive" or not isinstance(body.get("content"), str):
                return 400, {"code": 230001, "msg": "invalid content"}
            card = json.loads(body["content"])
            if card["elements"][0]["text"]["tag"] != "lark_md" or not card["header"]["title"]["content"]:
                return 400, {"code": 230001, "msg": "invalid card"}
            with self.lock:
                n = len(self.sent("/open-apis/im/v1/messages")) + 1
            return 200, {"code": 0, "msg": "success", "data": {"message_id": f"om_bot_{n}"}}
        if p == "/v1.0/oauth2/accessToken":
            if body != {"appKey": "dingappkey", "appSecret": "dingtalk-app-secret"}:
                return 400, {"code": "invalidClientId", "message": "app key or secret invalid"}
            return 200, {"accessToken": "ding-access-token", "expireIn": 7200}
        if p == "/v1.0/robot/oToMessages/batchSend":
            if call.headers.get("x-acs-dingtalk-access-token") != "ding-access-token":
                return 401, {"code": "InvalidAuthentication", "message": "token invalid"}
            param = json.loads(body.get("msgParam") or "{}")
            if body.get("robotCode") != "dingappkey" or body.get("msgKey") != "sampleMarkdown" or not param.get("text"):
                return 400, {"code": "param.invalid", "message": "bad message"}
            return 200, {"processQueryKey": "pqk-1", "invalidStaffIdList": [], "flowControlledStaffIdList": []}
        if p == "/callback/ws/endpoint":
            if body != {"AppID": FEISHU_APP[0], "AppSecret": FEISHU_APP[1]}:
                return 200, {"code": 514, "msg": "auth failed"}
            return 200, {"code": 0, "msg": "ok", "data": {"URL": self.ws_url, "ClientConfig": {
                "ReconnectCount": -1, "ReconnectInterval": 120, "ReconnectNonce": 30, "PingInterval": 120}}}
        if p == "/cgi-bin/gettoken":
            if q.get("corpid") != "wx5823bf96d3bd56c7" or q.get("corpsecret") != WECOM_SECRET:
                return 200, {"errcode": 40001, "errmsg": "invalid credential"}
            return 200, {"errcode": 0, "errmsg": "ok", "access_token": "wecom-access-token", "expires_in": 7200}
        if p in ("/cgi-bin/appchat/send", "/cgi-bin/message/send"):
            if q.get("access_token") != "wecom-access-token":
                return 200, {"errcode": 40014, "errmsg": "invalid access_token"}
            target = "chatid" if p == "/cgi-bin/appchat/send" else "touser"
            if body.get("msgtype") != "markdown" or not body.get(target) or not body["markdown"].get("content"):
                return 200, {"errcode": 40008, "errmsg": "invalid message type"}
            if body.get("touser") == "Departed":  # an expert who left the company
                return 200, {"errcode": 81013, "errmsg": "user & party & tag all invalid"}
            if len(body["markdown"]["content"].encode()) > WECOM_APP_MARKDOWN_BYTES:
                return 200, {"errcode": 45002, "errmsg": "content size out of limit"}
            return 200, {"errcode": 0, "errmsg": "ok"}
        return 404, {"error": f"no such API {p}"}


def _dingtalk_message(body: Any) -> dict[str, Any] | None:
    """None when ``body`` is a well-formed DingTalk markdown message, else the platform's error."""
    markdown = body.get("markdown") if isinstance(body, dict) else None
    if body.get("msgtype") != "markdown" or not markdown or not markdown.get("title") or not markdown.get("text"):
        return {"errcode": 40035, "errmsg": "缺少参数 markdown"}
    at = body.get("at", {})
    if not isinstance(at.get("atUserIds", []), list) or at.get("isAtAll") not in (False, None):
        return {"errcode": 40035, "errmsg": "bad at"}
    return None


@pytest.fixture
def fake():
    platform = FakePlatform()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            call = Call(self.command, parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()},
                        {k.lower(): v for k, v in self.headers.items()}, body)
            status, answer = platform.answer(call)
            call.status = status
            with platform.lock:
                platform.calls.append(call)
            data = json.dumps(answer, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json; charset=utf-8")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    platform.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield platform
    server.shutdown()
    server.server_close()


@pytest.fixture
def channel_settings(session_settings, tmp_path, fake):
    """The session's index and classifier, a fresh store and chat directory, every platform configured."""
    wecom = load("wecom_official.json")
    return session_settings.model_copy(update={
        "database_url": f"sqlite:///{tmp_path / 'channels.db'}",
        "channel_chat_dir": tmp_path / "chats",
        "chat_experts": ["李工", "ou_expert_wang", "LiGong"],
        "chat_sender_names": {"ou_84aad35d084aa403a838cf73ee18467": "张敏(仓库)", "ou_expert_wang": "王主管"},
        "channel_group_names": {"oc_5ce6d572455d361153b7xx51da133945": "erp-warehouse"},
        "channel_expert_on_duty": {"dingtalk": "ligong01", "feishu": "ou_expert_wang", "wecom": "LiGong"},
        "channel_send_backoff_seconds": 0.01,
        "channel_send_timeout_seconds": 2.0,
        "dingtalk_app_secret": "dingtalk-app-secret",
        "dingtalk_robot_token": ROBOT[0],
        "dingtalk_robot_secret": ROBOT[1],
        "dingtalk_api_base": fake.url,
        "dingtalk_openapi_base": fake.url,
        "feishu_verification_token": "rvaYgkND1GOiu5MM0E1rncYC6PLtF7JV",
        "feishu_encrypt_key": "test key",
        "feishu_app_id": FEISHU_APP[0],
        "feishu_app_secret": FEISHU_APP[1],
        "feishu_api_base": fake.url,
        "wecom_token": wecom["token"],
        "wecom_encoding_aes_key": wecom["encoding_aes_key"],
        "wecom_corp_id": wecom["corp_id"],
        "wecom_corp_secret": WECOM_SECRET,
        "wecom_agent_id": 1000002,
        "wecom_api_base": fake.url,
        "wecom_robot_token": WECOM_ROBOT[0],
        "wecom_robot_encoding_aes_key": WECOM_ROBOT[1],
    })


@pytest.fixture
def channel_client(channel_settings, assistant):
    """The real app (create_app) with the channel router included, as the lead will wire it."""
    app = create_app(channel_settings, assistant=assistant)
    app.include_router(channels.router)
    with TestClient(app) as client:
        yield client


def history(settings, group: str) -> list[dict[str, Any]]:
    from assistant.channels.history import history_file_name

    path = settings.channel_chat_dir / history_file_name(group)
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def stored_questions(client) -> list[Any]:
    from sqlalchemy import select

    from assistant.store import questions

    with client.app.state.store.connect() as conn:
        return conn.execute(select(questions).order_by(questions.c.id)).all()
