"""Liveness and readiness."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from assistant.schemas import public_detail

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Ready when the store answers and the configured (default) tenant serves a published index."""
    try:
        build = request.app.state.tenants.get(request.app.state.settings.tenant).index.build_id
        with request.app.state.store.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure as not ready
        log.warning("not ready: %s", exc)
        return JSONResponse({"status": "not ready", "reason": public_detail(str(exc))}, status_code=503)
    return JSONResponse({"status": "ready", "build_id": build})
