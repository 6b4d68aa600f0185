"""GET /v1/sources/{uri}: the full source behind a draft's link, from the caller's tenant's index only."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from assistant.deps import AskerKey, AssistantDep
from assistant.schemas import SourceChunkOut, SourceResponse

router = APIRouter(prefix="/v1", tags=["sources"])


@router.get("/sources/{uri:path}", response_model=SourceResponse)
def get_source(uri: str, assistant: AssistantDep, key: AskerKey) -> SourceResponse:
    if not uri.startswith("kb://"):
        uri = "kb://" + uri.lstrip("/")
    chunks = assistant.source(uri)
    if not chunks:
        raise HTTPException(status_code=404, detail=f"no source {uri} in the published index")
    first = chunks[0]
    return SourceResponse(
        uri=uri,
        type=first.source_type.value,
        id=first.source_id,
        url=first.url if "#" in uri else (first.url or "").split("#")[0] or None,
        module=first.module,
        chunks=[SourceChunkOut(uri=c.uri, title=c.title, text=c.text, anchor=c.anchor) for c in chunks],
        metadata=first.metadata,
    )
