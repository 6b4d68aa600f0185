"""Admin operations over HTTP: rebuild the knowledge base now (the nightly job, on demand)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from assistant.deps import AdminKey
from assistant.rebuild import rebuild_knowledge_base
from indexer.errors import BuildRefusedError

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post("/rebuild")
def rebuild(request: Request, key: AdminKey) -> dict[str, Any]:
    """Build and publish a new index from the sources and reviewed answers; the service switches to it."""
    assistant = request.app.state.assistant
    try:
        report = rebuild_knowledge_base(request.app.state.settings, assistant=assistant)
    except BuildRefusedError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    assistant.refresh()
    return {"build_id": report.build_id, "counts": report.manifest["counts"],
            "skipped": report.manifest["skipped"], "seconds": round(report.seconds, 1),
            "reused_embeddings": report.reused_embeddings}
