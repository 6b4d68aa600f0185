"""Tenants over real HTTP: two companies with different Chinese knowledge bases (tests/data/tenants/a and b), built
with the real indexer, in one store and one app. Each key reaches only its own tenant's sources, suggestions,
questions, reviews and stats — and the store enforces the same without any route in between."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, inspect, update

from assistant.app import create_app
from assistant.store import (
    ConflictError,
    SCHEMA_VERSION,
    NotFoundError,
    create_key,
    create_tenant,
    find_key,
    get_question,
    learned_documents,
    list_queue,
    list_tenants,
    open_store,
    record_question,
    record_review,
    reopen_question,
    review_stats,
    schema_version,
)
from assistant.tenants import add_tenant
from erp_assist.domain import (
    Classification,
    Decision,
    SourceLink,
    SourceType,
    Suggestion,
    SuggestResult,
    Urgency,
)
from erp_assist.errors import ErpAssistError
from erp_assist.settings import Settings
from indexer.build import build_index
from tests.conftest import DATA
from tests.ui.forms import login, submit

TENANTS = DATA / "tenants"
ROLES = ("asker", "expert", "admin")
# Every answer of a tenant names its company: finding the other's name anywhere in a response is a leak.
MARK = {"acme": "蓝海", "beta": "红杉"}
OTHER = {"acme": "beta", "beta": "acme"}
PREFIX = {"acme": "kb://faq/a-", "beta": "kb://faq/b-"}


def _faq(tenant: str) -> list[tuple[str, str]]:
    """(id, question) of a tenant's fixture FAQ."""
    lines = (TENANTS / {"acme": "a", "beta": "b"}[tenant] / "faq.csv").read_text(encoding="utf-8").splitlines()[1:]
    return [(line.split(",")[0], line.split(",")[1]) for line in lines]


@dataclass
class World:
    settings: Settings
    store: Engine
    client: TestClient
    keys: dict[tuple[str, str], str]

    def call(self, tenant: str, role: str, method: str, url: str, **kwargs):  # noqa: ANN003, ANN201
        return self.client.request(method, url, headers={"X-API-Key": self.keys[tenant, role]}, **kwargs)

    def ask(self, tenant: str, question: str) -> dict:
        response = self.call(tenant, "asker", "POST", "/v1/suggest", json={"question": question})
        assert response.status_code == 200, response.text
        return response.json()


def _world(root: Path, session_settings: Settings, assistant, embedder, processor) -> World:  # noqa: ANN001
    settings = session_settings.model_copy(update={"tenants_dir": root / "tenants",
                                                   "database_url": f"sqlite:///{root / 'erp.db'}"})
    store = open_store(settings.database_url)
    for tenant, name, source in (("acme", "蓝海机械", "a"), ("beta", "红杉零售", "b")):
        _, tenant_settings = add_tenant(settings, store, tenant_id=tenant, name=name, from_dir=TENANTS / source)
        build_index(tenant_settings, embedder=embedder, processor=processor)
    add_tenant(settings, store, tenant_id="empty", name="尚未建索引")
    keys = {(tenant, role): create_key(store, name=f"{tenant}-{role}", role=role, tenant=tenant)[1]
            for tenant in ("default", "acme", "beta", "empty") for role in ROLES}
    return World(settings, store, TestClient(create_app(settings, assistant=assistant)), keys)


@pytest.fixture(scope="module")
def world(tmp_path_factory, session_settings, assistant, embedder, processor):
    built = _world(tmp_path_factory.mktemp("tenants"), session_settings, assistant, embedder, processor)
    with built.client:
        yield built
    built.store.dispose()


