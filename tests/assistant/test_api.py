import pytest
from fastapi.testclient import TestClient

from assistant.app import create_app


@pytest.fixture(scope="module")
def client(session_settings, assistant):
    with TestClient(create_app(session_settings, assistant=assistant)) as test_client:
        yield test_client


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
    body = client.post("/v1/suggest", json={"question": "公司年会节目报名截止到哪天"}).json()
    assert body["abstained"] is True
    assert body["suggestions"] == []


def test_health_and_ready(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["build_id"]


def test_service_switches_to_a_new_build_without_restart(settings, kb_copy, embedder, processor):
    from assistant.service import Assistant
    from indexer.build import build_index

    settings = settings.model_copy(update={"data_dir": kb_copy})
    build_index(settings, embedder=embedder, processor=processor)
    with TestClient(create_app(settings, assistant=Assistant(settings).load())) as client:
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
