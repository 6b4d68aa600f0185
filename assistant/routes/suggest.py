"""POST /v1/suggest: tags and ranked drafts for a question."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from assistant.deps import AssistantDep
from assistant.schemas import SuggestRequest, SuggestResponse
from erp_assist.errors import InvalidQuestionError

router = APIRouter(prefix="/v1", tags=["suggest"])


@router.post("/suggest", response_model=SuggestResponse)
def suggest(body: SuggestRequest, assistant: AssistantDep) -> SuggestResponse:
    try:
        result = assistant.suggest(body.question, top_k=body.top_k)
    except InvalidQuestionError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return SuggestResponse.from_result(result, question_id=None)