# Over HTTP ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tenant", ["acme", "beta"])
def test_a_key_reads_only_its_own_tenants_sources(world, tenant):
    other = OTHER[tenant]
    for faq_id, _ in _faq(tenant):
        if faq_id != "shared-1":
            assert world.call(tenant, "asker", "GET", f"/v1/sources/kb://faq/{faq_id}").status_code == 200
            refused = world.call(other, "admin", "GET", f"/v1/sources/kb://faq/{faq_id}")
            assert refused.status_code == 404, faq_id
            assert MARK[tenant] not in refused.text
    # The same source id in both knowledge bases: each key gets its own company's answer.
    shared = world.call(tenant, "asker", "GET", "/v1/sources/kb://faq/shared-1").json()
    text = "".join(chunk["text"] for chunk in shared["chunks"])
    assert MARK[tenant] in text and MARK[other] not in text


@pytest.mark.parametrize("tenant", ["acme", "beta"])
def test_suggestions_never_show_another_tenants_knowledge(world, tenant):
    other = OTHER[tenant]
    for faq_id, question in _faq(other):
        own = world.ask(other, question)
        assert own["suggestions"][0]["source"]["uri"] == f"kb://faq/{faq_id}"  # answerable where it belongs
        response = world.call(tenant, "asker", "POST", "/v1/suggest", json={"question": question, "top_k": 10})
        assert response.status_code == 200
        assert MARK[other] not in response.text, question
        uris = [s["source"]["uri"] for s in response.json()["suggestions"]]
        assert not [u for u in uris if u.startswith(PREFIX[other])], (question, uris)
        if faq_id == "shared-1":
            assert uris[0] == "kb://faq/shared-1" and MARK[tenant] in response.json()["suggestions"][0]["draft"]


def test_another_tenants_question_is_404_and_never_queued(world):
    # An ERP question (a store's price list in the ERP), so the off-topic gate keeps it in the queue.
    asked = world.ask("beta", "红杉门店的电子价签一直不更新价格表里的新价格怎么办")
    assert not asked["off_topic"]
    qid = asked["question_id"]
    missing = world.call("beta", "expert", "GET", "/v1/questions/987654").json()["detail"]
    assert world.call("beta", "expert", "GET", f"/v1/questions/{qid}").status_code == 200
    for role in ("expert", "admin"):
        response = world.call("acme", role, "GET", f"/v1/questions/{qid}")
        assert response.status_code == 404
        assert response.json()["detail"] == missing.replace("987654", str(qid))  # same answer as a missing id
    assert world.call("default", "admin", "GET", f"/v1/questions/{qid}").status_code == 404

    def queued(tenant: str) -> list[int]:
        response = world.call(tenant, "expert", "GET", "/v1/review/queue", params={"limit": 500})
        assert response.status_code == 200
        assert "电子价签" not in response.text or tenant == "beta"
        return [q["id"] for q in response.json()["questions"]]

    assert qid in queued("beta")
    assert qid not in queued("acme") and qid not in queued("default") and qid not in queued("empty")

    review = {"decision": "edit", "suggestion_rank": None, "edited_answer": "蓝海的答案不该进红杉的知识库。"}
    assert world.call("acme", "expert", "POST", f"/v1/questions/{qid}/review", json=review).status_code == 404
    assert world.call("acme", "admin", "POST", f"/v1/questions/{qid}/review",
                      json={"decision": "reject"}).status_code == 404
    assert world.call("acme", "expert", "POST", f"/v1/questions/{qid}/reopen", json={}).status_code == 404
    untouched = world.call("beta", "expert", "GET", f"/v1/questions/{qid}").json()
    assert untouched["status"] == "open" and untouched["reviews"] == []


