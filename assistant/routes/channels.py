"""Chat-platform callbacks (POST /v1/channels/{dingtalk,feishu}, GET+POST /v1/channels/wecom: the WeCom app and
group robot callbacks alike) and
GET /v1/stats/group.

Callbacks are authenticated by the platform's signature, not by API keys: a bad, missing or stale signature
is a 401 and nothing is processed. The platform gets its acknowledgement at once; replies are sent after
the response (a background task), so a slow platform API never makes the platform resend the callback.
Chat messages belong to ``settings.channel_tenant``; ``/v1/stats/group`` shows the caller's key's tenant.
"""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from assistant.channels import (
    ChannelNotConfiguredError,
    ChannelService,
    Handshake,
    IncomingMessage,
    Outcome,
    PayloadError,
    RawCallback,
    SignatureError,
)
from assistant.deps import ExpertKey, StoreDep, TenantsDep
from assistant.group_metrics import (
    PointRules,
    daily_digest,
    group_stats,
    index_sources,
    register_group_metrics,
)
from assistant.tenants import TenantNotReadyError

__all__ = ["channel_service", "router"]

router = APIRouter(tags=["channels"])
_init_lock = threading.Lock()


def channel_service(app: FastAPI) -> ChannelService:
    """The app's ``ChannelService``, made on first use from ``app.state.settings``."""
    with _init_lock:
        service = getattr(app.state, "channels", None)
        if service is None:
            service = app.state.channels = ChannelService(app.state.settings,
                                                          erp=getattr(app.state, "erp", None))
    return service


def _answer(handshake: Handshake) -> Response:
    if isinstance(handshake.body, dict):
        return JSONResponse(handshake.body)
    return PlainTextResponse(handshake.body, media_type=handshake.media_type)


def _handle(service: ChannelService, request: Request, messages: list[IncomingMessage]) -> list[Outcome]:
    assistant = request.app.state.tenants.get(service.tenant)
    store = request.app.state.store
    return [service.handle(message, assistant=assistant, store=store) for message in messages]


async def _callback(platform: str, request: Request, background: BackgroundTasks) -> Response:
    register_group_metrics(request.app)
    service = channel_service(request.app)
    try:
        adapter = service.adapter(platform)
    except ChannelNotConfiguredError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    callback = RawCallback(method=request.method, query=dict(request.query_params),
                           headers={k.lower(): v for k, v in request.headers.items()}, body=await request.body())
    try:
        received = adapter.receive(callback, now=time.time())
    except ChannelNotConfiguredError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except SignatureError as exc:
        raise HTTPException(status_code=401, detail=f"{platform} callback not verified: {exc}") from exc
    except PayloadError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    if isinstance(received, Handshake):
        return _answer(received)
    outcomes = await run_in_threadpool(_handle, service, request, received)
    metrics = request.app.state.metrics
    for outcome in outcomes:
        if outcome.result is not None:
            metrics.suggestions.inc(len(outcome.result.suggestions))
            if outcome.result.abstained:
                metrics.abstained.inc()
            if outcome.result.off_topic:
                metrics.off_topic.inc()
        if outcome.replies or outcome.alert is not None:
            background.add_task(service.deliver, outcome)
    return _answer(adapter.acknowledge())


@router.post("/v1/channels/dingtalk", summary="DingTalk outgoing-robot callback")
async def dingtalk(request: Request, background: BackgroundTasks) -> Response:
    return await _callback("dingtalk", request, background)


@router.post("/v1/channels/feishu", summary="Feishu event subscription callback")
async def feishu(request: Request, background: BackgroundTasks) -> Response:
    return await _callback("feishu", request, background)


@router.get("/v1/channels/wecom", summary="WeCom callback URL verification (echostr)")
async def wecom_verify(request: Request, background: BackgroundTasks) -> Response:
    return await _callback("wecom", request, background)


@router.post("/v1/channels/wecom", summary="WeCom callback")
async def wecom(request: Request, background: BackgroundTasks) -> Response:
    return await _callback("wecom", request, background)


@router.get("/v1/stats/group", tags=["review"])
def stats_group(
    request: Request, store: StoreDep, tenants: TenantsDep, key: ExpertKey,
    day: Annotated[date | None, Query(alias="date", description="A local day: that day's digest")] = None,
    group: Annotated[str | None, Query(max_length=200, description="Only this group")] = None,
) -> dict[str, Any]:
    """The key's tenant's response times, first-contact resolution, knowledge use, rates per module and expert,
    points."""
    # The day's bounds, shifted to UTC, must stay inside datetime's years 1-9999.
    if day is not None and not date.min < day < date.max:
        raise HTTPException(status_code=422, detail=f"date={day.isoformat()} is out of range; give a day "
                            f"between {date.min + timedelta(days=1)} and {date.max - timedelta(days=1)}")
    register_group_metrics(request.app)
    settings = request.app.state.settings
    try:
        sources = index_sources(tenants.get(key.tenant).index.chunks)
    except TenantNotReadyError:
        sources = []  # nothing published yet: the numbers stand, there is just no list of unused sources
    points = PointRules.from_settings(settings)
    if day is not None:
        tz = timezone(timedelta(hours=settings.chat_utc_offset_hours))
        return daily_digest(store, day, tenant=key.tenant, tz=tz, group=group, sources=sources,
                            points=points).to_dict()
    return group_stats(store, tenant=key.tenant, group=group, sources=sources, points=points).to_dict()
