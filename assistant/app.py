"""``create_app(settings)``: the FastAPI shell around the tenants' assistants and the review store.

Models load once at start; each tenant's index opens on its first request (``TenantPool``). The API key of a
request decides its tenant, and with it the knowledge base, queue and stats it reaches.

Every request passes ``_RequestGuard`` (body size on the bytes read, text the store cannot keep) and every
response ``_SecurityHeaders``; domain errors become 503s whose details name no server path.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.auth import RateLimiter
from assistant.channels.setup import warn_if_links_unclickable
from assistant.erp import ErpLookups
from assistant.erp.metrics import ErpCollector, start_alert_loop
from assistant.group_metrics import register_group_metrics
from assistant.routes import admin, channels, health, questions, review, sources, suggest, ui
from assistant.routes import links as source_links
from assistant.schemas import public_detail
from assistant.service import Assistant
from assistant.store import open_store
from assistant.tenants import TenantPool
from erp_assist import __version__
from erp_assist.errors import ErpAssistError, StoreBusyError
from erp_assist.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger(__name__)

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                    "Referrer-Policy": "same-origin"}
# The review pages (assistant/templates) have one inline <style> block and style attributes, and no script but
# one inline handler: the queue's module filter, onchange="this.form.submit()", allowed by its hash alone.
_QUEUE_FILTER = base64.b64encode(hashlib.sha256(b"this.form.submit()").digest()).decode()
PAGE_CSP = ("default-src 'self'; "
            f"script-src 'self' 'unsafe-hashes' 'sha256-{_QUEUE_FILTER}'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")
# /docs and /redoc load Swagger UI and ReDoc from jsDelivr and start them with an inline script.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
            "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https:; "
            "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
API_CSP = "default-src 'none'; frame-ancestors 'none'"


def _is_loopback(host: str | None) -> bool:
    """Whether a peer (or bind) address is this machine. ``localhost`` is; another name is not."""
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 from a dual-stack socket
    return (mapped or address).is_loopback


def _local_client(request: Request) -> bool:
    """Whether the request comes from this machine. A TCP server always reports the peer's IP; no client (a
    Unix socket) or one that is not an IP (an in-process ASGI client, like Starlette's "testclient") is
    local."""
    host = request.client.host if request.client else None
    if not host:
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return True
    return _is_loopback(host)


class _Metrics:
    """Prometheus metrics in a registry of this app's own (no process-global state).

    Under ``erp-assist serve --workers N`` (``PROMETHEUS_MULTIPROC_DIR`` set) counters and histograms are kept
    in files shared by the workers, and a scrape of any worker adds them up; collectors that read current
    state (the serving build, the group gauges) answer from the worker that was scraped."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._state_collectors: list[Collector] = []
        self.requests = Counter("erp_assist_requests", "HTTP requests", ["route", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram("erp_assist_request_seconds", "HTTP request latency", ["route"],
                                 buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
                                 registry=self.registry)
        self.suggestions = Counter("erp_assist_suggestions_served", "Draft answers returned", registry=self.registry)
        self.abstained = Counter("erp_assist_abstained", "Questions answered with no draft", registry=self.registry)
        self.off_topic = Counter("erp_assist_off_topic", "Messages the off-topic gate turned away",
                                 registry=self.registry)
        self.store_busy = Counter("erp_assist_store_busy", "Requests answered 503: the review store was busy",
                                  ["route"], registry=self.registry)
        self.shed = Counter("erp_assist_shed", "Requests answered 503: the worker was at capacity",
                            registry=self.registry)
        self.erp_lookups = Counter("erp_assist_erp_lookups", "Live ERP lookups answered, by outcome", ["outcome"],
                                   registry=self.registry)

    def add_state_collector(self, collector: Collector) -> None:
        """A collector computed at scrape time from this process's state."""
        self.registry.register(collector)
        self._state_collectors.append(collector)

    def exposition(self) -> bytes:
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        for collector in self._state_collectors:
            registry.register(collector)
        return generate_latest(registry)


class _ServingBuilds(Collector):
    """``erp_assist_index_build{build_id, tenant}``: the build each opened tenant serves."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("erp_assist_index_build", "Serving index build (label) per opened tenant",
                                   labels=["build_id", "tenant"])
        tenants = getattr(self.app.state, "tenants", None)
        for tenant, served in (tenants.loaded() if tenants is not None else {}).items():
            family.add_metric([served.index.build_id, tenant], 1)
        yield family


# Input the service cannot echo or keep ------------------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")


class _UnsafeNumber(ValueError):
    pass


def _refuse_constant(name: str) -> float:
    raise _UnsafeNumber(f"{name} is not a JSON number; send a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _UnsafeNumber(f"{text} is beyond the range of a number; send a finite number")
    return value


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        # PostgreSQL cannot store NUL in text, and no question or answer needs one.
        return "NUL characters (\\u0000) are not accepted; remove them"
    if _SURROGATE.search(text):
        return "unpaired UTF-16 surrogates (\\ud800-\\udfff) are not text; send valid Unicode"
    return None


def _json_problems(body: bytes) -> list[dict[str, Any]]:
    """Why a JSON body cannot be accepted: non-finite numbers, and strings (keys too) holding NUL or lone
    surrogates. A body that is not JSON at all is left to FastAPI, which reports it in its own words."""
    try:
        data = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _UnsafeNumber as exc:
        return [{"type": "number_not_finite", "loc": ["body"], "msg": str(exc)}]
    except (ValueError, RecursionError):
        return []
    stack: list[tuple[Any, list[Any]]] = [(data, ["body"])]
    while stack:  # iterative: the nesting depth is the client's choice
        value, loc = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if problem := _text_problem(key):
                    return [{"type": "string_unsafe", "loc": loc, "msg": f"a key: {problem}"}]
                stack.append((item, [*loc, key]))
        elif isinstance(value, list):
            stack.extend((item, [*loc, i]) for i, item in enumerate(value))
        elif isinstance(value, str) and (problem := _text_problem(value)):
            return [{"type": "string_unsafe", "loc": loc, "msg": problem}]
    return []


def _nul_in(where: str) -> list[dict[str, Any]]:
    return [{"type": "string_unsafe", "loc": [where], "msg": _text_problem("\x00")}]


def _is_json(content_type: str | None) -> bool:
    # FastAPI parses a body as JSON when its type is application/json or application/*+json (or, in older
    # versions, when there is no Content-Type at all).
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in ("", "application/json") or (media.startswith("application/") and media.endswith("+json"))


class _LoadShedder:
    """Answers 503 with Retry-After at once when ``limit`` API requests are already in flight in this process.

    Past what the cores can serve, every queued request waits behind all the others and everyone's answer comes
    late; refusing the excess keeps the admitted ones fast and tells clients when to come back. Health checks
    and /metrics are never refused."""

    def __init__(self, app: ASGIApp, limit: int, on_shed: Callable[[], None]) -> None:
        self.app = app
        self.limit = limit
        self.on_shed = on_shed
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(("/v1/", "/ui")):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            self.on_shed()
            refusal = JSONResponse({"detail": "the service is at capacity; retry in a second"}, status_code=503,
                                   headers={"Retry-After": "1"})
            await refusal(scope, receive, send)
            return
        self.in_flight += 1  # one event loop per process: no lock needed
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class _RequestGuard:
    """Reads each request's body before the app does and refuses, without calling the app:

    * a body over ``max_bytes`` (413) — announced by Content-Length, or counted as it arrives (chunked
      uploads), answered as soon as the count passes the limit, without reading the rest;
    * text the review store cannot keep (422): NUL in the query string, a form or a JSON body, lone
      surrogates and NaN/Infinity in a JSON body — the last two would also break FastAPI's echo of the input.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._too_large()(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b""):
            await self._unsafe(_nul_in("query"))(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away; there is no one to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large()(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body:
            content_type = headers.get("content-type")
            if _is_json(content_type):
                problems = _json_problems(body)
            elif content_type and content_type.lower().startswith("application/x-www-form-urlencoded"):
                problems = _nul_in("body") if b"%00" in body or b"\x00" in body else []
            else:
                problems = []
            if problems:
                await self._unsafe(problems)(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # later calls wait for the disconnect, as Starlette expects
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _too_large(self) -> Response:
        return JSONResponse({"detail": f"request body over {self.max_bytes} bytes"}, status_code=413)

    @staticmethod
    def _unsafe(problems: list[dict[str, Any]]) -> Response:
        return JSONResponse({"detail": problems}, status_code=422)


def _json_safe(value: Any, depth: int = 0) -> Any:  # noqa: ANN401 - whatever a validation error holds
    """``value`` as plain JSON types with nothing that breaks strict encoding: lone surrogates escaped,
    NaN/Infinity as text, bytes decoded leniently, other objects as their text; input deeper than 32 levels is
    cut."""
    if depth > 32:
        return "…"
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode() if _SURROGATE.search(value) else value
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes):
        return _json_safe(value.decode("utf-8", "backslashreplace"), depth)
    if isinstance(value, dict):
        return {str(_json_safe(k, depth + 1)): _json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_safe(item, depth + 1) for item in value]
    if isinstance(value, BaseException):
        return _json_safe(str(value), depth)
    try:
        encoded = jsonable_encoder(value)
    except Exception:  # noqa: BLE001 - an object FastAPI cannot encode is shown as its text
        return _json_safe(str(value), depth)
    return _json_safe(encoded, depth) if isinstance(encoded, (str, int, float, list, dict)) else str(encoded)


class _SecurityHeaders:
    """``SECURITY_HEADERS`` on every response, with a Content-Security-Policy fit for what it is: the review
    pages' (``PAGE_CSP``), the API docs' (``DOCS_CSP``) or, for JSON and text, none at all (``API_CSP``)."""

    def __init__(self, app: ASGIApp, docs_paths: set[str]) -> None:
        self.app = app
        self.docs_paths = docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if scope["path"] in self.docs_paths:
                    policy = DOCS_CSP
                elif headers.get("content-type", "").startswith("text/html"):
                    policy = PAGE_CSP
                else:
                    policy = API_CSP
                headers.setdefault("Content-Security-Policy", policy)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None, assistant: Assistant | None = None) -> FastAPI:
    """A new app serving every tenant; ``settings`` are the default tenant's. Pass an already loaded ``assistant``
    (of ``settings.tenant``) to share its models across apps (tests)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _warn_about_open_metrics(settings)
        warn_if_links_unclickable(settings)
        app.state.store = open_store(settings.database_url, busy_timeout_seconds=settings.store_busy_timeout_seconds)
        app.state.tenants = TenantPool(settings, assistant=assistant).load()
        register_group_metrics(app)
        # Live ERP lookups (issue #21), counted in /metrics whichever path asked: API, review page, chat groups.
        lookups_metric = app.state.metrics.erp_lookups
        app.state.erp = ErpLookups(settings, app.state.store,
                                   on_lookup=lambda answer: lookups_metric.labels(answer.outcome).inc())
        alerts = start_alert_loop(app.state.erp, app.state.store, settings)
        yield
        if alerts is not None:
            alerts.stop()
        app.state.erp.close()
        app.state.store.dispose()

    app = FastAPI(title="erp-assist", version=__version__, lifespan=lifespan,
                  description="Suggested answers for ERP support groups, with sources, tags and expert review.")
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    metrics = _Metrics()
    metrics.add_state_collector(_ServingBuilds(app))
    metrics.add_state_collector(ErpCollector(lambda: getattr(app.state, "store", None)))
    app.state.metrics = metrics

    @app.middleware("http")
    async def measure(request: Request, call_next):  # noqa: ANN001, ANN202
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.requests.labels(path, request.method, str(response.status_code)).inc()
        metrics.latency.labels(path).observe(time.perf_counter() - started)
        return response

    # Added last, so outermost: the guard's 413/422 carry the headers too.
    app.add_middleware(_RequestGuard, max_bytes=settings.max_body_bytes)
    app.add_middleware(_LoadShedder, limit=settings.max_in_flight, on_shed=metrics.shed.inc)
    app.add_middleware(_SecurityHeaders, docs_paths={p for p in (app.docs_url, app.redoc_url,
                                                                 app.swagger_ui_oauth2_redirect_url) if p})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input, and fails (a 500) on what strict JSON cannot encode.
        return JSONResponse({"detail": _json_safe(exc.errors())}, status_code=422)

    @app.exception_handler(StoreBusyError)
    async def store_busy(request: Request, exc: StoreBusyError) -> JSONResponse:
        seconds = max(1, math.ceil(getattr(exc, "retry_after_seconds", 1)))
        route = getattr(request.scope.get("route"), "path", "unmatched")
        metrics.store_busy.labels(route).inc()
        log.warning("%s %s: %s (503, Retry-After %d)", request.method, request.url.path, exc, seconds)
        retry = "a second" if seconds == 1 else f"{seconds} seconds"
        return JSONResponse({"detail": f"the review store is busy; retry in {retry}"}, status_code=503,
                            headers={"Retry-After": str(seconds)})

    @app.exception_handler(ErpAssistError)
    async def domain_error(request: Request, exc: ErpAssistError) -> JSONResponse:
        log.warning("%s %s: %s", request.method, request.url.path, exc)  # the full message, paths and all
        return JSONResponse({"detail": public_detail(str(exc))}, status_code=503)

    @app.exception_handler(Exception)
    async def server_error(_: Request, exc: Exception) -> Response:
        # Starlette answers this outside every middleware; the answer still carries the security headers.
        return PlainTextResponse("Internal Server Error", status_code=500,
                                 headers={**SECURITY_HEADERS, "Content-Security-Policy": API_CSP})

    @app.get("/metrics", include_in_schema=False)
    def prometheus(request: Request, authorization: Annotated[str | None, Header()] = None) -> Response:
        if settings.metrics_token:
            if not hmac.compare_digest(authorization or "", f"Bearer {settings.metrics_token}"):
                return JSONResponse(
                    {"detail": "/metrics needs Authorization: Bearer <ERP_ASSIST_METRICS_TOKEN>"},
                    status_code=401, headers={"WWW-Authenticate": "Bearer"},
                )
        elif not settings.metrics_public and not _local_client(request):
            # The group gauges name every tenant's experts.
            return JSONResponse({"detail": "/metrics answers only this machine while "
                                 "ERP_ASSIST_METRICS_TOKEN is unset; set it (and send Authorization: Bearer "
                                 "<token>), or set ERP_ASSIST_METRICS_PUBLIC=true"}, status_code=403)
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(health.router)
    app.include_router(suggest.router)
    app.include_router(sources.router)
    app.include_router(questions.router)
    app.include_router(review.router)
    app.include_router(admin.router)
    app.include_router(channels.router)
    app.include_router(ui.router)
    app.include_router(source_links.router)
    return app


def _warn_about_open_metrics(settings: Settings) -> None:
    if settings.metrics_token or _is_loopback(settings.api_host):
        return
    if settings.metrics_public:
        log.warning("SECURITY: ERP_ASSIST_METRICS_TOKEN is unset and ERP_ASSIST_METRICS_PUBLIC is true while "
                    "the API listens on %s: anyone who reaches it can read /metrics, which names every "
                    "tenant's experts; set ERP_ASSIST_METRICS_TOKEN", settings.api_host)
    else:
        log.warning("SECURITY: ERP_ASSIST_METRICS_TOKEN is unset while the API listens on %s: /metrics "
                    "answers only clients on this machine (403 to the others; behind a reverse proxy on this "
                    "machine every client looks local); set ERP_ASSIST_METRICS_TOKEN for a remote Prometheus",
                    settings.api_host)