def test_stats_count_only_the_keys_tenant(world):
    def stats(tenant: str) -> tuple[dict, dict]:
        review = world.call(tenant, "expert", "GET", "/v1/stats")
        group = world.call(tenant, "expert", "GET", "/v1/stats/group")
        assert review.status_code == group.status_code == 200
        return review.json()["overall"], {k: v for k, v in group.json().items() if k != "until"}

    before = {tenant: stats(tenant) for tenant in ("acme", "beta", "empty")}
    asked = world.ask("acme", "二号仓的扫码枪扫不出批次号")
    decided = world.call("acme", "expert", "POST", f"/v1/questions/{asked['question_id']}/review",
                         json={"decision": "accept", "suggestion_rank": 1})
    assert decided.status_code == 200
    after = {tenant: stats(tenant) for tenant in ("acme", "beta", "empty")}
    assert after["acme"][0]["questions"] == before["acme"][0]["questions"] + 1
    assert after["acme"][0]["reviewed"] == before["acme"][0]["reviewed"] + 1
    assert after["acme"][1]["questions"] == before["acme"][1]["questions"] + 1
    assert after["beta"] == before["beta"] and after["empty"] == before["empty"]
    assert after["empty"][0]["questions"] == 0 and after["empty"][1]["leaderboard"] == []
    assert "acme-expert" in [e["expert"] for e in after["acme"][1]["leaderboard"]]
    assert "acme-expert" not in [e["expert"] for e in after["beta"][1]["leaderboard"]]
    metrics = world.client.get("/metrics").text
    assert 'erp_assist_group_open_p1{tenant="acme"}' in metrics and 'erp_assist_group_open_p1{tenant="beta"}' in metrics
    assert re.search(r'erp_assist_index_build\{build_id="[^"]+",tenant="acme"\} 1.0', metrics)


def test_a_tenant_without_an_index_answers_503_and_keeps_its_queue(world):
    response = world.call("empty", "asker", "POST", "/v1/suggest", json={"question": "系统登录密码忘记了怎么办？"})
    assert response.status_code == 503
    assert "erp-assist index --tenant empty" in response.json()["detail"]
    assert world.call("empty", "asker", "GET", "/v1/sources/kb://faq/shared-1").status_code == 503
    assert world.call("empty", "expert", "GET", "/v1/review/queue").json()["questions"] == []
    assert world.client.get("/readyz").status_code == 200  # the other tenants are served
    assert world.ask("default", "账号被锁了登录不上去")["suggestions"][0]["source"]["uri"] == "kb://faq/t-sys-1"


def test_review_page_shows_only_the_logged_in_keys_tenant(world):
    theirs = world.ask("beta", "会员积分兑换以后一直没扣减")["question_id"]
    ours = world.ask("acme", "外协加工费的发票怎么挂账")["question_id"]
    with TestClient(world.client.app) as browser:
        assert login(browser, world.keys["acme", "expert"]).status_code == 200
        queue = browser.get("/ui/queue")
        assert f"/ui/questions/{ours}" in queue.text and f"/ui/questions/{theirs}" not in queue.text
        assert "兑换以后一直没扣减" not in queue.text
        assert browser.get(f"/ui/questions/{theirs}").status_code == 404
        refused = submit(browser, "/ui/queue", f"/ui/questions/{theirs}/review", {"decision": "reject"},
                         follow_redirects=False)
        assert refused.status_code == 404
        assert browser.get("/ui/sources", params={"uri": "kb://faq/b-crm-1"}).status_code == 404
        assert MARK["acme"] in browser.get("/ui/sources", params={"uri": "kb://faq/shared-1"}).text
    assert world.call("beta", "expert", "GET", f"/v1/questions/{theirs}").json()["status"] == "open"


