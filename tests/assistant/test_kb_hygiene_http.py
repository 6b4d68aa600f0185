"""Knowledge-base hygiene end to end over HTTP: the build's report, an expert resolving findings on /ui/kb, the
next build applying them (merged link redirects, retired source gone), and a learned answer that repeats an
entry becoming its alternate. Real index, real SQLite, the real app."""

from __future__ import annotations

import json
import shutil

import pytest
from fastapi.testclient import TestClient

from assistant.app import create_app
from assistant.rebuild import rebuild_knowledge_base
from assistant.service import Assistant
from assistant.store import create_key, learned_documents, list_resolutions, open_store
from assistant.tenants import SharedModels
from indexer.build import HYGIENE, build_index
from tests.conftest import DATA
from tests.ui.forms import login, submit

KEEPER, LOSER, RETIRED = "kb://faq/h-fin-1", "kb://faq/h-fin-1b", "kb://faq/h-sys-k3"


@pytest.fixture
def kb(settings, tmp_path, embedder, processor):
    data = tmp_path / "hygiene_kb"
    shutil.copytree(DATA / "hygiene_kb", data)
    settings = settings.model_copy(update={"data_dir": data})
    report = build_index(settings, embedder=embedder, processor=processor)
    store = open_store(settings.database_url)
    keys = {role: create_key(store, name=name, role=role)[1] for role, name in (("asker", "张敏"), ("expert", "李工"))}
    assistant = Assistant(settings, embedder=embedder, processor=processor).load()
    with TestClient(create_app(settings, assistant=assistant)) as client:
        yield settings, client, keys, store, report, assistant


def test_the_build_writes_the_hygiene_report_beside_the_index(kb):
    *_, report, _ = kb
    assert report.manifest["hygiene"] == {"checked": 12, "duplicate_groups": 1, "duplicate_entries": 1,
                                          "contradictions": 3, "stale": 2}
    written = json.loads((report.path / HYGIENE).read_text(encoding="utf-8"))
    assert [g["uris"] for g in written["duplicates"]] == [[KEEPER, LOSER]]
    assert written["entries"][RETIRED]["question"].startswith("K/3 WISE")
    assert HYGIENE in report.manifest["build_files"]  # sealed with the rest of the build


def test_an_expert_merges_and_retires_on_the_review_page_and_the_next_build_applies_it(kb):
    settings, client, keys, store, report, assistant = kb
    assert login(client, keys["expert"], follow_redirects=False).status_code == 303
    page = client.get("/ui/kb")
    assert page.status_code == 200
    written = json.loads((report.path / HYGIENE).read_text(encoding="utf-8"))
    group = written["duplicates"][0]["id"]
    stale = next(s["id"] for s in written["stale"] if s["uri"] == RETIRED)
    assert f'id="finding-{group}"' in page.text and "K/3 WISE 12.3" in page.text and "3%" in page.text
    merged = submit(client, "/ui/kb", "/ui/kb/resolve", {"finding_id": group, "action": "merge", "target": KEEPER},
                    follow_redirects=False)
    assert merged.status_code == 303 and "flash=" in merged.headers["location"]
    retired = submit(client, "/ui/kb", "/ui/kb/resolve", {"finding_id": stale, "action": "retire"},
                     follow_redirects=False)
    assert retired.status_code == 303
    # A finding that is not in the report (or forged sources) is refused; nothing is stored for it.
    forged = submit(client, "/ui/kb", "/ui/kb/resolve", {"finding_id": "0" * 16, "action": "retire",
                                                         "target": KEEPER})
    assert forged.status_code == 404
    assert [(r.action.value, r.target, r.reviewer) for r in list_resolutions(store, tenant="default")] == [
        ("merge", KEEPER, "李工"), ("retire", RETIRED, "李工")]
    after = client.get("/ui/kb").text
    assert f'id="finding-{group}"' not in after and f'id="finding-{stale}"' not in after
    assert "李工 · 合并 · kb://faq/h-fin-1" in after and "李工 · 停用来源 · kb://faq/h-sys-k3" in after  # the trail
    # Without the page's token the form is refused.
    assert client.post("/ui/kb/resolve", data={"finding_id": group, "action": "keep"}).status_code == 403

    rebuilt = rebuild_knowledge_base(settings, models=SharedModels.of(assistant), store=store)
    assert rebuilt.manifest["curation"] == {"merged": 1, "retired": 1, "edited": 0, "redirects": {LOSER: KEEPER}}
    assistant.refresh()
    redirect = client.get("/ui/sources", params={"uri": LOSER}, follow_redirects=False)
    assert redirect.status_code == 301 and redirect.headers["location"].endswith("kb%3A%2F%2Ffaq%2Fh-fin-1")
    api = client.get("/v1/sources/faq/h-fin-1b", headers={"X-API-Key": keys["asker"]}).json()
    assert api["id"] == "h-fin-1" and "月末结账提示还有凭证没有过账，如何处理？" in api["metadata"]["alternates"]
    assert client.get(f"/v1/sources/faq/h-sys-k3", headers={"X-API-Key": keys["asker"]}).status_code == 404
    found = client.post("/v1/suggest", json={"question": "月末结账提示还有凭证没有过账，如何处理？"},
                        headers={"X-API-Key": keys["asker"]}).json()
    assert found["suggestions"][0]["source"]["uri"] == KEEPER


