import pytest
from fastapi.testclient import TestClient

from assistant.app import create_app


@pytest.fixture(scope="module")
def keys(session_settings):
    from assistant.store import create_key, open_store

    store = open_store(session_settings.database_url)
    return {role: create_key(store, name=f"{role}-api", role=role)[1] for role in ("asker", "expert", "admin")}


@pytest.fixture(scope="module")
def client(session_settings, assistant, keys):
    with TestClient(create_app(session_settings, assistant=assistant), headers={"X-API-Key": keys["asker"]}) as c:
        yield c


def test_suggest_returns_tags_and_linked_drafts(client):
    response = client.post("/v1/suggest", json={"question": "出库的时候说库存不够，可是货架上明明有货"})
    assert response.status_code == 200
    body = response.json()
    assert body["abstained"] is False
    assert body["module"] == "inventory"
    assert body["urgency"] in {"P1", "P2", "P3"}
    top = body["suggestions"][0]
    assert top["rank"] == 1
    assert top["source"]["uri"] == "kb://faq/t-inv-1"
    assert top["draft"].startswith("先用【即时库存查询】")
    assert top["excerpt"]
    uris = [s["source"]["uri"] for s in body["suggestions"]]
    assert len(uris) == len(set(uris))


def test_every_source_link_resolves(client):
    body = client.post("/v1/suggest", json={"question": "采购入库 MIGO 提示库存期间已关闭", "top_k": 5}).json()
    assert body["suggestions"]
    for suggestion in body["suggestions"]:
        response = client.get(f"/v1/sources/{suggestion['source']['uri']}")
        assert response.status_code == 200, suggestion["source"]["uri"]
        assert response.json()["chunks"]


def test_sop_source_has_section_link(client):
    body = client.post("/v1/suggest", json={"question": "收料通知单是怎么生成的"}).json()
    sop = next(s for s in body["suggestions"] if s["source"]["type"] == "sop")
    assert sop["source"]["anchor"]
    assert sop["source"]["url"].startswith("https://kb.example.test/sop/sop-test-receipt#")


def test_unknown_source_is_404(client):
    assert client.get("/v1/sources/kb://faq/nope").status_code == 404


@pytest.mark.parametrize(
    "body",
    [{"question": ""}, {"question": "   "}, {"question": "😂😂"}, {"question": "问" * 4001}, {"question": "ok", "extra": 1}, {}],
)
def test_bad_questions_are_422(client, body):
    response = client.post("/v1/suggest", json=body)
    assert response.status_code == 422
    assert response.json()["detail"]


def test_unanswerable_question_abstains(client):
    body = client.post("/v1/suggest", json={"question": "集团合并报表的内部抵消怎么做"}).json()
    assert (body["abstained"], body["off_topic"], body["suggestions"]) == (True, False, [])


def test_chatter_is_turned_away_without_drafts_or_urgency(client, session_settings, keys):
    from assistant.store import get_question, list_queue, open_store

    body = client.post("/v1/suggest", json={"question": "公司年会节目报名截止到哪天"}).json()
    assert (body["off_topic"], body["abstained"], body["suggestions"], body["urgency"]) == (True, False, [], "P3")
    store = open_store(session_settings.database_url)
    assert get_question(store, tenant="default", question_id=body["question_id"]).off_topic
    assert body["question_id"] not in [q.id for q in list_queue(store, tenant="default")]
    # Chatter that names an ERP document is an ERP question whatever the words around it.
    body = client.post("/v1/suggest", json={"question": "哈哈早上好，调拨单又卡住了"}).json()
    assert body["off_topic"] is False
    # An expert who finds a real question turned away puts it in the queue.
    turned_away = client.post("/v1/suggest", json={"question": "今天中午食堂吃什么"}).json()
    corrected = client.post(f"/v1/questions/{turned_away['question_id']}/tags", json={"off_topic": False},
                            headers={"X-API-Key": keys["expert"]})
    assert corrected.status_code == 200 and corrected.json()["off_topic"] is False
    assert turned_away["question_id"] in [q.id for q in list_queue(store, tenant="default")]


