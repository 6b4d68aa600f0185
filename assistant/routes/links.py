"""GET /s/{token}: the source a signed chat link names, read-only, without an API key or a login.

The token (assistant/links.py) decides the tenant and the source; nothing else is reachable from here. A
tampered, truncated, expired or foreign-key token is a 403 page that says which; a source since removed is 404.
"""

from __future__ import annotations

import threading

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from assistant.links import LinkRefusedError, SourceLinkSigner, link_signer
from assistant.routes.ui import render_refusal, render_source
from assistant.tenants import TenantNotReadyError

__all__ = ["app_link_signer", "router"]

router = APIRouter(include_in_schema=False)
_init_lock = threading.Lock()


def app_link_signer(app: FastAPI) -> SourceLinkSigner:
    """The app's signer, made on first use from ``app.state.settings`` (reads or makes the key file once)."""
    with _init_lock:
        signer = getattr(app.state, "link_signer", None)
        if signer is None:
            signer = app.state.link_signer = link_signer(app.state.settings)
    return signer


@router.get("/s/{token}", response_class=HTMLResponse)
def signed_source(request: Request, token: str) -> Response:
    try:
        linked = app_link_signer(request.app).verify(token)
    except LinkRefusedError as exc:
        return render_refusal(request, str(exc), title="链接已过期" if exc.reason == "expired" else "链接无效")
    try:
        chunks = request.app.state.tenants.get(linked.tenant).source(linked.uri)
    except TenantNotReadyError:
        return render_refusal(request, "知识库暂时无法打开，请稍后再试。", status_code=503, title="暂时无法打开")
    if not chunks:
        return render_refusal(request, "该来源已从知识库中删除或合并。", status_code=404, title="来源不存在")
    uri = linked.uri
    if uri in chunks[0].metadata.get("merged_from", ()):  # an entry an expert merged: show its keeper
        uri = chunks[0].uri.split("#")[0]
    return render_source(request, uri, chunks, None)
