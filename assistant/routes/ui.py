"""/ui: the expert review page, server-rendered in Chinese (Jinja2, autoescaped, no front-end build).

Log in with an API key; the key stays server-side, the browser holds only a random session token in an
HttpOnly, SameSite=Strict cookie (Secure over https). Sessions live in the store, so every API worker process
knows them; they expire after ``ui_session_hours`` and end when their key is revoked (both checked on every
request). Pages call the same core and store functions as the JSON API, with the logged-in key's tenant: its
queue, its questions, its knowledge base, its stats.

Cross-site requests: every POST must come from one of our own pages — an ``Origin`` (or, without one, a
``Referer``) equal to the request's own origin — and carry the form's ``csrf_token``: the session's token, or on
the login form a token that must match a short-lived cookie of its own (so another site cannot log a browser in
under its key either). SameSite=Strict alone is not enough: it lets sibling subdomains through and older
browsers ignore it.
"""

from __future__ import annotations

import hmac
import re
import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from assistant.auth import allows
from assistant.deps import get_taxonomy
from assistant.kb_hygiene import faq_documents, learned_merge_target, published_report
from assistant.schemas import LookupOut, SuggestResponse
from assistant.store import (
    ApiKey,
    ConflictError,
    NotFoundError,
    StoredQuestion,
    UiSession,
    correct_tags,
    create_session,
    end_session,
    find_key,
    find_session,
    get_question,
    list_queue,
    list_resolutions,
    record_question,
    record_resolution,
    record_review,
    review_stats,
)
from assistant.tenants import TenantNotReadyError
from erp_assist.domain import Chunk, Decision
from erp_assist.errors import ErpAssistError, InvalidQuestionError
from indexer.hygiene import DIFFERENCE_LABELS, Action, FindingKind, duplicate_of

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
templates.env.globals["difference_labels"] = DIFFERENCE_LABELS

COOKIE = "erp_assist_session"
LOGIN_COOKIE = "erp_assist_login"  # the login form's token, compared with the one the form sends back
LOGIN_COOKIE_SECONDS = 3600
QuestionId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
CsrfToken = Annotated[str, Form(max_length=200)]
CROSS_SITE = "请求不是从本系统的页面发出的，已拒绝。请打开本系统的页面重新操作。"
STALE_FORM = "页面已过期或请求无效，已拒绝。请刷新页面后重新操作。"
STALE_LOGIN = "登录页已过期，请重新输入密钥登录。"
_PORTS = {"http": 80, "https": 443}
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
LABELS = {
    "roles": {"asker": "提问人", "expert": "专家", "admin": "管理员"},
    "urgency_labels": {"P1": "影响业务运行", "P2": "有影响可绕过", "P3": "咨询与优化"},
    "status_labels": {"open": "待审核", "answered": "已答复", "rejected": "已驳回"},
    "decision_labels": {"accept": "采纳", "edit": "编辑后采纳", "reject": "驳回", "reopen": "重新打开"},
    "source_types": {"faq": "常见问题", "sop": "操作规范", "chat": "群聊记录"},
}
DONE = {"accept": "已采纳", "edit": "已编辑并采纳", "reject": "已驳回"}


def _session(request: Request) -> UiSession | None:
    token = request.cookies.get(COOKIE)
    return find_session(request.app.state.store, token=token) if token else None


def _render(request: Request, name: str, session: UiSession | None, status_code: int = 200,
            **context) -> HTMLResponse:  # noqa: ANN003
    taxonomy = get_taxonomy(request)
    return templates.TemplateResponse(
        request, name, {"key": session.key if session else None,
                        "csrf_token": session.csrf_token if session else None,
                        "module_label": lambda m: taxonomy.module_label(m) if m != "unknown" else "未分类",
                        "modules": taxonomy.modules, "flash": request.query_params.get("flash"), **LABELS, **context},
        status_code=status_code,
    )


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _PORTS or not parts.hostname:
        return None  # "null" (a sandboxed or privacy-sensitive context), or not a web origin at all
    return parts.scheme, parts.hostname, port or _PORTS[parts.scheme]


