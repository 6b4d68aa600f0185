"""Experts correct a question's tags over real HTTP and SQLite: the queue re-sorts, the trail keeps what the
classifier said, the stats count it, and the corrections come back out as classifier training data."""

import pytest
from fastapi.testclient import TestClient

from assistant.app import create_app
from assistant.store import (
    NotFoundError,
    correct_tags,
    create_key,
    create_tenant,
    expert_labelled_questions,
    open_store,
    review_stats,
)
from models.classifier import LabelledQuestion, load_labelled, write_labelled
from models.taxonomy import load_taxonomy
from tests.conftest import ROOT
from tests.ui.forms import login, submit


@pytest.fixture(scope="module")
def served(tmp_path_factory, session_settings, assistant):
    settings = session_settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path_factory.mktemp('tags') / 'store.db'}"})
    store = open_store(settings.database_url)
    keys = {role: create_key(store, name=name, role=role)[1]
            for role, name in (("asker", "张敏"), ("expert", "李工"))}
    with TestClient(create_app(settings, assistant=assistant)) as client:
        yield client, keys, store


def _ask(client, keys, question):
    response = client.post("/v1/suggest", json={"question": question}, headers={"X-API-Key": keys["asker"]})
    assert response.status_code == 200
    return response.json()


def _retag(client, keys, qid, role="expert", **body):
    return client.post(f"/v1/questions/{qid}/tags", json=body, headers={"X-API-Key": keys[role]})


