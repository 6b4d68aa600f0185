"""The knowledge-base hygiene page in real Chromium: an expert merges a duplicate, keeps a contradiction after
reading the differing sentences side by side, and retires a stale source."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import DATA
from tests.live_server import serve_in_thread
from tests.ui.test_review_page import ARTIFACTS, CHROMIUM, LAUNCH_ARGS

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


@pytest.fixture
def server(settings, tmp_path, embedder, processor):
    from assistant.app import create_app
    from assistant.service import Assistant
    from assistant.store import create_key, open_store
    from indexer.build import build_index

    data = tmp_path / "hygiene_kb"
    shutil.copytree(DATA / "hygiene_kb", data)
    settings = settings.model_copy(update={"data_dir": data})
    build_index(settings, embedder=embedder, processor=processor)
    store = open_store(settings.database_url)
    key = create_key(store, name="李工", role="expert")[1]
    assistant = Assistant(settings, embedder=embedder, processor=processor).load()
    with serve_in_thread(create_app(settings, assistant=assistant)) as base:
        yield base, key, store


def test_expert_resolves_hygiene_findings_in_the_browser(server):
    from playwright.sync_api import sync_playwright

    from assistant.store import list_resolutions

    base, key, store = server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/ui/login")
        page.fill("#api_key", key)
        page.click("button[type=submit]")
        page.wait_for_url("**/ui/queue")
        page.click("header nav >> text=知识库体检")
        page.wait_for_url("**/ui/kb")
        assert page.locator(".finding.duplicate").count() == 1
        assert page.locator(".finding.contradiction").count() == 3
        page.screenshot(path=str(ARTIFACTS / "kb.png"), full_page=True)

        duplicate = page.locator(".finding.duplicate")
        assert "建议保留" in duplicate.locator(".entry[data-uri='kb://faq/h-fin-1']").inner_text()
        duplicate.locator("button[value=merge]").click()
        page.wait_for_selector("#flash")
        assert "已合并" in page.inner_text("#flash")
        assert page.locator(".finding.duplicate").count() == 0

        number = page.locator(".finding.contradiction", has_text="3%")
        cells = number.locator("table.side-by-side td").all_inner_texts()
        assert any("3%" in c for c in cells) and any("5%" in c for c in cells)
        number.locator("button[value=keep]").click()
        page.wait_for_selector("#flash")
        assert page.locator(".finding.contradiction").count() == 2

        stale = page.locator(".finding.stale", has_text="K/3 WISE 12.3")
        stale.locator("button[value=retire]").click()
        page.wait_for_selector("#flash")
        assert "已停用" in page.inner_text("#flash")
        assert page.locator(".finding.stale", has_text="K/3 WISE 12.3").count() == 0
        browser.close()
    assert [(r.action.value, r.target) for r in list_resolutions(store, tenant="default")] == [
        ("merge", "kb://faq/h-fin-1"), ("keep", "kb://faq/h-inv-1"), ("retire", "kb://faq/h-sys-k3")]
