"""Request and response bodies of the HTTP API, kept apart from the core's domain objects."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from assistant.store import StoredQuestion
from erp_assist.domain import SuggestResult

__all__ = [
    "QueueResponse",
    "QuestionOut",
    "ReopenRequest",
    "ReviewOut",
    "ReviewRequest",
    "SourceChunkOut",
    "SourceOut",
    "SourceResponse",
    "SuggestRequest",
    "SuggestResponse",
    "SuggestionOut",
    "public_detail",
    "web_url",
]

_WEB_SCHEMES = frozenset({"http", "https"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# An absolute POSIX path (not the tail of a URL such as kb://faq/x or https://host/x) or a Windows one; ``:``
# and ``;`` end it, so "…/faq.csv:12: not JSON" and "…/index; run" keep their punctuation.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/[^\s/'\"`<>|,:;()\[\]{}]+(?:/[^\s/'\"`<>|,:;()\[\]{}]*)*"
                            r"|\b[A-Za-z]:\\[^\s'\"`<>|,;]*")


def web_url(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL, else None.

    A source's URL comes from its author (an SOP's ``source_url`` front matter) and becomes a link: a
    ``javascript:`` or ``data:`` URL would run in the reader's browser, so anything but a web address is
    dropped."""
    if not url or _CONTROL.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    return url if parts.scheme.lower() in _WEB_SCHEMES and parts.hostname else None


def public_detail(message: str) -> str:
    """An error message fit for an HTTP response: every absolute filesystem path cut to ``…/<last component>``
    (askers have no business knowing the server's layout; the full message belongs in the server's log)."""
    return _ABSOLUTE_PATH.sub(lambda m: "…/" + re.split(r"[/\\]", m.group().rstrip("/\\"))[-1], message)


class SuggestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(..., min_length=1, max_length=4000, description="The question as asked in the group")
    asker: str | None = Field(None, max_length=200, description="Who asked (expert and admin keys; an asker "
                              "key asks as itself, and another name is a 403)")
    group: str | None = Field(None, max_length=200, description="The group it was asked in (expert and admin "
                              "keys; dropped for an asker key)")
    context: str | None = Field(None, max_length=4000, description="Earlier messages of the conversation")
    top_k: int | None = Field(None, ge=1, le=20)

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question is blank; write what went wrong or what you want to do")
        return value


class SourceOut(BaseModel):
    type: str
    id: str
    title: str
    anchor: str
    uri: str
    url: str | None = Field(description="The source's web address (http or https only), for a link")

    @field_validator("url")
    @classmethod
    def _web_only(cls, value: str | None) -> str | None:
        return web_url(value)


class SuggestionOut(BaseModel):
    rank: int
    score: float
    draft: str
    source: SourceOut
    excerpt: str


class LookupOut(BaseModel):
    """A live ERP lookup beside the drafts: what was asked, how it ended and the answer with its time."""

    kind: str
    target: str
    outcome: str = Field(description="found, not_found, unreachable, not_allowed or rate_limited")
    text: str
    connector: str
    looked_up_at: str
    audit_id: int | None = None

    @classmethod
    def from_answer(cls, answer: Any) -> LookupOut:  # noqa: ANN401 - an assistant.erp.LookupAnswer
        return cls(kind=answer.kind.value, target=answer.target, outcome=answer.outcome, text=answer.text,
                   connector=answer.connector, looked_up_at=answer.looked_up_at.isoformat(),
                   audit_id=answer.audit_id)


class SuggestResponse(BaseModel):
    question_id: int | None
    module: str
    urgency: str
    confidences: dict[str, float]
    cues: list[str]
    suggestions: list[SuggestionOut]
    abstained: bool
    off_topic: bool = Field(False, description="Not a question about the ERP: no drafts, P3, stored out of the queue")
    build_id: str | None
    lookup: LookupOut | None = Field(None, description="Live ERP data the question asks for (issue #21)")

    @classmethod
    def from_result(cls, result: SuggestResult, question_id: int | None) -> SuggestResponse:
        c = result.classification
        return cls(
            question_id=question_id,
            module=c.module,
            urgency=c.urgency.value,
            confidences={"module": c.module_confidence, "urgency": c.urgency_confidence},
            cues=c.cues,
            suggestions=[
                SuggestionOut(
                    rank=s.rank,
                    score=s.score,
                    draft=s.draft,
                    source=SourceOut(
                        type=s.source.type.value,
                        id=s.source.id,
                        title=s.source.title,
                        anchor=s.source.anchor,
                        uri=s.source.uri,
                        url=s.source.url,
                    ),
                    excerpt=s.excerpt,
                )
                for s in result.suggestions
            ],
            abstained=result.abstained,
            off_topic=result.off_topic,
            build_id=result.build_id,
        )