def test_keys_and_roles(client, keys):
    assert client.post("/v1/suggest", json={"question": "凭证过账"}, headers={"X-API-Key": ""}).status_code == 401
    assert client.post("/v1/suggest", json={"question": "凭证过账"}, headers={"X-API-Key": "ea_wrong"}).status_code == 401
    asked = client.post("/v1/suggest", json={"question": "凭证过账报错"}).json()
    review = {"decision": "reject", "note": "test"}
    assert client.post(f"/v1/questions/{asked['question_id']}/review", json=review).status_code == 403
    assert client.get("/v1/review/queue").status_code == 403
    bearer = {"Authorization": f"Bearer {keys['expert']}", "X-API-Key": ""}
    assert client.get("/v1/review/queue", headers=bearer).status_code == 200


def test_asker_sees_only_own_questions(client, session_settings, keys):
    from assistant.store import create_key, open_store

    _, other = create_key(open_store(session_settings.database_url), name="someone else", role="asker")
    mine = client.post("/v1/suggest", json={"question": "工资条怎么发"}).json()["question_id"]
    assert client.get(f"/v1/questions/{mine}").status_code == 200
    assert client.get(f"/v1/questions/{mine}", headers={"X-API-Key": other}).status_code == 404
    assert client.get(f"/v1/questions/{mine}", headers={"X-API-Key": keys["expert"]}).status_code == 200


def test_oversize_body_is_413(client):
    response = client.post("/v1/suggest", content=b'{"question": "' + "问".encode() * 30000 + b'"}',
                           headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_rate_limit_is_429(session_settings, assistant):
    from assistant.store import create_key, open_store

    limited = session_settings.model_copy(update={"rate_limit_per_minute": 3})
    _, key = create_key(open_store(limited.database_url), name="busy", role="asker")
    with TestClient(create_app(limited, assistant=assistant), headers={"X-API-Key": key}) as c:
        codes = [c.post("/v1/suggest", json={"question": "盘点差异"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_metrics_count_requests_and_name_the_build(client):
    client.post("/v1/suggest", json={"question": "盘点差异怎么处理"})
    text = client.get("/metrics").text
    assert 'erp_assist_requests_total{method="POST",route="/v1/suggest",status="200"}' in text
    assert "erp_assist_suggestions_served_total" in text
    assert 'erp_assist_index_build{build_id="' in text


def test_health_and_ready(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["build_id"]


def test_service_switches_to_a_new_build_without_restart(settings, kb_copy, embedder, processor):
    from assistant.service import Assistant
    from assistant.store import create_key, open_store
    from indexer.build import build_index

    settings = settings.model_copy(update={"data_dir": kb_copy})
    build_index(settings, embedder=embedder, processor=processor)
    _, key = create_key(open_store(settings.database_url), name="asker", role="asker")
    app = create_app(settings, assistant=Assistant(settings).load())
    with TestClient(app, headers={"X-API-Key": key}) as client:
        question = "固定资产卡片怎么批量导入"
        before = client.post("/v1/suggest", json={"question": question}).json()
        assert "kb://faq/t-fa-1" not in [s["source"]["uri"] for s in before["suggestions"]]
        faq = kb_copy / "faq.csv"
        faq.write_text(faq.read_text(encoding="utf-8")
                       + "t-fa-1,固定资产卡片如何批量导入？,在【固定资产】→【卡片管理】下载导入模板，填好后点击【批量导入】。,finance,固定资产,2024-12-02\n",
                       encoding="utf-8")
        new = build_index(settings, embedder=embedder, processor=processor)
        body = client.post("/v1/suggest", json={"question": question}).json()
        assert body["build_id"] == new.build_id
        assert body["suggestions"][0]["source"]["uri"] == "kb://faq/t-fa-1"


def test_metrics_need_the_bearer_token_when_one_is_set(session_settings, assistant):
    guarded = session_settings.model_copy(update={"metrics_token": "s3cret-scrape"})
    with TestClient(create_app(guarded, assistant=assistant)) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        answer = c.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
    assert answer.status_code == 200 and "erp_assist_index_build" in answer.text