def test_a_corrected_urgency_moves_the_question_up_the_queue_and_stays_in_the_trail(served):
    client, keys, _ = served
    howto = _ask(client, keys, "请问科目余额表怎么导出到Excel")
    later = _ask(client, keys, "这张采购订单审核时报错说价格为零，其他订单都正常")
    assert (howto["urgency"], later["urgency"]) == ("P3", "P2")

    def position(qid):
        queue = client.get("/v1/review/queue", headers={"X-API-Key": keys["expert"]}).json()["questions"]
        return [q["id"] for q in queue].index(qid)

    assert position(howto["question_id"]) > position(later["question_id"])  # P2 before P3, though asked later
    response = _retag(client, keys, howto["question_id"], urgency="P1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["urgency"] == "P1" and body["module"] == howto["module"]
    [correction] = body["tag_corrections"]
    assert correction["urgency"] == "P1" and correction["module"] is None
    assert correction["previous_urgency"] == "P3" and correction["previous_module"] == howto["module"]
    assert correction["reviewer"] == "李工"
    assert position(howto["question_id"]) < position(later["question_id"])  # P1 first now


def test_bad_retags_are_refused_with_the_choices(served):
    client, keys, _ = served
    qid = _ask(client, keys, "工资条在哪里批量发给员工")["question_id"]
    unknown = _retag(client, keys, qid, module="quality")
    assert unknown.status_code == 422 and "finance" in unknown.json()["detail"]
    assert _retag(client, keys, qid).status_code == 422  # neither tag
    assert _retag(client, keys, qid, urgency="P4").status_code == 422
    assert _retag(client, keys, qid, role="asker", module="hr").status_code == 403
    assert _retag(client, keys, 10**9, module="hr").status_code == 404
    detail = client.get(f"/v1/questions/{qid}", headers={"X-API-Key": keys["expert"]}).json()
    assert detail["tag_corrections"] == []


def test_another_tenants_question_cannot_be_retagged(served):
    client, keys, store = served
    qid = _ask(client, keys, "账号被锁了登录不上")["question_id"]
    create_tenant(store, tenant_id="other")
    with pytest.raises(NotFoundError):
        correct_tags(store, tenant="other", question_id=qid, reviewer="x", urgency="P1")
    _, plain = create_key(store, name="外人", role="expert", tenant="other")
    assert client.post(f"/v1/questions/{qid}/tags", json={"urgency": "P1"},
                       headers={"X-API-Key": plain}).status_code == 404


def test_stats_count_corrections_and_export_gives_training_data(served, tmp_path):
    client, keys, store = served
    first = _ask(client, keys, "MIGO 收货提示物料没有维护工厂视图")
    second = _ask(client, keys, "请问年假余额在哪里查")
    assert _retag(client, keys, first["question_id"], module="purchasing", urgency="P1").status_code == 200
    assert _retag(client, keys, second["question_id"], urgency="P2").status_code == 200
    assert _retag(client, keys, second["question_id"], urgency="P3").status_code == 200  # changed back later
    tags = client.get("/v1/stats", headers={"X-API-Key": keys["expert"]}).json()["tags"]
    assert tags == review_stats(store, tenant="default")["tags"]
    gauge = (f'erp_assist_classifier_tag_changed_ratio{{head="urgency",tenant="default"}} '
             f'{tags["urgency_changed_rate"]}')
    assert gauge in client.get("/metrics").text
    assert tags["checked"] >= 2 and tags["urgency_changed"] >= 2
    assert 0 < tags["urgency_changed_rate"] <= 1

    labelled = {q.id: q for q in expert_labelled_questions(store, tenant="default")}
    assert (labelled[first["question_id"]].module,
            labelled[first["question_id"]].urgency) == ("purchasing", "P1")
    assert labelled[second["question_id"]].urgency == "P3"  # the latest correction wins
    assert len(labelled[second["question_id"]].tag_corrections) == 2
    assert expert_labelled_questions(store, tenant="other") == []

    items = [LabelledQuestion(q.text, q.module, q.urgency) for q in labelled.values()]
    path = write_labelled(tmp_path / "reviewed_default.jsonl", items)
    back = load_labelled(tmp_path, load_taxonomy(ROOT / "models" / "taxonomy.yaml"))
    assert [(i.text, i.module, i.urgency) for i in back] == [(i.text, i.module, i.urgency) for i in items]
    assert back[0].source == f"{path.name}:1"


def test_the_review_page_form_corrects_tags(served):
    client, keys, _ = served
    qid = _ask(client, keys, "出库单打印出来批次号显示不全")["question_id"]
    assert login(client, keys["expert"], follow_redirects=False).status_code == 303
    page = client.get(f"/ui/questions/{qid}")
    assert page.status_code == 200 and 'id="retag"' in page.text
    same = client.get(f"/v1/questions/{qid}", headers={"X-API-Key": keys["expert"]}).json()
    moved = submit(client, f"/ui/questions/{qid}", f"/ui/questions/{qid}/tags",
                   {"module": "system", "urgency": "P2"}, follow_redirects=False)
    assert moved.status_code == 303
    after = client.get(f"/v1/questions/{qid}", headers={"X-API-Key": keys["expert"]}).json()
    assert (after["module"], after["urgency"]) == ("system", "P2")
    expected = (same["module"] != "system") + (same["urgency"] != "P2")
    assert len(after["tag_corrections"]) == (1 if expected else 0)
    assert ('class="retag"' in client.get(f"/ui/questions/{qid}").text) == bool(expected)
    bad = submit(client, f"/ui/questions/{qid}", f"/ui/questions/{qid}/tags", {"module": "quality", "urgency": "P2"})
    assert bad.status_code == 422 and "finance" in bad.text


def test_the_review_page_shows_chatter_and_an_expert_moves_it_into_the_queue(served):
    client, keys, _ = served
    qid = _ask(client, keys, "周五下午三点在二楼会议室开会，大家别迟到")["question_id"]
    assert login(client, keys["expert"], follow_redirects=False).status_code == 303
    assert f"/ui/questions/{qid}" not in client.get("/ui/queue").text
    page = client.get(f"/ui/questions/{qid}")
    assert 'id="off-topic"' in page.text and 'value="off_topic" selected' in page.text
    moved = submit(client, f"/ui/questions/{qid}", f"/ui/questions/{qid}/tags",
                   {"module": "system", "urgency": "P3", "topic": "erp"}, follow_redirects=False)
    assert moved.status_code == 303
    after = client.get(f"/v1/questions/{qid}", headers={"X-API-Key": keys["expert"]}).json()
    assert after["off_topic"] is False and after["tag_corrections"][-1]["previous_off_topic"] is True
    assert f"/ui/questions/{qid}" in client.get("/ui/queue").text
    assert "判为ERP问题" in client.get(f"/ui/questions/{qid}").text