class SourceChunkOut(BaseModel):
    uri: str
    title: str
    text: str
    anchor: str


class SourceResponse(BaseModel):
    uri: str
    type: str
    id: str
    url: str | None = Field(description="The source's web address (http or https only), for a link")
    module: str | None
    chunks: list[SourceChunkOut]
    metadata: dict

    @field_validator("url")
    @classmethod
    def _web_only(cls, value: str | None) -> str | None:
        return web_url(value)


class ReviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["accept", "edit", "reject"]
    suggestion_rank: int | None = Field(None, ge=1, le=50, description="Which draft the decision is about")
    edited_answer: str | None = Field(None, max_length=8000, description="Required for edit: the corrected answer")
    note: str | None = Field(None, max_length=2000, description="Why (e.g. the reason for a rejection)")
    learn_as: str = Field(
        "auto", max_length=250, pattern="^(auto|new|alternate:.+)$",
        description="What an approved new answer teaches: auto (an alternate question of the FAQ entry it "
                    "duplicates when the answers agree, else a new entry), new, or alternate:<faq id>",
    )

    @model_validator(mode="after")
    def _complete(self) -> ReviewRequest:
        if self.decision == "accept" and self.suggestion_rank is None:
            raise ValueError("accept needs suggestion_rank")
        if self.decision == "edit" and not (self.edited_answer or "").strip():
            raise ValueError("edit needs edited_answer")
        return self


class ReopenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=2000)


class TagsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    module: str | None = Field(None, max_length=50, description="The right module id (from the taxonomy)")
    urgency: Literal["P1", "P2", "P3"] | None = Field(None, description="The right urgency")
    off_topic: bool | None = Field(None, description="false: an ERP question the gate turned away (it joins the "
                                   "queue); true: chatter the gate let through (it leaves the queue)")

    @model_validator(mode="after")
    def _some(self) -> TagsRequest:
        if self.module is None and self.urgency is None and self.off_topic is None:
            raise ValueError("give module, urgency, off_topic or several")
        return self


class TagCorrectionOut(BaseModel):
    id: int
    module: str | None
    urgency: str | None
    previous_module: str
    previous_urgency: str
    reviewer: str
    created_at: datetime
    off_topic: bool | None = None
    previous_off_topic: bool | None = None


class ReviewOut(BaseModel):
    id: int
    suggestion_rank: int | None
    decision: str
    edited_answer: str | None
    note: str | None
    reviewer: str
    created_at: datetime


class StoredSuggestionOut(BaseModel):
    rank: int
    score: float
    draft: str
    source: SourceOut
    excerpt: str


class QuestionOut(BaseModel):
    id: int
    question: str
    asker: str | None
    group: str | None
    module: str
    urgency: str
    confidences: dict[str, float]
    cues: list[str]
    abstained: bool
    off_topic: bool = False
    status: str
    created_at: datetime
    suggestions: list[StoredSuggestionOut]
    reviews: list[ReviewOut]
    tag_corrections: list[TagCorrectionOut] = []

    @classmethod
    def from_stored(cls, q: StoredQuestion) -> QuestionOut:
        return cls(
            id=q.id, question=q.text, asker=q.asker, group=q.group, module=q.module, urgency=q.urgency,
            confidences={"module": q.module_confidence, "urgency": q.urgency_confidence}, cues=q.cues,
            abstained=q.abstained, off_topic=q.off_topic, status=q.status, created_at=q.created_at,
            suggestions=[
                StoredSuggestionOut(
                    rank=s.rank, score=s.score, draft=s.draft, excerpt=s.excerpt,
                    source=SourceOut(type=s.source_type, id=s.source_id, title=s.title,
                                     anchor=s.uri.split("#")[1] if "#" in s.uri else "", uri=s.uri, url=s.url),
                )
                for s in q.suggestions
            ],
            reviews=[ReviewOut(**r.__dict__) for r in q.reviews],
            tag_corrections=[TagCorrectionOut(**t.__dict__) for t in q.tag_corrections],
        )


class QueueResponse(BaseModel):
    open_p1: int
    questions: list[QuestionOut]