def _same_origin(request: Request) -> bool:
    """Whether a POST comes from a page of this site: its ``Origin``, or without one its ``Referer``, names this
    request's own scheme://host[:port]. Neither header: refused (browsers send Origin with every form POST)."""
    sent = request.headers.get("origin")
    if sent is None:
        sent = request.headers.get("referer")
    own = _origin(str(request.base_url))
    return sent is not None and own is not None and _origin(sent) == own


def _same_token(sent: str, expected: str) -> bool:
    return bool(sent) and bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def _refuse(request: Request, message: str) -> HTMLResponse:
    return _render(request, "refused.html", None, status_code=403, message=message)


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int, path: str = "/") -> None:
    secure = request.app.state.settings.ui_cookie_secure
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https" if secure is None else secure)


def _delete_cookie(request: Request, response: Response, name: str, path: str = "/") -> None:
    _set_cookie(request, response, name, "", 0, path)


def _require(request: Request, role: str = "expert") -> UiSession | Response:
    session = _session(request)
    if session is None:
        return RedirectResponse("/ui/login", status_code=303)
    if not allows(session.key.role, role):
        raise HTTPException(status_code=403, detail=f"this page needs a {role} key")
    return session


def _require_form(request: Request, csrf_token: str, role: str = "expert") -> UiSession | Response:
    """``_require`` for a POST: refused (403, nothing done) unless it comes from our own page with the session's
    token."""
    if not _same_origin(request):
        return _refuse(request, CROSS_SITE)
    session = _require(request, role)
    if isinstance(session, Response):
        return session
    if not _same_token(csrf_token, session.csrf_token):
        return _refuse(request, STALE_FORM)
    return session


def _own_question(request: Request, key: ApiKey, question_id: int) -> StoredQuestion:
    """The question if it is in the key's tenant; 404 otherwise (another tenant's id looks missing)."""
    try:
        return get_question(request.app.state.store, tenant=key.tenant, question_id=question_id)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    session = _session(request)
    target = ("/ui/login" if session is None else "/ui/queue" if allows(session.key.role, "expert")
              else "/ui/ask")
    return RedirectResponse(target, status_code=303)


def _login_form(request: Request, status_code: int = 200, error: str | None = None) -> Response:
    """The login page, with a token the form must send back and a short-lived cookie holding the same value
    (kept while it is a token of ours, so two open login tabs both work)."""
    token = request.cookies.get(LOGIN_COOKIE, "")
    if not _TOKEN.fullmatch(token):
        token = secrets.token_urlsafe(32)
    response = _render(request, "login.html", None, status_code=status_code, csrf_token=token, error=error)
    _set_cookie(request, response, LOGIN_COOKIE, token, LOGIN_COOKIE_SECONDS, path="/ui/login")
    return response


def _start_session(store: Engine, plain: str, ttl_seconds: float) -> str | None:
    """A new session's cookie token for an active key; None for an unknown or revoked one."""
    key = find_key(store, plain=plain)
    if key is None:
        return None
    try:
        return create_session(store, key_id=key.id, ttl_seconds=ttl_seconds)[0]
    except NotFoundError:  # revoked since find_key
        return None


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return _login_form(request)


@router.post("/login")
def login(request: Request, api_key: Annotated[str, Form(max_length=200)], csrf_token: CsrfToken = "") -> Response:
    if not _same_origin(request):
        return _refuse(request, CROSS_SITE)
    if not _same_token(csrf_token, request.cookies.get(LOGIN_COOKIE, "")):
        return _login_form(request, status_code=403, error=STALE_LOGIN)
    store, settings = request.app.state.store, request.app.state.settings
    token = _start_session(store, api_key.strip(), settings.ui_session_hours * 3600)
    if token is None:
        return _login_form(request, status_code=401, error="密钥无效或已停用，请联系管理员。")
    earlier = request.cookies.get(COOKIE)
    if earlier:
        end_session(store, token=earlier)
    response = RedirectResponse("/ui/", status_code=303)
    _set_cookie(request, response, COOKIE, token, max(1, round(settings.ui_session_hours * 3600)))
    _delete_cookie(request, response, LOGIN_COOKIE, path="/ui/login")
    return response


