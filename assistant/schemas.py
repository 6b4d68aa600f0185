"""Request and response bodies of the HTTP API, kept apart from the core's domain objects."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from erp_assist.domain import SuggestResult

__all__ = ["SuggestRequest", "SuggestResponse", "SourceOut", "SuggestionOut", "SourceChunkOut", "SourceResponse"]


class SuggestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(..., min_length=1, max_length=4000, description="The question as asked in the group")
    asker: str | None = Field(None, max_length=200)
    group: str | None = Field(None, max_length=200)
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
    url: str | None


class SuggestionOut(BaseModel):
    rank: int
    score: float
    draft: str
    source: SourceOut
    excerpt: str


class SuggestResponse(BaseModel):
    question_id: int | None
    module: str
    urgency: str
    confidences: dict[str, float]
    cues: list[str]
    suggestions: list[SuggestionOut]
    abstained: bool
    build_id: str | None

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
    url: str | None
    module: str | None
    chunks: list[SourceChunkOut]
    metadata: dict