def test_a_learned_answer_that_repeats_an_entry_becomes_its_alternate(kb):
    settings, client, keys, store, *_ = kb

    def ask(question: str) -> dict:
        return client.post("/v1/suggest", json={"question": question}, headers={"X-API-Key": keys["asker"]}).json()

    entry_answer = "在【薪酬管理】→【工资条发放】中选择发放期间和员工范围，点击【发送】，员工在移动端查看。"
    repeat = ask("工资条要怎么批量发送给员工？")
    assert client.post(f"/v1/questions/{repeat['question_id']}/review", headers={"X-API-Key": keys["expert"]},
                       json={"decision": "edit", "suggestion_rank": 1, "edited_answer": entry_answer}).status_code == 200
    chosen_new = ask("工资条如何批量发给员工？")
    assert client.post(f"/v1/questions/{chosen_new['question_id']}/review", headers={"X-API-Key": keys["expert"]},
                       json={"decision": "edit", "suggestion_rank": 1, "edited_answer": entry_answer,
                             "learn_as": "new"}).status_code == 200
    unknown = ask("工资条能批量发给员工吗？")
    refused = client.post(f"/v1/questions/{unknown['question_id']}/review", headers={"X-API-Key": keys["expert"]},
                          json={"decision": "edit", "suggestion_rank": 1, "edited_answer": entry_answer,
                                "learn_as": "alternate:没有这条"})
    assert refused.status_code == 422 and "没有这条" in refused.json()["detail"]
    documents, alternates = learned_documents(store, tenant="default")
    assert alternates == {"h-hr-1": ["工资条要怎么批量发送给员工？"]}  # merged, not a second entry
    assert [d.source_id for d in documents] == [f"learned-{chosen_new['question_id']}"]  # the expert chose new

    # The review page shows the expert the entry the question repeats, with the choice.
    assert login(client, keys["expert"], follow_redirects=False).status_code == 303
    page = client.get(f"/ui/questions/{unknown['question_id']}").text
    assert 'id="duplicate-of"' in page and "alternate:h-hr-1" in page


def test_every_difference_of_a_contradiction_is_named_on_the_review_page(settings, tmp_path, embedder, processor):
    """An edited copy whose changed step holds no menu, number or 能/不能 differs in its step: the page names it."""
    data = tmp_path / "kb"
    data.mkdir()
    steps = ("1）在【采购订单】列表勾选要审核的订单；2）{}；3）系统提示审核成功后订单变为已审核状态。")
    (data / "faq.csv").write_text(
        "id,question,answer,module\n"
        f"s-pur-1,采购订单怎么审核？,{steps.format('点击工具栏的审核按钮')},purchasing\n"
        f"s-pur-2,采购订单怎么审核？,{steps.format('先提交给采购主管确认再由主管执行审核')},purchasing\n",
        encoding="utf-8")
    settings = settings.model_copy(update={"data_dir": data})
    report = build_index(settings, embedder=embedder, processor=processor)
    written = json.loads((report.path / HYGIENE).read_text(encoding="utf-8"))
    assert [c["differs"] for c in written["contradictions"]] == [["step"]]
    store = open_store(settings.database_url)
    _, expert = create_key(store, name="李工", role="expert")
    assistant = Assistant(settings, embedder=embedder, processor=processor).load()
    with TestClient(create_app(settings, assistant=assistant)) as client:
        assert login(client, expert, follow_redirects=False).status_code == 303
        page = client.get("/ui/kb").text
    assert '<span class="badge P2">步骤</span>' in page
    assert '<span class="badge P2"></span>' not in page