def test_admin_rebuild_uses_only_the_tenants_own_learned_answers(tmp_path, session_settings, assistant, embedder,
                                                                 processor):
    world = _world(tmp_path, session_settings, assistant, embedder, processor)
    with world.client:
        question = "红杉门店的小票打印机打不出会员号"
        answer = "在【门店管理】→【打印模板】勾选“会员号”，红杉门店重新登录POS后生效。"
        qid = world.ask("beta", question)["question_id"]
        assert world.call("beta", "expert", "POST", f"/v1/questions/{qid}/review",
                          json={"decision": "edit", "edited_answer": answer}).status_code == 200
        assert world.call("acme", "admin", "POST", "/v1/admin/rebuild").json()["counts"]["learned_faq_entries"] == 0
        rebuilt = world.call("beta", "admin", "POST", "/v1/admin/rebuild")
        assert rebuilt.status_code == 200, rebuilt.text
        assert rebuilt.json()["counts"]["learned_faq_entries"] == 1
        learned = f"kb://faq/learned-{qid}"
        again = world.ask("beta", "小票上打印不出会员号")
        assert again["build_id"] == rebuilt.json()["build_id"]
        assert again["suggestions"][0]["source"]["uri"] == learned
        assert world.call("beta", "asker", "GET", f"/v1/sources/{learned}").status_code == 200
        assert world.call("acme", "asker", "GET", f"/v1/sources/{learned}").status_code == 404
        theirs = world.call("acme", "asker", "POST", "/v1/suggest", json={"question": question}).json()
        assert all(s["source"]["uri"] != learned and "红杉" not in s["draft"] for s in theirs["suggestions"])
    world.store.dispose()


def test_chat_channels_answer_from_the_configured_tenant(world, tmp_path):
    from assistant.channels import ChannelService, IncomingMessage

    settings = world.settings.model_copy(update={"channel_tenant": "beta", "channel_chat_dir": tmp_path / "chats"})
    service = ChannelService(settings, adapters={})
    message = IncomingMessage(platform="feishu", msg_id="m1", chat_id="oc_x", group="红杉-门店群", sender="店员小李",
                              sender_id="u1", text="门店POS日结时提示收银差异超限怎么办",
                              ts=datetime(2025, 3, 3, 9, 0, tzinfo=timezone(timedelta(hours=8))), mentions_bot=True)
    pool = world.client.app.state.tenants
    with pytest.raises(ValueError, match="beta"):
        service.handle(message, assistant=pool.get("default"), store=world.store)
    outcome = service.handle(message, assistant=pool.get("beta"), store=world.store)
    assert outcome.kind == "question" and outcome.result.suggestions[0].source.uri == "kb://faq/b-pos-1"
    assert get_question(world.store, tenant="beta", question_id=outcome.question_id).group == "红杉-门店群"
    with pytest.raises(NotFoundError):
        get_question(world.store, tenant="default", question_id=outcome.question_id)


# In the store ------------------------------------------------------------------------------------------


def _result(text: str, uri_id: str = "x-1") -> SuggestResult:
    link = SourceLink(SourceType.FAQ, uri_id, "标题", "", f"kb://faq/{uri_id}")
    return SuggestResult(text, Classification("finance", Urgency.P2, 0.9, 0.9),
                         [Suggestion(1, 0.5, f"{text}的草稿", link, "")], abstained=False, build_id="seed")


@pytest.fixture
def store(store_url):
    engine = open_store(store_url)
    create_tenant(engine, tenant_id="acme", name="蓝海机械")
    create_tenant(engine, tenant_id="beta", name="红杉零售")
    yield engine
    engine.dispose()