@router.get("/logout", response_class=HTMLResponse)
def logout_page(request: Request) -> Response:
    """A confirmation form: a GET (a link, or another site's <img>) logs nobody out."""
    session = _session(request)
    if session is None:
        return RedirectResponse("/ui/login", status_code=303)
    return _render(request, "logout.html", session)


@router.post("/logout")
def logout(request: Request, csrf_token: CsrfToken = "") -> Response:
    session = _require_form(request, csrf_token, "asker")
    if isinstance(session, Response):
        return session
    end_session(request.app.state.store, token=request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/ui/login", status_code=303)
    _delete_cookie(request, response, COOKIE)
    return response


@router.get("/queue", response_class=HTMLResponse)
def queue(request: Request, module: str | None = None) -> Response:
    session = _require(request)
    if isinstance(session, Response):
        return session
    questions = list_queue(request.app.state.store, tenant=session.key.tenant, module=module or None)
    return _render(request, "queue.html", session, questions=questions, module=module or "",
                   open_p1=sum(q.urgency == "P1" for q in questions))


@router.get("/questions/{question_id}", response_class=HTMLResponse)
def question(request: Request, question_id: QuestionId) -> Response:
    session = _require(request)
    if isinstance(session, Response):
        return session
    stored = _own_question(request, session.key, question_id)
    return _render(request, "question.html", session, q=stored,
                   duplicate=_duplicate_candidate(request, session.key.tenant, stored))


@router.post("/questions/{question_id}/review")
def review(
    request: Request,
    question_id: QuestionId,
    decision: Annotated[str, Form(pattern="^(accept|edit|reject)$")],
    suggestion_rank: Annotated[int | None, Form(ge=1, le=50)] = None,
    edited_answer: Annotated[str | None, Form(max_length=8000)] = None,
    note: Annotated[str | None, Form(max_length=2000)] = None,
    learn_as: Annotated[str, Form(max_length=250, pattern="^(auto|new|alternate:.+)$")] = "auto",
    csrf_token: CsrfToken = "",
) -> Response:
    session = _require_form(request, csrf_token)
    if isinstance(session, Response):
        return session
    key, store = session.key, request.app.state.store
    stored = _own_question(request, key, question_id)
    try:
        merge_into = _merge_target(request, key.tenant, stored, Decision(decision), suggestion_rank,
                                   edited_answer, learn_as)
        record_review(store, tenant=key.tenant, question_id=question_id, decision=Decision(decision),
                      reviewer=key.name, suggestion_rank=suggestion_rank,
                      edited_answer=edited_answer if decision == "edit" else None, note=note or None,
                      merge_into=merge_into)
    except (ValueError, ConflictError, NotFoundError) as exc:
        stored = get_question(store, tenant=key.tenant, question_id=question_id)
        return _render(request, "question.html", session, status_code=409, q=stored, error=str(exc),
                       duplicate=_duplicate_candidate(request, key.tenant, stored))
    return RedirectResponse(f"/ui/questions/{question_id}?flash={quote(DONE[decision])}", status_code=303)


def _merge_target(request: Request, tenant: str, stored: StoredQuestion, decision: Decision,
                  suggestion_rank: int | None, edited_answer: str | None, learn_as: str) -> str | None:
    """The FAQ entry an approved answer joins as an alternate (knowledge-base hygiene), or None: a new entry.
    Without a published build there is nothing to duplicate."""
    try:
        assistant = request.app.state.tenants.get(tenant)
    except TenantNotReadyError:
        return None
    return learned_merge_target(stored, decision=decision, suggestion_rank=suggestion_rank,
                                edited_answer=edited_answer, learn_as=learn_as, chunks=assistant.index.chunks,
                                processor=assistant.processor, settings=request.app.state.settings)


def _duplicate_candidate(request: Request, tenant: str, stored: StoredQuestion):  # noqa: ANN202
    """The FAQ entry an open question looks like (shown on the review form so the expert can choose)."""
    if stored.status != "open" or stored.off_topic:
        return None
    try:
        assistant = request.app.state.tenants.get(tenant)
    except TenantNotReadyError:
        return None
    return duplicate_of(stored.text, None, faq_documents(assistant.index.chunks), assistant.processor,
                        request.app.state.settings)


@router.post("/questions/{question_id}/tags")
def retag(
    request: Request,
    question_id: QuestionId,
    module: Annotated[str, Form(max_length=50)],
    urgency: Annotated[str, Form(pattern="^P[123]$")],
    topic: Annotated[str | None, Form(pattern="^(erp|off_topic)$")] = None,
    csrf_token: CsrfToken = "",
) -> Response:
    session = _require_form(request, csrf_token)
    if isinstance(session, Response):
        return session
    key = session.key
    stored = _own_question(request, key, question_id)
    try:
        get_taxonomy(request).check_tags(module, urgency)
    except ValueError as exc:
        return _render(request, "question.html", session, status_code=422, q=stored, error=str(exc))
    # The form always sends both; only what changed is a correction.
    changed_module = module if module != stored.module else None
    changed_urgency = urgency if urgency != stored.urgency else None
    off_topic = None if topic is None else topic == "off_topic"
    changed_topic = off_topic if off_topic is not None and off_topic != stored.off_topic else None
    if changed_module is None and changed_urgency is None and changed_topic is None:
        return RedirectResponse(f"/ui/questions/{question_id}?flash={quote('分类未变')}", status_code=303)
    correct_tags(request.app.state.store, tenant=key.tenant, question_id=question_id, reviewer=key.name,
                 module=changed_module, urgency=changed_urgency, off_topic=changed_topic)
    return RedirectResponse(f"/ui/questions/{question_id}?flash={quote('分类已更正')}", status_code=303)


@router.get("/sources", response_class=HTMLResponse)
def source(request: Request, uri: str) -> Response:
    session = _require(request, "asker")
    if isinstance(session, Response):
        return session
    chunks = request.app.state.tenants.get(session.key.tenant).source(uri)
    if not chunks:
        raise HTTPException(status_code=404, detail=f"no source {uri}")
    if uri in chunks[0].metadata.get("merged_from", ()):  # an entry an expert merged: its keeper answers
        keeper = chunks[0].uri.split("#")[0]
        return RedirectResponse(f"/ui/sources?uri={quote(keeper, safe='')}", status_code=301)
    return render_source(request, uri, chunks, session)


def render_source(request: Request, uri: str, chunks: list[Chunk], session: UiSession | None) -> HTMLResponse:
    """The read-only page of one source: for a logged-in key here, and for a signed chat link (routes/links.py)
    with ``session`` None (no menu, nothing else reachable)."""
    url = (chunks[0].url or "") if "#" in uri else (chunks[0].url or "").split("#")[0]
    return _render(request, "source.html", session, uri=uri, chunks=chunks, url=url or None)


def render_refusal(request: Request, message: str, status_code: int = 403, title: str = "链接无效") -> HTMLResponse:
    """A page saying why a signed link did not open (no menu, no way further in)."""
    return _render(request, "link_refused.html", None, status_code=status_code, message=message, title=title)


@router.get("/ask", response_class=HTMLResponse)
def ask_page(request: Request) -> Response:
    session = _require(request, "asker")
    if isinstance(session, Response):
        return session
    return _render(request, "ask.html", session)


@router.post("/ask", response_class=HTMLResponse)
def ask(request: Request, question: Annotated[str, Form(max_length=4000)], csrf_token: CsrfToken = "") -> Response:
    session = _require_form(request, csrf_token, "asker")
    if isinstance(session, Response):
        return session
    key = session.key
    try:
        result = request.app.state.tenants.get(key.tenant).suggest(question)
    except InvalidQuestionError as exc:
        return _render(request, "ask.html", session, status_code=422, question=question, error=str(exc))
    except TenantNotReadyError:
        return _render(request, "ask.html", session, status_code=503, question=question,
                       error="本单位的知识库尚未建立索引，请联系管理员。")
    question_id = record_question(request.app.state.store, tenant=key.tenant, result=result, asker=key.name,
                                  key_id=key.id)
    response = SuggestResponse.from_result(result, question_id=question_id)
    erp = getattr(request.app.state, "erp", None)
    lookup = erp.answer_safely(question, tenant=key.tenant, asker=key.name, channel="ui") if erp else None
    if lookup is not None:
        response.lookup = LookupOut.from_answer(lookup)
    return _render(request, "ask.html", session, question=question, result=response)


@router.get("/stats", response_class=HTMLResponse)
def stats(request: Request) -> Response:
    session = _require(request)
    if isinstance(session, Response):
        return session
    taxonomy = get_taxonomy(request)
    data = review_stats(request.app.state.store, tenant=session.key.tenant)
    rows = [("全部", data["overall"])] + [(taxonomy.module_label(m), s) for m, s in data["by_module"].items()]
    return _render(request, "stats.html", session, rows=rows, tags=data["tags"])


# ---------------------------------------------------------------------------------------------------------
# Knowledge-base hygiene (issue #20): the findings of the published build's report, each resolved by an expert.

KB_ACTIONS = {"merge": "合并", "keep": "保留两者", "retire": "停用来源", "edit": "修改答案"}
KB_DONE = {"merge": "已合并，下次构建生效", "keep": "已保留，不再提示", "retire": "已停用，下次构建生效",
           "edit": "已修改，下次构建生效"}


def _open_findings(request: Request, tenant: str):  # noqa: ANN202 - HygieneReport | error text
    """The published build's hygiene report less what experts have resolved; or why there is none."""
    try:
        assistant = request.app.state.tenants.get(tenant)
        report = published_report(assistant.index.path)
    except (TenantNotReadyError, ErpAssistError) as exc:
        return None, str(exc) if not isinstance(exc, TenantNotReadyError) else "本单位的知识库尚未建立索引。"
    return report.without(list_resolutions(request.app.state.store, tenant=tenant)), None


@router.get("/kb", response_class=HTMLResponse)
def kb_findings(request: Request) -> Response:
    session = _require(request)
    if isinstance(session, Response):
        return session
    report, problem = _open_findings(request, session.key.tenant)
    trail = list_resolutions(request.app.state.store, tenant=session.key.tenant)[::-1][:50]
    return _render(request, "kb.html", session, report=report, problem=problem, actions=KB_ACTIONS, trail=trail)


@router.post("/kb/resolve")
def kb_resolve(
    request: Request,
    finding_id: Annotated[str, Form(pattern="^[0-9a-f]{16}$")],
    action: Annotated[str, Form(pattern="^(merge|keep|retire|edit)$")],
    target: Annotated[str | None, Form(max_length=1000)] = None,
    answer: Annotated[str | None, Form(max_length=8000)] = None,
    note: Annotated[str | None, Form(max_length=2000)] = None,
    csrf_token: CsrfToken = "",
) -> Response:
    session = _require_form(request, csrf_token)
    if isinstance(session, Response):
        return session
    key = session.key
    report, problem = _open_findings(request, key.tenant)
    findings = {} if report is None else {
        **{g.id: (FindingKind.DUPLICATE, list(g.uris)) for g in report.duplicates},
        **{c.id: (FindingKind.CONTRADICTION, [c.left, c.right]) for c in report.contradictions},
        **{s.id: (FindingKind.STALE, [s.uri]) for s in report.stale}}
    if finding_id not in findings:  # the sources come from our report, never from the form
        raise HTTPException(status_code=404, detail=problem or f"no open finding {finding_id}")
    kind, uris = findings[finding_id]
    if kind is FindingKind.STALE and target is None:
        target = uris[0]
    try:
        record_resolution(request.app.state.store, tenant=key.tenant, finding_id=finding_id, kind=kind,
                          action=Action(action), uris=uris, reviewer=key.name, target=target or None,
                          answer=answer if action == "edit" else None, note=note or None)
    except ValueError as exc:
        return _render(request, "kb.html", session, status_code=422, report=report, problem=None,
                       actions=KB_ACTIONS, error=str(exc), trail=[])
    return RedirectResponse(f"/ui/kb?flash={quote(KB_DONE[action])}", status_code=303)
