"""The review loop over real HTTP, real SQLite, real index: suggest → review → rebuild → found again."""

import pytest
from fastapi.testclient import TestClient

from assistant.app import create_app
from assistant.service import Assistant
from assistant.store import create_key, learned_documents, open_store
from indexer.build import build_index


@pytest.fixture
def loop(settings, kb_copy, embedder, processor):
    settings = settings.model_copy(update={"data_dir": kb_copy})
    build_index(settings, embedder=embedder, processor=processor)
    store = open_store(settings.database_url)
    keys = {role: create_key(store, name=name, role=role)[1]
            for role, name in (("asker", "张敏"), ("expert", "李工"), ("admin", "管理员"))}
    with TestClient(create_app(settings, assistant=Assistant(settings).load())) as client:
        yield settings, client, keys, store


def _ask(client, keys, question):
    response = client.post("/v1/suggest", json={"question": question, "group": "erp-finance"},
                           headers={"X-API-Key": keys["asker"]})
    assert response.status_code == 200
    return response.json()


def _review(client, keys, qid, **body):
    return client.post(f"/v1/questions/{qid}/review", json=body, headers={"X-API-Key": keys["expert"]})


def test_queue_orders_p1_first_then_oldest_and_filters_by_module(loop):
    _, client, keys, _ = loop
    howto = _ask(client, keys, "请问工资条在哪里可以批量发送给员工")
    outage = _ask(client, keys, "急！全厂出库单都保存不了，提示库存不足，车在门口等着发货")
    assert outage["urgency"] == "P1" and howto["urgency"] != "P1"
    queue = client.get("/v1/review/queue", headers={"X-API-Key": keys["expert"]}).json()
    ids = [q["id"] for q in queue["questions"]]
    assert ids.index(outage["question_id"]) < ids.index(howto["question_id"])
    assert queue["open_p1"] >= 1
    only = client.get("/v1/review/queue", params={"module": howto["module"]}, headers={"X-API-Key": keys["expert"]})
    assert all(q["module"] == howto["module"] for q in only.json()["questions"])


def test_accept_edit_reject_reopen_keep_a_full_trail(loop):
    _, client, keys, _ = loop
    qid = _ask(client, keys, "账号密码输错被锁了怎么办")["question_id"]
    assert _review(client, keys, qid, decision="accept", suggestion_rank=1).status_code == 200
    assert _review(client, keys, qid, decision="reject").status_code == 409  # already answered
    reopened = client.post(f"/v1/questions/{qid}/reopen", json={"note": "用户说还是不行"},
                           headers={"X-API-Key": keys["expert"]})
    assert reopened.status_code == 200
    assert _review(client, keys, qid, decision="edit", suggestion_rank=1,
                   edited_answer="联系 IT 服务台在 SU01 解锁，并重置初始密码。").status_code == 200
    detail = client.get(f"/v1/questions/{qid}", headers={"X-API-Key": keys["expert"]}).json()
    assert [r["decision"] for r in detail["reviews"]] == ["accept", "reopen", "edit"]
    assert all(r["reviewer"] == "李工" for r in detail["reviews"])
    assert detail["status"] == "answered"
    assert _review(client, keys, 999999, decision="reject").status_code == 404
    assert _review(client, keys, qid, decision="edit").status_code == 422  # edit without text


def test_stats_count_decisions_per_module(loop):
    _, client, keys, _ = loop
    first = _ask(client, keys, "出库单提示库存不足但是实物有货")
    second = _ask(client, keys, "盘点有差异怎么处理")
    _review(client, keys, first["question_id"], decision="accept", suggestion_rank=1)
    _review(client, keys, second["question_id"], decision="edit", suggestion_rank=1, edited_answer="先复盘，再审核盘盈盘亏单。")
    stats = client.get("/v1/stats", headers={"X-API-Key": keys["expert"]}).json()
    overall = stats["overall"]
    assert overall["reviewed"] == 2
    assert overall["acceptance_rate"] == 1.0 and overall["edit_rate"] == 0.5
    assert overall["mean_edit_distance"] > 0
    assert overall["median_minutes_to_first_review"] is not None
    assert sum(m["reviewed"] for m in stats["by_module"].values()) == 2


def test_approved_answer_is_found_by_a_paraphrase_after_the_next_build(loop, embedder, processor):
    settings, client, keys, store = loop
    question = "固定资产卡片怎么批量导入系统"
    asked = _ask(client, keys, question)
    assert all("批量导入" not in s["draft"] for s in asked["suggestions"])
    answer = "在【固定资产】→【卡片管理】下载导入模板，按模板填写资产编码、原值、启用日期后点击【批量导入】。"
    assert _review(client, keys, asked["question_id"], decision="edit", edited_answer=answer).status_code == 200

    # An accepted FAQ draft teaches the asker's wording as an alternate question of that FAQ.
    locked = _ask(client, keys, "早上输错几次密码，现在进不去系统了")
    top = locked["suggestions"][0]
    assert top["source"]["uri"] == "kb://faq/t-sys-1"
    _review(client, keys, locked["question_id"], decision="accept", suggestion_rank=1)

    documents, alternates = learned_documents(store, tenant="default")
    assert [d.source_id for d in documents] == [f"learned-{asked['question_id']}"]
    assert documents[0].metadata["provenance"]["reviewer"] == "李工"
    assert alternates == {"t-sys-1": ["早上输错几次密码，现在进不去系统了"]}

    report = build_index(settings, embedder=embedder, processor=processor, learned=(documents, alternates))
    assert report.manifest["counts"]["learned_faq_entries"] == 1
    again = _ask(client, keys, "资产卡片能不能一次导入很多张")
    assert again["suggestions"][0]["source"]["uri"] == f"kb://faq/learned-{asked['question_id']}"
    assert again["suggestions"][0]["draft"] == answer
    source = client.get(f"/v1/sources/kb://faq/learned-{asked['question_id']}", headers={"X-API-Key": keys["asker"]})
    assert source.status_code == 200
    assert source.json()["metadata"]["provenance"]["question_id"] == asked["question_id"]


def test_admin_rebuild_over_http_publishes_what_reviews_taught(loop):
    _, client, keys, _ = loop
    asked = _ask(client, keys, "车间考勤机坏了，员工打卡记录怎么补录")
    answer = "在【考勤管理】→【补卡申请】中由班组长提交补卡，人事审核后生效。"
    assert _review(client, keys, asked["question_id"], decision="edit", edited_answer=answer).status_code == 200
    assert client.post("/v1/admin/rebuild", headers={"X-API-Key": keys["expert"]}).status_code == 403
    rebuilt = client.post("/v1/admin/rebuild", headers={"X-API-Key": keys["admin"]})
    assert rebuilt.status_code == 200, rebuilt.text
    assert rebuilt.json()["counts"]["learned_faq_entries"] == 1
    again = _ask(client, keys, "打卡漏了怎么补")
    assert again["build_id"] == rebuilt.json()["build_id"]
    assert again["suggestions"][0]["source"]["uri"] == f"kb://faq/learned-{asked['question_id']}"
