"""/ui: the expert review page, server-rendered in Chinese (Jinja2, autoescaped, no front-end build).

Log in with an API key; the key stays server-side, the browser holds only a random session id in an
HttpOnly, SameSite=Strict cookie. Pages call the same core and store functions as the JSON API, with the
logged-in key's tenant: its queue, its questions, its knowledge base, its stats.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from assistant.auth import allows
from assistant.deps import get_taxonomy
from assistant.schemas import SuggestResponse
from assistant.store import (
    ApiKey,
    ConflictError,
    NotFoundError,
    StoredQuestion,
    correct_tags,
    find_key,
    get_question,
    list_queue,
    record_question,
    record_review,
    review_stats,
)
from assistant.tenants import TenantNotReadyError
from erp_assist.domain import Decision
from erp_assist.errors import InvalidQuestionError

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))

COOKIE = "erp_assist_session"
QuestionId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
LABELS = {
    "roles": {"asker": "提问人", "expert": "专家", "admin": "管理员"},
    "urgency_labels": {"P1": "影响业务运行", "P2": "有影响可绕过", "P3": "咨询与优化"},
    "status_labels": {"open": "待审核", "answered": "已答复", "rejected": "已驳回"},
    "decision_labels": {"accept": "采纳", "edit": "编辑后采纳", "reject": "驳回", "reopen": "重新打开"},
    "source_types": {"faq": "常见问题", "sop": "操作规范", "chat": "群聊记录"},
}
DONE = {"accept": "已采纳", "edit": "已编辑并采纳", "reject": "已驳回"}


def _session_key(request: Request) -> ApiKey | None:
    sid = request.cookies.get(COOKIE)
    return request.app.state.ui_sessions.get(sid) if sid else None


def _render(request: Request, name: str, key: ApiKey | None, status_code: int = 200, **context) -> HTMLResponse:  # noqa: ANN003
    taxonomy = get_taxonomy(request)
    return templates.TemplateResponse(
        request, name, {"key": key, "module_label": lambda m: taxonomy.module_label(m) if m != "unknown" else "未分类",
                        "modules": taxonomy.modules, "flash": request.query_params.get("flash"), **LABELS, **context},
        status_code=status_code,
    )


def _require(request: Request, role: str = "expert") -> ApiKey | Response:
    key = _session_key(request)
    if key is None:
        return RedirectResponse("/ui/login", status_code=303)
    if not allows(key.role, role):
        raise HTTPException(status_code=403, detail=f"this page needs a {role} key")
    return key


def _own_question(request: Request, key: ApiKey, question_id: int) -> StoredQuestion:
    """The question if it is in the key's tenant; 404 otherwise (another tenant's id looks missing)."""
    try:
        return get_question(request.app.state.store, tenant=key.tenant, question_id=question_id)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    key = _session_key(request)
    target = "/ui/login" if key is None else "/ui/queue" if allows(key.role, "expert") else "/ui/ask"
    return RedirectResponse(target, status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return _render(request, "login.html", None)


@router.post("/login")
def login(request: Request, api_key: Annotated[str, Form(max_length=200)]) -> Response:
    key = find_key(request.app.state.store, plain=api_key.strip())
    if key is None:
        return _render(request, "login.html", None, status_code=401, error="密钥无效或已停用，请联系管理员。")
    sid = secrets.token_urlsafe(32)
    request.app.state.ui_sessions[sid] = key
    response = RedirectResponse("/ui/", status_code=303)
    response.set_cookie(COOKIE, sid, httponly=True, samesite="strict", max_age=12 * 3600)
    return response


@router.get("/logout")
def logout(request: Request) -> Response:
    request.app.state.ui_sessions.pop(request.cookies.get(COOKIE, ""), None)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/queue", response_class=HTMLResponse)
def queue(request: Request, module: str | None = None) -> Response:
    key = _require(request)
    if isinstance(key, Response):
        return key
    questions = list_queue(request.app.state.store, tenant=key.tenant, module=module or None)
    return _render(request, "queue.html", key, questions=questions, module=module or "",
                   open_p1=sum(q.urgency == "P1" for q in questions))


@router.get("/questions/{question_id}", response_class=HTMLResponse)
def question(request: Request, question_id: QuestionId) -> Response:
    key = _require(request)
    if isinstance(key, Response):
        return key
    return _render(request, "question.html", key, q=_own_question(request, key, question_id))


@router.post("/questions/{question_id}/review")
def review(
    request: Request,
    question_id: QuestionId,
    decision: Annotated[str, Form(pattern="^(accept|edit|reject)$")],
    suggestion_rank: Annotated[int | None, Form(ge=1, le=50)] = None,
    edited_answer: Annotated[str | None, Form(max_length=8000)] = None,
    note: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    key = _require(request)
    if isinstance(key, Response):
        return key
    store = request.app.state.store
    _own_question(request, key, question_id)
    try:
        record_review(store, tenant=key.tenant, question_id=question_id, decision=Decision(decision),
                      reviewer=key.name, suggestion_rank=suggestion_rank,
                      edited_answer=edited_answer if decision == "edit" else None, note=note or None)
    except (ValueError, ConflictError, NotFoundError) as exc:
        stored = get_question(store, tenant=key.tenant, question_id=question_id)
        return _render(request, "question.html", key, status_code=409, q=stored, error=str(exc))
    return RedirectResponse(f"/ui/questions/{question_id}?flash={quote(DONE[decision])}", status_code=303)


@router.post("/questions/{question_id}/tags")
def retag(
    request: Request,
    question_id: QuestionId,
    module: Annotated[str, Form(max_length=50)],
    urgency: Annotated[str, Form(pattern="^P[123]$")],
) -> Response:
    key = _require(request)
    if isinstance(key, Response):
        return key
    stored = _own_question(request, key, question_id)
    try:
        get_taxonomy(request).check_tags(module, urgency)
    except ValueError as exc:
        return _render(request, "question.html", key, status_code=422, q=stored, error=str(exc))
    # The form always sends both; only what changed is a correction.
    changed_module = module if module != stored.module else None
    changed_urgency = urgency if urgency != stored.urgency else None
    if changed_module is None and changed_urgency is None:
        return RedirectResponse(f"/ui/questions/{question_id}?flash={quote('分类未变')}", status_code=303)
    correct_tags(request.app.state.store, tenant=key.tenant, question_id=question_id, reviewer=key.name,
                 module=changed_module, urgency=changed_urgency)
    return RedirectResponse(f"/ui/questions/{question_id}?flash={quote('分类已更正')}", status_code=303)


@router.get("/sources", response_class=HTMLResponse)
def source(request: Request, uri: str) -> Response:
    key = _require(request, "asker")
    if isinstance(key, Response):
        return key
    chunks = request.app.state.tenants.get(key.tenant).source(uri)
    if not chunks:
        raise HTTPException(status_code=404, detail=f"no source {uri}")
    url = (chunks[0].url or "") if "#" in uri else (chunks[0].url or "").split("#")[0]
    return _render(request, "source.html", key, uri=uri, chunks=chunks, url=url or None)


@router.get("/ask", response_class=HTMLResponse)
def ask_page(request: Request) -> Response:
    key = _require(request, "asker")
    if isinstance(key, Response):
        return key
    return _render(request, "ask.html", key)


@router.post("/ask", response_class=HTMLResponse)
def ask(request: Request, question: Annotated[str, Form(max_length=4000)]) -> Response:
    key = _require(request, "asker")
    if isinstance(key, Response):
        return key
    try:
        result = request.app.state.tenants.get(key.tenant).suggest(question)
    except InvalidQuestionError as exc:
        return _render(request, "ask.html", key, status_code=422, question=question, error=str(exc))
    except TenantNotReadyError:
        return _render(request, "ask.html", key, status_code=503, question=question,
                       error="本单位的知识库尚未建立索引，请联系管理员。")
    question_id = record_question(request.app.state.store, tenant=key.tenant, result=result, asker=key.name,
                                  key_id=key.id)
    return _render(request, "ask.html", key, question=question,
                   result=SuggestResponse.from_result(result, question_id=question_id))


@router.get("/stats", response_class=HTMLResponse)
def stats(request: Request) -> Response:
    key = _require(request)
    if isinstance(key, Response):
        return key
    taxonomy = get_taxonomy(request)
    data = review_stats(request.app.state.store, tenant=key.tenant)
    rows = [("全部", data["overall"])] + [(taxonomy.module_label(m), s) for m, s in data["by_module"].items()]
    return _render(request, "stats.html", key, rows=rows, tags=data["tags"])
