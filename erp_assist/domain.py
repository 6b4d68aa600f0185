"""Typed objects that cross stage boundaries: documents, chunks, hits, tags, suggestions, reviews."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "SourceType",
    "Urgency",
    "Decision",
    "SourceLink",
    "Document",
    "Chunk",
    "Hit",
    "Classification",
    "Suggestion",
    "SuggestResult",
    "Review",
    "source_uri",
    "content_id",
    "MODULE_INFERRED",
    "UNKNOWN_MODULE",
]

UNKNOWN_MODULE = "unknown"
# Chunk metadata key: the build guessed the chunk's module (its source had none); such a module earns no bonus.
MODULE_INFERRED = "module_inferred"


class SourceType(StrEnum):
    FAQ = "faq"
    SOP = "sop"
    CHAT = "chat"


class Urgency(StrEnum):
    """P1 blocks business now; P2 is an error with a workaround or one user; P3 is how-to or a wish."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"


class Decision(StrEnum):
    ACCEPT = "accept"
    EDIT = "edit"
    REJECT = "reject"


def source_uri(source_type: SourceType, source_id: str, anchor: str = "") -> str:
    """Stable link of a source: ``kb://faq/<id>``, ``kb://sop/<doc>#<slug>``, ``kb://chat/<group>/<msg>``."""
    uri = f"kb://{source_type.value}/{source_id}"
    return f"{uri}#{anchor}" if anchor else uri


def content_id(*parts: str) -> str:
    """Content hash used as a stable id: unchanged text gives the same id on every rebuild."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:16]


@dataclass(frozen=True)
class SourceLink:
    type: SourceType
    id: str
    title: str
    anchor: str
    uri: str
    url: str | None = None


@dataclass(frozen=True)
class Document:
    """One knowledge source before chunking: a FAQ entry, an SOP document or a resolved chat thread.

    For FAQ entries ``title`` is the question and ``text`` the answer; for chat threads ``title`` is the
    asker's question and ``text`` the expert's answer; for SOPs ``text`` is the Markdown body.
    """

    source_type: SourceType
    source_id: str
    title: str
    text: str
    module: str | None = None
    url: str | None = None
    updated_at: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return source_uri(self.source_type, self.source_id)


@dataclass(frozen=True)
class Chunk:
    """The unit of retrieval. ``title`` carries the FAQ question / heading path / thread question,
    ``text`` the part that becomes the draft answer."""

    id: str
    source_type: SourceType
    source_id: str
    title: str
    text: str
    anchor: str = ""
    module: str | None = None
    url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return source_uri(self.source_type, self.source_id, self.anchor)

    @property
    def search_text(self) -> str:
        return f"{self.title}\n{self.text}"

    @property
    def link(self) -> SourceLink:
        return SourceLink(self.source_type, self.source_id, self.title, self.anchor, self.uri, self.url)

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source_type": self.source_type.value,
            "source_id": self.source_id,
            "title": self.title,
            "text": self.text,
            "anchor": self.anchor,
            "module": self.module,
            "url": self.url,
            "metadata": self.metadata,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Chunk:
        return cls(
            id=record["id"],
            source_type=SourceType(record["source_type"]),
            source_id=record["source_id"],
            title=record["title"],
            text=record["text"],
            anchor=record.get("anchor", ""),
            module=record.get("module"),
            url=record.get("url"),
            metadata=record.get("metadata") or {},
        )


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its final score and the per-retriever evidence behind it."""

    chunk: Chunk
    score: float
    lexical: float = 0.0
    dense: float = 0.0


@dataclass(frozen=True)
class Classification:
    module: str
    urgency: Urgency
    module_confidence: float
    urgency_confidence: float
    module_scores: dict[str, float] = field(default_factory=dict)
    urgency_scores: dict[str, float] = field(default_factory=dict)
    cues: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Suggestion:
    rank: int
    score: float
    draft: str
    source: SourceLink
    excerpt: str
    module: str | None = None


@dataclass(frozen=True)
class SuggestResult:
    question: str
    classification: Classification
    suggestions: list[Suggestion]
    abstained: bool
    build_id: str | None = None
    # Not a question about the ERP (greetings, thanks, chatter): no drafts, urgency P3, nobody paged.
    off_topic: bool = False
    off_topic_probability: float | None = None


@dataclass(frozen=True)
class Review:
    question_id: int
    suggestion_rank: int | None
    decision: Decision
    reviewer: str
    created_at: datetime
    edited_answer: str | None = None
    note: str | None = None