def test_store_functions_filter_by_tenant(store):
    key_a = create_key(store, name="a", role="expert", tenant="acme")[0]
    qa = record_question(store, tenant="acme", result=_result("蓝海的问题"), key_id=key_a.id)
    qb = record_question(store, tenant="beta", result=_result("红杉的问题"))
    qb2 = record_question(store, tenant="beta", result=_result("红杉的第二个问题"))
    assert get_question(store, tenant="acme", question_id=qa).tenant == "acme"
    for call in (lambda: get_question(store, tenant="acme", question_id=qb),
                 lambda: record_review(store, tenant="acme", question_id=qb, decision=Decision.REJECT, reviewer="a"),
                 lambda: reopen_question(store, tenant="acme", question_id=qb, reviewer="a")):
        with pytest.raises(NotFoundError, match=f"^no question {qb}$"):  # word for word what a missing id gets
            call()
    assert [q.id for q in list_queue(store, tenant="acme")] == [qa]
    assert [q.id for q in list_queue(store, tenant="beta")] == [qb, qb2]

    record_review(store, tenant="beta", question_id=qb, decision=Decision.EDIT, reviewer="b", edited_answer="红杉答")
    record_review(store, tenant="beta", question_id=qb2, decision=Decision.ACCEPT, reviewer="b", suggestion_rank=1)
    documents, alternates = learned_documents(store, tenant="beta")
    assert [d.source_id for d in documents] == [f"learned-{qb}"] and alternates == {"x-1": ["红杉的第二个问题"]}
    assert learned_documents(store, tenant="acme") == ([], {})
    assert (review_stats(store, tenant="acme")["overall"]["questions"],
            review_stats(store, tenant="acme")["overall"]["reviewed"]) == (1, 0)
    beta = review_stats(store, tenant="beta")["overall"]
    assert (beta["questions"], beta["reviewed"], beta["edit_rate"]) == (2, 2, 0.5)

    with pytest.raises(ValueError, match="belongs to tenant 'acme'"):
        record_question(store, tenant="beta", result=_result("借别人的钥匙"), key_id=key_a.id)
    with pytest.raises(NotFoundError, match="no tenant 'gamma'"):
        record_question(store, tenant="gamma", result=_result("不存在的租户"))
    with pytest.raises(NotFoundError, match="erp-assist tenants create gamma"):
        create_key(store, name="g", role="asker", tenant="gamma")


def test_tenants_are_created_once_with_valid_ids(store):
    with pytest.raises(ConflictError):
        create_tenant(store, tenant_id="acme")
    with pytest.raises(ConflictError):
        create_tenant(store, tenant_id="default")  # always there
    for bad in ("Acme", "1acme", "acme-co", "", "a" * 33, "../etc"):
        with pytest.raises(ValueError, match="must match"):
            create_tenant(store, tenant_id=bad)
    create_key(store, name="a", role="asker", tenant="acme")
    record_question(store, tenant="acme", result=_result("问题"))
    summary = {s.tenant.id: (s.tenant.name, s.keys, s.questions, s.open) for s in list_tenants(store)}
    assert summary == {"acme": ("蓝海机械", 1, 1, 1), "beta": ("红杉零售", 0, 0, 0), "default": ("default", 0, 0, 0)}


def test_a_schema_1_store_is_migrated_to_the_default_tenant(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((DATA / "store_v1.sql").read_text(encoding="utf-8"))
        conn.execute("INSERT INTO api_keys (name, role, key_hash, created_at, revoked) VALUES "
                     "('李工', 'expert', 'd5b2f7e1c51a1c1d4ab7b2ad1b63c2b4c9d2b0b8d8f4c05c0a5d3b8f6e0e2d11', "
                     "'2025-03-01 08:00:00', 0)")
        conn.execute("INSERT INTO questions (text, module, urgency, module_confidence, urgency_confidence, cues, "
                     "abstained, status, created_at) VALUES ('旧的问题', 'finance', 'P2', 0.9, 0.8, '[]', 0, 'open', "
                     "'2025-03-01 08:05:00')")
    engine = open_store(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.execute(schema_version.select()).scalar() == SCHEMA_VERSION == 6
        assert inspect(conn).has_table("tag_corrections")
    [old] = list_queue(engine, tenant="default")
    assert old.text == "旧的问题" and old.tenant == "default"
    assert [s.tenant.id for s in list_tenants(engine)] == ["default"]
    assert list_tenants(engine)[0].keys == 1
    create_tenant(engine, tenant_id="acme")
    assert list_queue(engine, tenant="acme") == []
    key, plain = create_key(engine, name="new", role="asker", tenant="acme")
    assert find_key(engine, plain=plain) == key
    engine.dispose()
    again = open_store(f"sqlite:///{path}")  # opening a migrated store again changes nothing
    assert [s.tenant.id for s in list_tenants(again)] == ["acme", "default"]
    with again.begin() as conn:
        conn.execute(update(schema_version).values(version=99))
    again.dispose()
    with pytest.raises(ErpAssistError, match="newer"):
        open_store(f"sqlite:///{path}")
