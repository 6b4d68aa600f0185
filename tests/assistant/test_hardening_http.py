"""Issue #15 over real HTTP: input the API cannot echo or store, chunked bodies past the limit, a busy store,
security headers, script links from source front matter, server paths in error details, askers naming others,
and an open /metrics."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import socket
import sqlite3
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from assistant.app import create_app
from assistant.store import create_key, create_tenant, open_store
from assistant.tenants import add_tenant
from erp_assist.errors import StoreBusyError
from tests.live_server import serve_in_thread

ROLES = ("asker", "expert", "admin")
ABSOLUTE_PATH = re.compile(r"(?<![\w:/.])/(?:tmp|home|root|var|srv|opt|usr|work|etc)\b|[A-Za-z]:\\")


@pytest.fixture(scope="module")
def hardened(session_settings, tmp_path_factory):
    """The session's settings with a store and tenants directory of this module's own."""
    tmp = tmp_path_factory.mktemp("hardening")
    return session_settings.model_copy(update={"database_url": f"sqlite:///{tmp / 'hard.db'}",
                                               "tenants_dir": tmp / "tenants"})


@pytest.fixture(scope="module")
def keys(hardened) -> dict[str, str]:
    store = open_store(hardened.database_url)
    keys = {role: create_key(store, name=f"{role}-hard", role=role)[1] for role in ROLES}
    store.dispose()
    return keys


@pytest.fixture(scope="module")
def app(hardened, assistant, keys):
    return create_app(hardened, assistant=assistant)


@pytest.fixture(scope="module")
def client(app, keys) -> Iterator[TestClient]:
    with TestClient(app, headers={"X-API-Key": keys["asker"]}) as c:
        yield c


@pytest.fixture(scope="module")
def question_id(client) -> int:
    body = client.post("/v1/suggest", json={"question": "出库的时候说库存不够，可是货架上明明有货"}).json()
    return body["question_id"]


def _strict_json(text: str):  # noqa: ANN202
    """The body parsed as standard JSON (no NaN/Infinity), as any client but Python's would parse it."""
    def refuse(name: str) -> None:
        raise AssertionError(f"the response holds {name}, which is not JSON")

    return json.loads(text, parse_constant=refuse)


# 1. Input FastAPI would echo back (or the store could not keep) is a 422, never a 500 ------------------

UNSAFE = {
    "lone surrogate in the question": ("/v1/suggest", "asker", rb'{"question": "\ud800 ku cun"}'),
    "lone low surrogate in the question": ("/v1/suggest", "asker", rb'{"question": "pan dian \udfff"}'),
    "lone surrogate in an unknown key": ("/v1/suggest", "asker", rb'{"question": "ok", "\ud800": 1}'),
    "NaN top_k": ("/v1/suggest", "asker", b'{"question": "\xe7\x9b\x98\xe7\x82\xb9", "top_k": NaN}'),
    "Infinity top_k": ("/v1/suggest", "asker", b'{"question": "ok", "top_k": Infinity}'),
    "-Infinity top_k": ("/v1/suggest", "asker", b'{"question": "ok", "top_k": -Infinity}'),
    "overflowing float top_k": ("/v1/suggest", "asker", b'{"question": "ok", "top_k": 1e999}'),
    "NaN question": ("/v1/suggest", "asker", b'{"question": NaN}'),
    "NUL in the question": ("/v1/suggest", "asker", rb'{"question": "ku cun \u0000 bu zu"}'),
    "NUL in the context": ("/v1/suggest", "asker", rb'{"question": "ok", "context": "\u0000"}'),
    "NUL in a key name": ("/v1/suggest", "asker", rb'{"question": "ok", "a\u0000": 1}'),
    "NaN rank in a review": ("/v1/questions/{id}/review", "expert",
                             b'{"decision": "accept", "suggestion_rank": NaN}'),
    "surrogate decision": ("/v1/questions/{id}/review", "expert", rb'{"decision": "\ud83d"}'),
    "NUL in a review note": ("/v1/questions/{id}/review", "expert",
                             rb'{"decision": "reject", "note": "x\u0000"}'),
    "NUL in an edited answer": ("/v1/questions/{id}/review", "expert",
                                rb'{"decision": "edit", "suggestion_rank": 1, "edited_answer": "a\u0000b"}'),
    "NUL in a reopen note": ("/v1/questions/{id}/reopen", "expert", rb'{"note": "\u0000"}'),
    "surrogate module tag": ("/v1/questions/{id}/tags", "expert", rb'{"module": "\udc00"}'),
    "Infinity in a nested list": ("/v1/suggest", "asker", b'{"question": "ok", "top_k": [1, [Infinity]]}'),
}


