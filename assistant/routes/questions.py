"""Questions and their review trail: read one, decide on its drafts, reopen it, correct its tags — within the
caller's tenant; another tenant's question id is a 404 like a missing one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from assistant.auth import allows
from assistant.deps import AskerKey, ExpertKey, StoreDep, TaxonomyDep, TenantsDep
from assistant.kb_hygiene import learned_merge_target
from assistant.schemas import QuestionOut, ReopenRequest, ReviewOut, ReviewRequest, TagsRequest
from assistant.store import (
    ConflictError,
    NotFoundError,
    correct_tags,
    get_question,
    record_review,
    reopen_question,
)
from assistant.tenants import TenantNotReadyError
from erp_assist.domain import Decision

router = APIRouter(prefix="/v1/questions", tags=["review"])
QuestionId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Question id from /v1/suggest")]


@router.get("/{question_id}", response_model=QuestionOut)
def read_question(question_id: QuestionId, store: StoreDep, key: AskerKey) -> QuestionOut:
    try:
        question = get_question(store, tenant=key.tenant, question_id=question_id)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    if not allows(key.role, "expert") and question.key_id != key.id:
        raise HTTPException(status_code=404, detail=f"no question {question_id}")  # askers see only their own
    return QuestionOut.from_stored(question)


@router.post("/{question_id}/review", response_model=ReviewOut)
def review(question_id: QuestionId, body: ReviewRequest, store: StoreDep, key: ExpertKey,
           tenants: TenantsDep) -> ReviewOut:
    try:
        merge_into = _merge_target(tenants, key.tenant, get_question(store, tenant=key.tenant,
                                                                     question_id=question_id), body)
        stored = record_review(store, tenant=key.tenant, question_id=question_id, decision=Decision(body.decision),
                               reviewer=key.name, suggestion_rank=body.suggestion_rank,
                               edited_answer=body.edited_answer, note=body.note, merge_into=merge_into)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except ConflictError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return ReviewOut(**stored.__dict__)


def _merge_target(tenants, tenant: str, question, body: ReviewRequest) -> str | None:  # noqa: ANN001
    """The FAQ entry the approved answer joins as an alternate (knowledge-base hygiene); None: a new entry."""
    try:
        assistant = tenants.get(tenant)
    except TenantNotReadyError:
        return None  # nothing published: nothing to duplicate
    return learned_merge_target(question, decision=Decision(body.decision), suggestion_rank=body.suggestion_rank,
                                edited_answer=body.edited_answer, learn_as=body.learn_as,
                                chunks=assistant.index.chunks, processor=assistant.processor,
                                settings=assistant.settings)


@router.post("/{question_id}/reopen", response_model=ReviewOut)
def reopen(question_id: QuestionId, body: ReopenRequest, store: StoreDep, key: ExpertKey) -> ReviewOut:
    try:
        stored = reopen_question(store, tenant=key.tenant, question_id=question_id, reviewer=key.name,
                                 note=body.note)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except ConflictError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return ReviewOut(**stored.__dict__)


@router.post("/{question_id}/tags", response_model=QuestionOut)
def retag(question_id: QuestionId, body: TagsRequest, taxonomy: TaxonomyDep, store: StoreDep,
          key: ExpertKey) -> QuestionOut:
    """Set the right module, urgency and/or off-topic flag: the queue re-sorts, the correction joins the
    question's trail, and `erp-assist labels export` turns corrected questions into training data for the
    classifier and the off-topic gate."""
    try:
        taxonomy.check_tags(body.module, body.urgency)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    try:
        correct_tags(store, tenant=key.tenant, question_id=question_id, reviewer=key.name, module=body.module,
                     urgency=body.urgency, off_topic=body.off_topic)
        return QuestionOut.from_stored(get_question(store, tenant=key.tenant, question_id=question_id))
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
