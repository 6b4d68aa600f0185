"""``create_app(settings)``: the FastAPI shell around the tenants' assistants and the review store.

Models load once at start; each tenant's index opens on its first request (``TenantPool``). The API key of a
request decides its tenant, and with it the knowledge base, queue and stats it reaches.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from assistant.auth import RateLimiter
from assistant.group_metrics import register_group_metrics
from assistant.routes import admin, channels, health, questions, review, sources, suggest, ui
from assistant.service import Assistant
from assistant.store import open_store
from assistant.tenants import TenantPool
from erp_assist import __version__
from erp_assist.errors import ErpAssistError
from erp_assist.settings import Settings

__all__ = ["create_app"]


class _Metrics:
    """Prometheus metrics in a registry of this app's own (no process-global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("erp_assist_requests", "HTTP requests", ["route", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram("erp_assist_request_seconds", "HTTP request latency", ["route"],
                                 buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
                                 registry=self.registry)
        self.suggestions = Counter("erp_assist_suggestions_served", "Draft answers returned", registry=self.registry)
        self.abstained = Counter("erp_assist_abstained", "Questions answered with no draft", registry=self.registry)
        self.build = Gauge("erp_assist_index_build", "Serving index build (label) per opened tenant",
                           ["build_id", "tenant"], registry=self.registry)


def create_app(settings: Settings | None = None, assistant: Assistant | None = None) -> FastAPI:
    """A new app serving every tenant; ``settings`` are the default tenant's. Pass an already loaded ``assistant``
    (of ``settings.tenant``) to share its models across apps (tests)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = open_store(settings.database_url)
        app.state.tenants = TenantPool(settings, assistant=assistant).load()
        register_group_metrics(app)
        yield
        app.state.store.dispose()

    app = FastAPI(title="erp-assist", version=__version__, lifespan=lifespan,
                  description="Suggested answers for ERP support groups, with sources, tags and expert review.")
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    app.state.ui_sessions = {}
    metrics = _Metrics()
    app.state.metrics = metrics

    @app.middleware("http")
    async def limit_and_measure(request: Request, call_next):  # noqa: ANN001, ANN202
        length = request.headers.get("content-length")
        if length and (not length.isdigit() or int(length) > settings.max_body_bytes):
            return JSONResponse({"detail": f"request body over {settings.max_body_bytes} bytes"}, status_code=413)
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.requests.labels(path, request.method, str(response.status_code)).inc()
        metrics.latency.labels(path).observe(time.perf_counter() - started)
        return response

    @app.exception_handler(ErpAssistError)
    async def domain_error(_: Request, exc: ErpAssistError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.get("/metrics", include_in_schema=False)
    def prometheus(authorization: Annotated[str | None, Header()] = None) -> Response:
        if settings.metrics_token and not hmac.compare_digest(authorization or "", f"Bearer {settings.metrics_token}"):
            return JSONResponse({"detail": "/metrics needs Authorization: Bearer <ERP_ASSIST_METRICS_TOKEN>"},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        metrics.build.clear()
        for tenant, served in app.state.tenants.loaded().items():
            metrics.build.labels(served.index.build_id, tenant).set(1)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(health.router)
    app.include_router(suggest.router)
    app.include_router(sources.router)
    app.include_router(questions.router)
    app.include_router(review.router)
    app.include_router(admin.router)
    app.include_router(channels.router)
    app.include_router(ui.router)
    return app
