"""GET /v1/review/queue and GET /v1/stats: what the experts of the caller's tenant work through, and how it goes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from assistant.deps import ExpertKey, StoreDep
from assistant.schemas import QueueResponse, QuestionOut
from assistant.store import list_queue, review_stats

router = APIRouter(prefix="/v1", tags=["review"])


@router.get("/review/queue", response_model=QueueResponse)
def queue(store: StoreDep, key: ExpertKey, module: str | None = Query(None, max_length=50),
          limit: int = Query(100, ge=1, le=500)) -> QueueResponse:
    questions = list_queue(store, tenant=key.tenant, module=module, limit=limit)
    return QueueResponse(open_p1=sum(q.urgency == "P1" for q in questions),
                         questions=[QuestionOut.from_stored(q) for q in questions])


@router.get("/stats")
def stats(store: StoreDep, key: ExpertKey) -> dict[str, Any]:
    return review_stats(store, tenant=key.tenant)
