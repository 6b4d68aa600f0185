"""POST /v1/suggest: tags and ranked drafts for a question from the caller's tenant's knowledge base; every call
is stored in that tenant's review queue."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from assistant.deps import AskerKey, AssistantDep, StoreDep
from assistant.schemas import SuggestRequest, SuggestResponse
from assistant.store import record_question
from erp_assist.errors import InvalidQuestionError

router = APIRouter(prefix="/v1", tags=["suggest"])


@router.post("/suggest", response_model=SuggestResponse)
def suggest(body: SuggestRequest, request: Request, assistant: AssistantDep, store: StoreDep,
            key: AskerKey) -> SuggestResponse:
    try:
        result = assistant.suggest(body.question, top_k=body.top_k)
    except InvalidQuestionError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    metrics = request.app.state.metrics
    metrics.suggestions.inc(len(result.suggestions))
    if result.abstained:
        metrics.abstained.inc()
    question_id = record_question(store, tenant=key.tenant, result=result, asker=body.asker or key.name,
                                  group=body.group, context=body.context, key_id=key.id)
    return SuggestResponse.from_result(result, question_id=question_id)
