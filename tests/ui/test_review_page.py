"""The expert review page in real Chromium (Debian's /usr/bin/chromium, driven by Playwright)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.live_server import free_port, serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "ui"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--no-first-run"]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed (make test installs it with apt-get)",
)


@pytest.fixture(scope="module")
def server(session_settings, assistant, tmp_path_factory):
    from assistant.app import create_app
    from assistant.store import create_key, open_store

    # A database of its own: the queue must hold only what this test asked.
    session_settings = session_settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path_factory.mktemp('ui') / 'ui.db'}"})
    store = open_store(session_settings.database_url)
    keys = {role: create_key(store, name=name, role=role)[1]
            for role, name in (("asker", "张敏(仓库)"), ("expert", "李工"))}
    with serve_in_thread(create_app(session_settings, assistant=assistant)) as base:
        yield base, keys


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        yield chromium
        chromium.close()


def _ask(base: str, key: str, question: str) -> dict:
    response = httpx.post(f"{base}/v1/suggest", json={"question": question}, headers={"X-API-Key": key}, timeout=30)
    assert response.status_code == 200
    return response.json()


def test_expert_works_through_the_queue_in_the_browser(server, browser):
    base, keys = server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    accept_q = _ask(base, keys["asker"], "急！全厂出库单都保存不了，提示库存不足，车在门口等着发货")
    edit_q = _ask(base, keys["asker"], "账号被锁了登录不上去怎么办")
    reject_q = _ask(base, keys["asker"], "客户额度不够，销售单审核不过去")
    xss_q = _ask(base, keys["asker"], "<script>alert('x')</script> 盘点差异怎么处理")
    dialogs: list[str] = []

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{base}/ui/")
    assert "/ui/login" in page.url
    page.fill("#api_key", keys["expert"])
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/queue")
    assert keys["expert"] not in page.url
    assert "李工" in page.inner_text("header")
    ids = [int(a.get_attribute("data-question-id")) for a in page.query_selector_all("[data-question-id]")]
    assert ids[0] == accept_q["question_id"]  # the P1 outage is at the top
    assert "未处理的紧急问题" in page.inner_text("#p1-count")
    page.screenshot(path=str(ARTIFACTS / "queue.png"), full_page=True)

    # A question containing <script> shows as text and runs nothing.
    page.goto(f"{base}/ui/questions/{xss_q['question_id']}")
    assert "<script>alert('x')</script>" in page.inner_text("#question-text")
    assert dialogs == []

    # The expert corrects its tags: it becomes P1 and the trail says who changed what.
    page.select_option("#tag-module", "inventory")
    page.select_option("#tag-urgency", "P1")
    page.click("#retag button[name=retag]")
    page.wait_for_selector("#flash")
    assert "分类已更正" in page.inner_text("#flash")
    assert "更正分类" in page.inner_text("#trail") and "→ P1" in page.inner_text("#trail")
    assert page.eval_on_selector("#tag-urgency", "e => e.value") == "P1"
    assert "专家更正" in page.inner_text("#urgency-badge") and "%" in page.inner_text("#module-badge")

    page.goto(f"{base}/ui/questions/{accept_q['question_id']}")
    page.screenshot(path=str(ARTIFACTS / "question.png"), full_page=True)
    page.click("#draft-1 button[name=accept]")
    page.wait_for_selector("#flash")
    assert "已采纳" in page.inner_text("#flash")
    assert page.inner_text("#status") == "已答复"

    page.goto(f"{base}/ui/questions/{edit_q['question_id']}")
    corrected = "请联系 IT 服务台（分机 8000）在 SU01 中解锁账号并重置初始密码。"
    page.fill("#edit-1", corrected)
    page.click("#draft-1 button[name=edit]")
    page.wait_for_selector("#flash")
    assert "已编辑并采纳" in page.inner_text("#flash")

    page.goto(f"{base}/ui/questions/{reject_q['question_id']}")
    page.fill("#reason-1", "答非所问")
    page.click("#draft-1 button[name=reject]")
    page.wait_for_selector("#flash")
    assert "已驳回" in page.inner_text("#flash")
    assert "答非所问" in page.inner_text("#trail")

    page.goto(f"{base}/ui/queue")
    remaining = {int(a.get_attribute("data-question-id")) for a in page.query_selector_all("[data-question-id]")}
    assert not remaining & {accept_q["question_id"], edit_q["question_id"], reject_q["question_id"]}

    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.context.add_cookies(page.context.cookies())
    phone.goto(f"{base}/ui/questions/{xss_q['question_id']}")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.screenshot(path=str(ARTIFACTS / "question-phone.png"), full_page=True)

    # The database says the same, through the API.
    expert = {"X-API-Key": keys["expert"]}
    decided = {q["question_id"]: httpx.get(f"{base}/v1/questions/{q['question_id']}", headers=expert).json()
               for q in (accept_q, edit_q, reject_q)}
    assert [r["decision"] for r in decided[accept_q["question_id"]]["reviews"]] == ["accept"]
    assert decided[edit_q["question_id"]]["reviews"][0]["edited_answer"] == corrected
    assert decided[reject_q["question_id"]]["reviews"][0]["note"] == "答非所问"
    assert all(r["reviewer"] == "李工" for q in decided.values() for r in q["reviews"])

    page.goto(f"{base}/ui/stats")
    assert "采纳率" in page.inner_text("#stats")
    assert "紧急程度被更正 1 个" in page.inner_text("#tag-corrections")
    assert page.query_selector("#chart rect") is not None
    page.screenshot(path=str(ARTIFACTS / "stats.png"), full_page=True)

    # Logging out is the header's form (a POST with the page's token); the session is gone for every tab.
    page.click("#logout button")
    page.wait_for_url("**/ui/login")
    phone.goto(f"{base}/ui/queue")
    assert "/ui/login" in phone.url
    page.close()
    phone.close()


def test_a_form_posted_from_another_origin_is_refused(server, browser):
    base, keys = server
    asked = _ask(base, keys["asker"], "采购订单审核时提示预算不足")
    page = browser.new_page()
    page.goto(f"{base}/ui/login")
    page.fill("#api_key", keys["expert"])
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/queue")
    # Another port of the same host is another origin but the same site, so Chromium sends the SameSite=Strict
    # session cookie with its form: only the Origin check stands between it and a recorded review (issue #15).
    sibling = f"http://127.0.0.1:{free_port()}/"
    form = (f'<form method="post" action="{base}/ui/questions/{asked["question_id"]}/review">'
            '<input name="decision" value="reject"><input name="note" value="跨站"></form>'
            "<script>document.forms[0].submit()</script>")
    page.route(sibling, lambda route: route.fulfill(body=form, content_type="text/html"))
    page.goto(sibling)
    page.wait_for_url(f"{base}/ui/**")
    assert "请求被拒绝" in page.inner_text("main")
    state = httpx.get(f"{base}/v1/questions/{asked['question_id']}", headers={"X-API-Key": keys["expert"]}).json()
    assert state["status"] == "open" and state["reviews"] == []
    page.close()


def test_ask_box_shows_suggestions_and_bad_key_is_refused(server, browser):
    base, keys = server
    page = browser.new_page()
    page.goto(f"{base}/ui/login")
    page.fill("#api_key", "ea_not-a-key")
    page.click("button[type=submit]")
    assert "密钥无效" in page.inner_text("#error")
    page.fill("#api_key", keys["asker"])
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/ask")
    page.fill("#question", "出库的时候说库存不够，可是货架上明明有货")
    page.click("form[action='/ui/ask'] button[type=submit]")  # not the header's 退出
    page.wait_for_selector("#result")
    assert "待专家确认" in page.inner_text("#result")
    page.screenshot(path=str(ARTIFACTS / "ask.png"), full_page=True)
    page.goto(f"{base}/ui/queue")
    assert "needs a expert key" in page.content() or page.url.endswith("/ui/queue")
    page.close()
