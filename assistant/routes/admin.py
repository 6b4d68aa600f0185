"""Admin operations over HTTP: rebuild the admin's tenant's knowledge base now (the nightly job, on demand)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException

from assistant.deps import AdminKey, StoreDep, TenantsDep
from assistant.schemas import public_detail
from indexer.errors import BuildRefusedError

router = APIRouter(prefix="/v1/admin", tags=["admin"])
log = logging.getLogger(__name__)


@router.post("/rebuild")
def rebuild(key: AdminKey, tenants: TenantsDep, store: StoreDep) -> dict[str, Any]:
    """Build and publish a new index of the key's tenant from its sources and reviewed answers; the service
    switches to it."""
    try:
        from assistant.rebuild import rebuild_knowledge_base  # the build pipeline loads only when asked for

        report = rebuild_knowledge_base(tenants.settings_for(key.tenant), models=tenants.models, store=store)
    except BuildRefusedError as exc:
        log.warning("rebuild of tenant %s refused: %s", key.tenant, exc)
        raise HTTPException(status_code=409, detail=public_detail(str(exc))) from exc
    tenants.get(key.tenant)  # opens (or switches to) the new build now, not on the next question
    return {"build_id": report.build_id, "counts": report.manifest["counts"],
            "skipped": report.manifest["skipped"], "seconds": round(report.seconds, 1),
            "reused_embeddings": report.reused_embeddings}