@pytest.mark.parametrize("case", list(UNSAFE), ids=list(UNSAFE))
def test_unencodable_or_unstorable_json_is_422(client, keys, question_id, case):
    path, role, body = UNSAFE[case]
    response = client.post(path.format(id=question_id), content=body,
                           headers={"X-API-Key": keys[role], "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    detail = _strict_json(response.text)["detail"]
    assert detail and "\ud800" not in response.text


def test_a_paired_surrogate_escape_is_an_ordinary_character(client):
    # "\ud83d\ude00" is JSON's spelling of 😀: valid input (it just has no Chinese text to answer from).
    response = client.post("/v1/suggest", content=rb'{"question": "\ud83d\ude00 \u5e93\u5b58\u4e0d\u8db3"}',
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text


def test_undecodable_bytes_in_a_non_json_body_are_422(client):
    response = client.post("/v1/suggest", content=b"\xff\xfe\xfa question",
                           headers={"Content-Type": "text/plain"})
    assert response.status_code == 422
    assert _strict_json(response.text)["detail"]


@pytest.mark.parametrize("query", ["module=a%00b", "limit=1&module=%00"])
def test_nul_in_a_query_parameter_is_422(client, keys, query):
    response = client.get(f"/v1/review/queue?{query}", headers={"X-API-Key": keys["expert"]})
    assert response.status_code == 422 and "NUL" in str(response.json()["detail"])


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_group_stats_of_a_day_at_the_calendars_edge_is_422(client, keys, day):
    response = client.get(f"/v1/stats/group?date={day}", headers={"X-API-Key": keys["expert"]})
    assert response.status_code == 422, response.text
    assert day in response.json()["detail"] and "between" in response.json()["detail"]


@pytest.mark.parametrize("day", ["9999-12-30", "0001-01-02", "2024-11-04"])
def test_group_stats_of_any_other_day_answers(client, keys, day):
    response = client.get(f"/v1/stats/group?date={day}", headers={"X-API-Key": keys["expert"]})
    assert response.status_code == 200 and response.json()["date"] == day


# 2. The body limit holds for the bytes actually read ----------------------------------------------------


def test_a_chunked_body_over_the_limit_is_413(client):
    def megabyte() -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(64):
            yield "问".encode() * 5_000  # 15 kB a chunk, about 1 MB in all
        yield b'"}'

    response = client.post("/v1/suggest", content=megabyte(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "64000 bytes" in response.json()["detail"]


@pytest.fixture(scope="module")
def server(hardened, assistant, keys) -> Iterator[tuple[str, int]]:
    """The app under a real uvicorn on 127.0.0.1, with an 8 kB body limit."""
    limited = hardened.model_copy(update={"max_body_bytes": 8192})
    with serve_in_thread(create_app(limited, assistant=assistant)) as base:
        host, port = base.removeprefix("http://").split(":")
        yield host, int(port)


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def test_a_chunked_upload_is_refused_as_soon_as_it_passes_the_limit(server, keys):
    # 12 kB of a body that never ends: the 413 must come before the rest is sent.
    host, port = server
    with socket.create_connection((host, port), timeout=10) as conn:
        conn.sendall(b"POST /v1/suggest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"X-API-Key: " + keys["asker"].encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        conn.sendall(_chunk(b'{"question": "' + b"a" * 4000))
        conn.sendall(_chunk(b"a" * 4000) + _chunk(b"a" * 4000))
        received = b""
        while b"\r\n\r\n" not in received:
            data = conn.recv(65536)  # socket.timeout here: the server waits for the rest of the body
            assert data, f"the server closed the connection without answering: {received!r}"
            received += data
    status_line = received.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 413"), received


def test_a_small_chunked_body_still_reaches_the_route(server, keys):
    host, port = server

    def body() -> Iterator[bytes]:
        yield '{"question": "盘点'.encode()
        yield '差异怎么处理"}'.encode()

    response = httpx.post(f"http://{host}:{port}/v1/suggest", content=body(), timeout=30,
                          headers={"X-API-Key": keys["asker"], "Content-Type": "application/json"})
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert response.status_code == 200, response.text


def test_metrics_answer_a_loopback_client_of_a_real_server(server):
    host, port = server
    assert httpx.get(f"http://{host}:{port}/metrics").status_code == 200


# 3. A busy store is a 503 with Retry-After, counted in /metrics -----------------------------------------


def test_store_busy_is_503_with_retry_after_and_counted(hardened, assistant, keys):
    app = create_app(hardened, assistant=assistant)

    @app.get("/test/busy")
    def busy() -> None:
        raise StoreBusyError("the review store is busy; retry in a second")

    @app.post("/test/busy-longer")
    def busy_longer() -> None:
        error = StoreBusyError("no free connection in /srv/erp/pool")
        error.retry_after_seconds = 3
        raise error

    with TestClient(app) as c:
        first, second = c.get("/test/busy"), c.get("/test/busy")
        longer = c.post("/test/busy-longer")
        metrics = c.get("/metrics").text
    for response in (first, second):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json() == {"detail": "the review store is busy; retry in a second"}
    assert longer.status_code == 503 and longer.headers["retry-after"] == "3"
    assert "/srv" not in longer.text and "3 seconds" in longer.json()["detail"]
    assert 'erp_assist_store_busy_total{route="/test/busy"} 2.0' in metrics
    assert 'erp_assist_store_busy_total{route="/test/busy-longer"} 1.0' in metrics


def test_a_locked_sqlite_store_is_503_not_500(hardened, assistant, tmp_path):
    """Relies on the store raising StoreBusyError for a locked database (assistant/store/engine.py)."""
    db = tmp_path / "locked.db"
    locked = hardened.model_copy(update={"database_url": f"sqlite:///{db}"})
    _, key = create_key(open_store(locked.database_url), name="locked-asker", role="asker")
    app = create_app(locked, assistant=assistant)
    with TestClient(app, headers={"X-API-Key": key}) as c:
        patient = app.state.store
        app.state.store = open_store(locked.database_url, busy_timeout_seconds=0.05)
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            response = c.post("/v1/suggest", json={"question": "盘点差异怎么处理"})
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        after = c.post("/v1/suggest", json={"question": "盘点差异怎么处理"})
        metrics = c.get("/metrics").text
        patient.dispose()
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert "busy" in response.json()["detail"]
    assert after.status_code == 200
    assert 'erp_assist_store_busy_total{route="/v1/suggest"} 1.0' in metrics


# 4. Security headers on every response ------------------------------------------------------------------

COMMON_HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY",
                  "referrer-policy": "same-origin"}


def _login(client: TestClient, key: str) -> None:
    """Log in through the form as a browser does: with the page's csrf_token (if it has one) and an Origin."""
    token = re.search(r'name="csrf_token" value="([^"]*)"', client.get("/ui/login").text)
    data = {"api_key": key} | ({"csrf_token": token.group(1)} if token else {})
    origin = f"{client.base_url.scheme}://{client.base_url.netloc.decode('ascii')}"
    response = client.post("/ui/login", data=data, headers={"Origin": origin}, follow_redirects=False)
    assert response.status_code == 303


def test_security_headers_on_html_and_json(client, hardened, assistant):
    with TestClient(create_app(hardened, assistant=assistant)) as fresh:
        login = fresh.get("/ui/login")
    answers = {
        "json 200": client.post("/v1/suggest", json={"question": "盘点差异怎么处理"}),
        "json 401": client.get("/v1/review/queue", headers={"X-API-Key": ""}),
        "json 404": client.get("/v1/nowhere"),
        "json 413": client.post("/v1/suggest", content=b"x" * 70_000),
        "json 422": client.post("/v1/suggest", json={}),
        "metrics": client.get("/metrics"),
        "html": login,
    }
    for name, response in answers.items():
        for header, value in COMMON_HEADERS.items():
            assert response.headers.get(header) == value, (name, header)
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], name
    csp = login.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert login.headers["content-type"].startswith("text/html")
    assert directives["script-src"].startswith("'self'") and "'unsafe-inline'" not in directives["script-src"]
    assert directives["style-src"] == "'self' 'unsafe-inline'"
    assert directives["frame-ancestors"] == "'none'"
    assert answers["json 200"].headers["content-security-policy"].startswith("default-src 'none'")


def test_the_review_pages_run_no_script_the_policy_does_not_name(hardened, assistant, keys, question_id):
    """The pages have no <script> of their own; the one inline event handler (the queue's module filter) is
    allowed by its hash, so the policy and the templates stay in step."""
    with TestClient(create_app(hardened, assistant=assistant)) as browser:
        _login(browser, keys["expert"])
        page = browser.get("/ui/queue")
    assert page.status_code == 200
    assert "<script" not in page.text
    csp = page.headers["content-security-policy"]
    for handler in re.findall(r'\son[a-z]+="([^"]*)"', page.text):
        digest = base64.b64encode(hashlib.sha256(handler.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp, handler


def test_api_docs_keep_a_policy_they_can_run_under(client):
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["x-frame-options"] == "DENY"
    assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]


# 5. Only http(s) source URLs become links ---------------------------------------------------------------

EVIL_SOP = """---
id: sop-test-evil
title: 固定资产折旧计提操作规范
module: finance
updated_at: 2024-10-01
source_url: javascript:alert(1)
---
# 固定资产折旧计提操作规范

## 计提步骤
每月末在【固定资产】→【折旧计提】中选择会计期间，点击【计提折旧】，系统按卡片的折旧方法生成折旧凭证。
计提前先确认本月新增的固定资产卡片已经审核，否则这些卡片不参与本月折旧。
"""


def test_a_script_source_url_is_never_a_link(settings, kb_copy, embedder, processor):
    from assistant.service import Assistant
    from indexer.build import build_index

    (kb_copy / "sops" / "sop-test-evil.md").write_text(EVIL_SOP, encoding="utf-8")
    settings = settings.model_copy(update={"data_dir": kb_copy})
    build_index(settings, embedder=embedder, processor=processor)
    store = open_store(settings.database_url)
    keys = {role: create_key(store, name=f"{role}-evil", role=role)[1] for role in ("asker", "expert")}
    with TestClient(create_app(settings, assistant=Assistant(settings).load()),
                    headers={"X-API-Key": keys["asker"]}) as c:
        body = c.post("/v1/suggest", json={"question": "固定资产折旧怎么计提", "top_k": 10}).json()
        evil = [s["source"] for s in body["suggestions"] if s["source"]["id"] == "sop-test-evil"]
        assert evil, [s["source"]["uri"] for s in body["suggestions"]]
        assert all(source["url"] is None for source in evil)
        assert "javascript:" not in json.dumps(body)
        for uri in (evil[0]["uri"], evil[0]["uri"].split("#")[0]):
            source = c.get(f"/v1/sources/{uri}")
            assert source.status_code == 200 and source.json()["url"] is None
        stored = c.get(f"/v1/questions/{body['question_id']}", headers={"X-API-Key": keys["expert"]})
        assert stored.status_code == 200 and "javascript:" not in stored.text
        _login(c, keys["expert"])
        page = c.get("/ui/sources", params={"uri": evil[0]["uri"]})
        assert page.status_code == 200 and "固定资产折旧" in page.text
        assert "javascript:" not in page.text and "原文链接" not in page.text
        receipt = c.get("/ui/sources", params={"uri": "kb://sop/sop-test-receipt"})
        assert 'href="https://kb.example.test/sop/sop-test-receipt"' in receipt.text  # http(s) links stay


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)",
                                 "java\tscript:alert(1)", "data:text/html,<script>alert(1)</script>",
                                 "vbscript:msgbox", "file:///etc/passwd", "//evil.example/x", "https://",
                                 "http:x", "https://[::1", "https://kb.example.test/\x00"])
def test_web_url_drops_anything_but_http_links(url):
    from assistant.schemas import web_url

    assert web_url(url) is None


@pytest.mark.parametrize("url", ["https://kb.example.test/sop/a#step-1", "http://wiki.local/x?y=1",
                                 "HTTPS://A.B/c"])
def test_web_url_keeps_http_links(url):
    from assistant.schemas import web_url

    assert web_url(url) == url


# 6. Error details name no server path -------------------------------------------------------------------


@pytest.fixture(scope="module")
def tenants(hardened, assistant):
    """Tenants without an index: one with an empty sources directory, one without any."""
    store = open_store(hardened.database_url)
    add_tenant(hardened, store, tenant_id="hollow", name="无索引")
    create_tenant(store, tenant_id="nodir", name="无目录")
    keys = {t: create_key(store, name=f"admin-{t}", role="admin", tenant=t)[1] for t in ("hollow", "nodir")}
    store.dispose()
    with TestClient(create_app(hardened, assistant=assistant)) as c:
        yield c, keys


def test_a_tenant_without_an_index_is_503_naming_the_command_not_a_path(tenants):
    c, keys = tenants
    response = c.post("/v1/suggest", json={"question": "盘点差异"}, headers={"X-API-Key": keys["hollow"]})
    assert response.status_code == 503
    assert "erp-assist index --tenant hollow" in response.json()["detail"]
    assert not ABSOLUTE_PATH.search(response.text), response.text


def test_a_rebuild_without_sources_names_no_server_path(tenants, caplog):
    c, keys = tenants
    with caplog.at_level(logging.WARNING, logger="assistant.app"):
        missing = c.post("/v1/admin/rebuild", headers={"X-API-Key": keys["nodir"]})
    empty = c.post("/v1/admin/rebuild", headers={"X-API-Key": keys["hollow"]})
    assert missing.status_code == 503 and "data_dir" in missing.json()["detail"]
    assert empty.status_code == 409 and "nothing to index" in empty.json()["detail"]
    for response in (missing, empty):
        assert not ABSOLUTE_PATH.search(response.text), response.text
    assert "nodir/data" in caplog.text  # the full message stays in the server's log


def test_readiness_names_no_server_path(hardened, assistant, monkeypatch):
    from erp_assist.errors import IndexNotFoundError

    def missing(_tenant: str) -> None:
        raise IndexNotFoundError("no published index under /srv/erp/var/index; run `erp-assist index` first")

    with TestClient(create_app(hardened, assistant=assistant)) as c:
        monkeypatch.setattr(c.app.state.tenants, "get", missing)
        ready = c.get("/readyz")
    assert ready.status_code == 503 and "erp-assist index" in ready.json()["reason"]
    assert not ABSOLUTE_PATH.search(ready.text), ready.text


# 7. An asker key asks as itself -------------------------------------------------------------------------


def test_an_asker_key_cannot_ask_as_someone_else(client, keys):
    other = client.post("/v1/suggest", json={"question": "凭证过账报错", "asker": "财务总监"})
    assert other.status_code == 403 and "asker" in other.json()["detail"]
    same = client.post("/v1/suggest", json={"question": "凭证过账报错", "asker": "asker-hard"})
    plain = client.post("/v1/suggest", json={"question": "凭证过账报错"})
    grouped = client.post("/v1/suggest", json={"question": "凭证过账报错", "group": "erp-fin"})
    assert same.status_code == 200 and plain.status_code == 200 and grouped.status_code == 200
    expert = {"X-API-Key": keys["expert"]}
    for response in (same, plain, grouped):  # an asker key's group is dropped: the key vouches for none
        stored = client.get(f"/v1/questions/{response.json()['question_id']}", headers=expert).json()
        assert (stored["asker"], stored["group"]) == ("asker-hard", None)
    queue = client.get("/v1/review/queue", headers=expert).json()["questions"]
    assert "财务总监" not in {q["asker"] for q in queue}


def test_an_expert_key_may_ask_on_someone_elses_behalf(client, keys):
    expert = {"X-API-Key": keys["expert"]}
    asked = client.post("/v1/suggest", json={"question": "凭证过账报错", "asker": "张敏(财务)", "group": "erp-fin"},
                        headers=expert)
    assert asked.status_code == 200
    stored = client.get(f"/v1/questions/{asked.json()['question_id']}", headers=expert).json()
    assert (stored["asker"], stored["group"]) == ("张敏(财务)", "erp-fin")


# 8. /metrics without a token answers loopback clients only ----------------------------------------------


@pytest.mark.parametrize(("peer", "public", "status"), [
    ("203.0.113.7", False, 403), ("10.0.0.5", False, 403), ("2001:db8::1", False, 403),
    ("203.0.113.7", True, 200), ("127.0.0.1", False, 200), ("::1", False, 200),
    ("::ffff:127.0.0.1", False, 200),
])
def test_metrics_without_a_token_answer_only_loopback_clients(hardened, assistant, peer, public, status):
    settings = hardened.model_copy(update={"metrics_public": public})
    with TestClient(create_app(settings, assistant=assistant), client=(peer, 40000)) as c:
        response = c.get("/metrics")
    assert response.status_code == status, response.text
    if status == 403:
        assert "ERP_ASSIST_METRICS_TOKEN" in response.json()["detail"]


def test_metrics_with_a_token_answer_any_client_that_sends_it(hardened, assistant):
    settings = hardened.model_copy(update={"metrics_token": "s3cret"})
    with TestClient(create_app(settings, assistant=assistant), client=("203.0.113.7", 40000)) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200


@pytest.mark.parametrize(("host", "token", "warned"), [
    ("0.0.0.0", None, True), ("10.1.2.3", None, True), ("::", None, True),
    ("127.0.0.1", None, False), ("localhost", None, False), ("0.0.0.0", "s3cret", False),
])
def test_startup_warns_when_metrics_are_unguarded_off_loopback(hardened, assistant, caplog, host, token,
                                                                warned):
    settings = hardened.model_copy(update={"api_host": host, "metrics_token": token})
    app = create_app(settings, assistant=assistant)
    with caplog.at_level(logging.WARNING, logger="assistant.app"), TestClient(app):
        pass
    messages = [r.getMessage() for r in caplog.records if r.name == "assistant.app"]
    assert any("ERP_ASSIST_METRICS_TOKEN" in m for m in messages) == warned, messages
