"""The review page's sessions and forms over real HTTP (issue #15): cross-site requests are refused, every form
carries its session's token, sessions live in the store (so every worker process knows them), expire, and end
when their key is revoked; cookies are Secure over https."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from assistant.app import create_app
from assistant.store import ApiKey, api_keys, create_key, list_queue, open_store
from erp_assist.settings import Settings
from tests.ui.forms import csrf_token, login, origin, submit

COOKIE = "erp_assist_session"
EVIL = "https://evil.example"
ANSWERABLE = "账号被锁了登录不上去怎么办"


@dataclass
class Site:
    """One app on its own store; ``client`` holds its lifespan and speaks the JSON API."""

    settings: Settings
    store: Engine
    client: TestClient
    _names: Iterator[int] = field(default_factory=itertools.count)

    def key(self, role: str = "expert") -> tuple[ApiKey, str]:
        return create_key(self.store, name=f"{role}-{next(self._names)}", role=role)

    def browser(self, base_url: str = "http://testserver") -> TestClient:
        """A browser of its own (its own cookie jar) on the running app."""
        return TestClient(self.client.app, base_url=base_url)

    def ask(self, question: str = ANSWERABLE) -> int:
        response = self.client.post("/v1/suggest", json={"question": question},
                                    headers={"X-API-Key": self.key("asker")[1]})
        assert response.status_code == 200, response.text
        assert response.json()["suggestions"]
        return response.json()["question_id"]

    def question(self, question_id: int) -> dict:
        response = self.client.get(f"/v1/questions/{question_id}", headers={"X-API-Key": self.key("admin")[1]})
        assert response.status_code == 200, response.text
        return response.json()


def _settings(tmp_path_factory, session_settings: Settings, **overrides) -> Settings:  # noqa: ANN001, ANN003
    url = f"sqlite:///{tmp_path_factory.mktemp('ui_security') / 'store.db'}"
    return session_settings.model_copy(update={"database_url": url, **overrides})


@pytest.fixture(scope="module")
def site(tmp_path_factory, session_settings, assistant) -> Iterator[Site]:
    settings = _settings(tmp_path_factory, session_settings)
    store = open_store(settings.database_url)
    with TestClient(create_app(settings, assistant=assistant)) as client:
        yield Site(settings, store, client)
    store.dispose()


def _logged_in(site: Site, role: str = "expert", base_url: str = "http://testserver") -> tuple[TestClient, ApiKey]:
    key, plain = site.key(role)
    browser = site.browser(base_url)
    response = login(browser, plain, follow_redirects=False)
    assert response.status_code == 303, response.text
    return browser, key


def _untouched(site: Site, question_id: int) -> None:
    state = site.question(question_id)
    assert (state["status"], state["reviews"], state["tag_corrections"]) == ("open", [], [])


def _set_cookies(response) -> dict[str, str]:  # noqa: ANN001
    """Set-Cookie headers by cookie name."""
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


def test_a_cross_origin_post_is_refused_even_with_the_session_and_its_token(site):
    browser, _ = _logged_in(site)
    qid = site.ask()
    page = f"/ui/questions/{qid}"
    token = csrf_token(browser, page) or ""
    for action, data in ((f"{page}/review", {"decision": "accept", "suggestion_rank": "1"}),
                         (f"{page}/tags", {"module": "system", "urgency": "P1"})):
        for headers in ({"Origin": EVIL}, {"Origin": "null"}, {"Referer": f"{EVIL}/ui/questions/{qid}"}, {}):
            refused = browser.post(action, data=data | {"csrf_token": token}, headers=headers, follow_redirects=False)
            assert refused.status_code == 403, (action, headers)
            assert "拒绝" in refused.text
    _untouched(site, qid)


# Each POST route under /ui with a form that would pass validation: a new POST route must be added here.
FORMS = {
    "/ui/login": {},
    "/ui/logout": {},
    "/ui/ask": {"question": "跨站提交的问题不应被记录"},
    "/ui/questions/{question_id}/review": {"decision": "reject", "note": "跨站"},
    "/ui/questions/{question_id}/tags": {"module": "system", "urgency": "P1"},
    "/ui/kb/resolve": {"finding_id": "0123456789abcdef", "action": "keep"},
}


def test_every_form_post_under_ui_needs_the_same_origin(site):
    from assistant.routes.ui import router

    assert {r.path for r in router.routes if "POST" in r.methods} == set(FORMS)
    qid = site.ask()
    queued = len(list_queue(site.store, tenant="default"))
    expert, plain = site.key("expert")
    for path, form in FORMS.items():
        browser = site.browser()
        assert login(browser, plain).status_code == 200
        if path == "/ui/login":
            token, form = csrf_token(browser, "/ui/login"), {"api_key": plain}
        else:
            token = csrf_token(browser, f"/ui/questions/{qid}")
        for headers in ({"Origin": EVIL}, {"Referer": f"{EVIL}/"}, {}):
            refused = browser.post(path.format(question_id=qid), data=form | {"csrf_token": token or ""},
                                   headers=headers, follow_redirects=False)
            assert refused.status_code == 403, (path, headers, refused.text)
            assert COOKIE not in _set_cookies(refused)
        assert browser.get("/ui/queue", follow_redirects=False).status_code == 200  # still logged in
    _untouched(site, qid)
    assert len(list_queue(site.store, tenant="default")) == queued


def test_a_same_origin_post_needs_its_sessions_token(site):
    browser, key = _logged_in(site)
    other, _ = _logged_in(site)
    qid = site.ask()
    page, action = f"/ui/questions/{qid}", f"/ui/questions/{qid}/review"
    accept = {"decision": "accept", "suggestion_rank": "1"}
    for token in (None, "", "wrong", csrf_token(other, page)):  # none, empty, made up, another session's
        data = accept | ({} if token is None else {"csrf_token": token})
        refused = browser.post(action, data=data, headers=origin(browser), follow_redirects=False)
        assert refused.status_code == 403, token
    _untouched(site, qid)
    # The same form from the page itself, identified by Referer alone (browsers that send no Origin).
    token = csrf_token(browser, page)
    assert token
    done = browser.post(action, data=accept | {"csrf_token": token}, headers={"Referer": f"http://testserver{page}"},
                        follow_redirects=False)
    assert done.status_code == 303
    assert [r["reviewer"] for r in site.question(qid)["reviews"]] == [key.name]


def test_login_needs_the_login_forms_token_and_the_same_origin(site):
    _, plain = site.key("expert")
    cross_site = site.browser()  # a form on another site posting the key (login CSRF)
    refused = cross_site.post("/ui/login", data={"api_key": plain}, headers={"Origin": EVIL}, follow_redirects=False)
    assert refused.status_code == 403 and COOKIE not in _set_cookies(refused)

    browser = site.browser()
    token = csrf_token(browser, "/ui/login")
    assert token and "erp_assist_login" in browser.cookies
    for data, headers in (({"api_key": plain, "csrf_token": token}, {"Origin": EVIL}),
                          ({"api_key": plain}, origin(browser)),
                          ({"api_key": plain, "csrf_token": "not-the-cookie"}, origin(browser))):
        refused = browser.post("/ui/login", data=data, headers=headers, follow_redirects=False)
        assert refused.status_code == 403, (data, headers)
        assert COOKIE not in _set_cookies(refused)
    # Without the login cookie (another browser, or it expired) the form's token alone is not enough.
    stranger = site.browser()
    refused = stranger.post("/ui/login", data={"api_key": plain, "csrf_token": token}, headers=origin(stranger),
                            follow_redirects=False)
    assert refused.status_code == 403 and "登录" in refused.text

    assert login(browser, plain, follow_redirects=False).status_code == 303
    assert browser.get("/ui/queue", follow_redirects=False).status_code == 200


def test_a_revoked_keys_session_is_over(site):
    browser, key = _logged_in(site)
    qid = site.ask()
    page = f"/ui/questions/{qid}"
    token = csrf_token(browser, page)
    with site.store.begin() as conn:  # revoked behind the app's back: the check is in the store, every request
        conn.execute(update(api_keys).where(api_keys.c.id == key.id).values(revoked=True))
    assert browser.get("/ui/queue", follow_redirects=False).headers.get("location") == "/ui/login"
    response = browser.post(f"{page}/review", data={"decision": "accept", "suggestion_rank": "1",
                                                    "csrf_token": token or ""},
                            headers=origin(browser), follow_redirects=False)
    assert response.status_code in (303, 403)
    assert response.status_code == 403 or response.headers["location"] == "/ui/login"
    _untouched(site, qid)


def test_keys_revoke_ends_the_keys_sessions(site):
    from assistant.store import revoke_key

    browser, key = _logged_in(site)
    assert browser.get("/ui/queue", follow_redirects=False).status_code == 200
    assert revoke_key(site.store, key_id=key.id).id == key.id
    assert browser.get("/ui/queue", follow_redirects=False).headers.get("location") == "/ui/login"


def test_an_expired_session_goes_back_to_login(site):
    from assistant.store import ui_sessions

    browser, key = _logged_in(site)
    qid = site.ask()
    token = csrf_token(browser, f"/ui/questions/{qid}")
    with site.store.begin() as conn:
        conn.execute(update(ui_sessions).where(ui_sessions.c.key_id == key.id)
                     .values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
    assert browser.get("/ui/queue", follow_redirects=False).headers.get("location") == "/ui/login"
    response = browser.post(f"/ui/questions/{qid}/review", data={"decision": "reject", "csrf_token": token or ""},
                            headers=origin(browser), follow_redirects=False)
    assert response.status_code in (303, 403)
    _untouched(site, qid)


def test_a_session_made_by_one_worker_is_valid_on_another(site, assistant):
    browser, key = _logged_in(site)
    qid = site.ask()
    # A second worker process: another app on the same store, nothing shared in memory.
    with TestClient(create_app(site.settings, assistant=assistant)) as worker:
        worker.cookies.set(COOKIE, browser.cookies[COOKIE])
        queue = worker.get("/ui/queue", follow_redirects=False)
        assert queue.status_code == 200 and key.name in queue.text
        page = f"/ui/questions/{qid}"
        assert csrf_token(worker, page) == csrf_token(browser, page)
        done = submit(worker, page, f"{page}/review", {"decision": "accept", "suggestion_rank": "1"},
                      follow_redirects=False)
        assert done.status_code == 303
        assert submit(worker, "/ui/queue", "/ui/logout", {}, follow_redirects=False).status_code == 303
    assert [r["reviewer"] for r in site.question(qid)["reviews"]] == [key.name]
    # Logged out on the second worker is logged out on the first.
    assert browser.get("/ui/queue", follow_redirects=False).headers.get("location") == "/ui/login"


def test_logout_is_a_form_post_with_the_token(site):
    browser, _ = _logged_in(site)
    assert browser.get("/ui/logout").status_code == 200  # a link (or a cross-site <img>) ends nothing
    assert browser.get("/ui/queue", follow_redirects=False).status_code == 200
    assert browser.post("/ui/logout", headers=origin(browser), follow_redirects=False).status_code == 403
    assert browser.get("/ui/queue", follow_redirects=False).status_code == 200
    old = browser.cookies[COOKIE]
    out = submit(browser, "/ui/logout", "/ui/logout", {}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert browser.get("/ui/queue", follow_redirects=False).headers.get("location") == "/ui/login"
    replay = site.browser()
    replay.cookies.set(COOKIE, old)  # the old cookie, kept by someone: the session is gone from the store
    assert replay.get("/ui/queue", follow_redirects=False).headers.get("location") == "/ui/login"


def test_cookies_are_secure_over_https_and_not_over_http(site):
    _, plain = site.key("expert")
    for base, secure in (("https://testserver", True), ("http://testserver", False)):
        browser = site.browser(base)
        page = browser.get("/ui/login")
        login_cookie = _set_cookies(page)["erp_assist_login"]
        session_cookie = _set_cookies(login(browser, plain, follow_redirects=False))[COOKIE]
        for header in (login_cookie, session_cookie):
            attributes = {a.strip().lower() for a in header.split(";")}
            assert ("secure" in attributes) is secure, header
            assert {"httponly", "samesite=strict"} <= attributes, header
        assert browser.get("/ui/queue", follow_redirects=False).status_code == 200


def test_settings_set_the_session_lifetime_and_force_secure(tmp_path_factory, session_settings, assistant):
    settings = _settings(tmp_path_factory, session_settings, ui_session_hours=0.5, ui_cookie_secure=True)
    store = open_store(settings.database_url)
    _, plain = create_key(store, name="李工", role="expert")
    with TestClient(create_app(settings, assistant=assistant)) as app:
        # Secure even over http (a proxy that terminates TLS but sends no X-Forwarded-Proto): it was asked for.
        assert "secure" in _set_cookies(app.get("/ui/login"))["erp_assist_login"].lower()
        browser = TestClient(app.app, base_url="https://testserver")
        cookie = _set_cookies(login(browser, plain, follow_redirects=False))[COOKIE]
    attributes = {a.strip().lower() for a in cookie.split(";")}
    assert "max-age=1800" in attributes and "secure" in attributes
    from assistant.store import ui_sessions

    with store.connect() as conn:
        [row] = conn.execute(ui_sessions.select()).all()
    assert row.expires_at - row.created_at == timedelta(minutes=30)
    store.dispose()
