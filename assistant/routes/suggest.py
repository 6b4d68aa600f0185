"""POST /v1/suggest: tags and ranked drafts for a question from the caller's tenant's knowledge base; every call
is stored in that tenant's review queue.

An asker key asks as itself: the queue shows the key's name, a body naming another ``asker`` is refused (403),
and its ``group`` is dropped (a key vouches for no group; older clients still send one). Expert and admin keys
may ask on someone's behalf, in a group they name (a chat bridge, a help desk)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from assistant.auth import allows
from assistant.deps import AskerKey, AssistantDep, StoreDep
from assistant.schemas import LookupOut, SuggestRequest, SuggestResponse
from assistant.store import record_question
from erp_assist.errors import InvalidQuestionError

router = APIRouter(prefix="/v1", tags=["suggest"])


@router.post("/suggest", response_model=SuggestResponse)
def suggest(body: SuggestRequest, request: Request, assistant: AssistantDep, store: StoreDep,
            key: AskerKey) -> SuggestResponse:
    on_behalf = allows(key.role, "expert")
    if not on_behalf and body.asker is not None and body.asker != key.name:
        raise HTTPException(status_code=403, detail=f"an asker key asks as itself ({key.name!r}): leave out "
                            "asker, or ask on someone's behalf with an expert key")
    try:
        result = assistant.suggest(body.question, top_k=body.top_k)
    except InvalidQuestionError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    metrics = request.app.state.metrics
    metrics.suggestions.inc(len(result.suggestions))
    if result.abstained:
        metrics.abstained.inc()
    if result.off_topic:
        metrics.off_topic.inc()
    asker = body.asker if on_behalf and body.asker else key.name
    question_id = record_question(store, tenant=key.tenant, result=result, asker=asker,
                                  group=body.group if on_behalf else None, context=body.context,
                                  key_id=key.id)
    response = SuggestResponse.from_result(result, question_id=question_id)
    erp = getattr(request.app.state, "erp", None)
    lookup = erp.answer_safely(body.question, tenant=key.tenant, asker=asker, channel="api") if erp else None
    if lookup is not None:
        response.lookup = LookupOut.from_answer(lookup)
    return response
