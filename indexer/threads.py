"""Reconstruct question/answer threads from an interleaved group-chat stream.

Links are trusted in order of strength: an explicit reply/quote, then an @mention of the asker, then a
time window. An answer is an expert's message, or a peer's message the asker confirmed ("好了", "解决了",
"谢谢"). Greetings, stickers, "收到" and system notices are noise and never become knowledge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from erp_assist.domain import Document, SourceType
from indexer.text import strip_chat_markup

__all__ = ["ChatMessage", "Thread", "ThreadReport", "build_threads", "is_noise"]

ROLES = ("asker", "expert", "bot")
_NOISE = re.compile(
    r"^(收到|好的|好滴|好|ok|okay|嗯+|哦+|早|早上好|大家好|中午好|下午好|晚上好|在吗|在|\+1|1|哈+|呵+|"
    r"辛苦了?|辛苦辛苦|👍+|🙏+|\[[^\]]{1,6}\])[!！。.~～\s]*$",
    re.IGNORECASE,
)
_CONFIRM = re.compile(r"(好了|可以了|解决了|搞定|成功了|没问题了|ok了|正常了|明白了|懂了|谢谢|感谢|多谢|thx|thanks)", re.I)
_QUESTION = re.compile(
    r"(【问题】|[?？]|怎么|如何|为什么|为啥|吗|报错|提示|无法|不能|不了|失败|求助|请问|在哪|哪里|急|卡住|异常|不对|不一致)"
)
_MENTION = re.compile(r"@([^\s@，,:：(（]{1,20})")


def is_noise(text: str) -> bool:
    """Greetings, acknowledgements, stickers and placeholders that carry no knowledge."""
    stripped = strip_chat_markup(text).strip()
    return not stripped or bool(_NOISE.match(text.strip()))


@dataclass(frozen=True)
class ChatMessage:
    msg_id: str
    group: str
    sender: str
    role: str
    ts: datetime
    text: str
    reply_to: str | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ChatMessage:
        role = record["role"]
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
        return cls(
            msg_id=str(record["msg_id"]),
            group=str(record["group"]),
            sender=str(record["sender"]),
            role=role,
            ts=datetime.fromisoformat(record["ts"]),
            text=str(record["text"]),
            reply_to=record.get("reply_to") or None,
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "msg_id": self.msg_id,
            "group": self.group,
            "sender": self.sender,
            "role": self.role,
            "ts": self.ts.isoformat(),
            "text": self.text,
            "reply_to": self.reply_to,
        }


@dataclass
class Thread:
    question: ChatMessage
    follow_ups: list[ChatMessage] = field(default_factory=list)
    answers: list[ChatMessage] = field(default_factory=list)
    confirmation: ChatMessage | None = None

    @property
    def last_ts(self) -> datetime:
        times = [self.question.ts] + [m.ts for m in self.follow_ups + self.answers]
        return max(times)

    @property
    def expert_answers(self) -> list[ChatMessage]:
        return [m for m in self.answers if m.role == "expert"]

    @property
    def resolved(self) -> bool:
        return bool(self.expert_answers) or (bool(self.answers) and self.confirmation is not None)

    @property
    def message_ids(self) -> list[str]:
        ids = [self.question.msg_id] + [m.msg_id for m in self.follow_ups + self.answers]
        if self.confirmation:
            ids.append(self.confirmation.msg_id)
        return ids

    def contains(self, msg_id: str) -> bool:
        return msg_id in self.message_ids

    def to_document(self) -> Document:
        """One resolved thread as one Q/A unit linking back to its messages."""
        answers = self.expert_answers or self.answers
        question = "\n".join(_clean(m.text) for m in [self.question, *self.follow_ups])
        answer = "\n".join(_MENTION.sub("", m.text).strip() for m in answers)
        return Document(
            source_type=SourceType.CHAT,
            source_id=f"{self.question.group}/{self.question.msg_id}",
            title=question,
            text=answer,
            updated_at=self.last_ts.isoformat(),
            metadata={
                "group": self.question.group,
                "asker": self.question.sender,
                "experts": sorted({m.sender for m in answers}),
                "message_ids": self.message_ids,
                "answer_ids": [m.msg_id for m in answers],
                "confirmed": self.confirmation is not None,
            },
        )


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", strip_chat_markup(text)).strip()


@dataclass
class ThreadReport:
    resolved: list[Thread] = field(default_factory=list)
    unresolved: list[Thread] = field(default_factory=list)
    noise: int = 0
    messages: int = 0


def build_threads(messages: list[ChatMessage], window: timedelta = timedelta(hours=2)) -> ThreadReport:
    """Group messages into threads, per chat group, in time order."""
    report = ThreadReport(messages=len(messages))
    by_group: dict[str, list[ChatMessage]] = {}
    for message in messages:
        by_group.setdefault(message.group, []).append(message)
    for group_messages in by_group.values():
        threads = _threads_of_group(sorted(group_messages, key=lambda m: m.ts), window, report)
        for thread in threads:
            (report.resolved if thread.resolved else report.unresolved).append(thread)
    return report


def _threads_of_group(messages: list[ChatMessage], window: timedelta, report: ThreadReport) -> list[Thread]:
    threads: list[Thread] = []
    by_msg: dict[str, Thread] = {}

    def attach(thread: Thread, message: ChatMessage, kind: str) -> None:
        getattr(thread, kind).append(message)
        by_msg[message.msg_id] = thread

    def open_threads(now: datetime) -> list[Thread]:
        return [t for t in threads if t.confirmation is None and now - t.last_ts <= window]

    for message in messages:
        if message.role == "bot" or is_noise(message.text):
            report.noise += 1
            continue
        replied = by_msg.get(message.reply_to) if message.reply_to else None
        recent = open_threads(message.ts)
        if message.role == "expert":
            thread = replied or _by_mention(message, recent) or _continued_answer(message, recent)
            if thread is None:
                unanswered = [t for t in recent if not t.answers]
                thread = unanswered[-1] if unanswered else None
            if thread is not None:
                attach(thread, message, "answers")
            continue
        own = [t for t in recent if t.question.sender == message.sender]
        target = replied or (own[-1] if own else None)
        if target is not None and target.question.sender == message.sender:
            if target.answers and _CONFIRM.search(message.text):
                target.confirmation = message
                by_msg[message.msg_id] = target
            elif not target.answers and not _starts_new_question(message):
                attach(target, message, "follow_ups")
            elif _QUESTION.search(message.text):
                thread = Thread(question=message)
                threads.append(thread)
                by_msg[message.msg_id] = thread
            continue
        if replied is not None:
            # A colleague answering someone else's question: counts once the asker confirms it.
            attach(replied, message, "answers")
        elif _QUESTION.search(message.text) or len(_clean(message.text)) >= 15:
            thread = Thread(question=message)
            threads.append(thread)
            by_msg[message.msg_id] = thread
        else:
            report.noise += 1
    return threads


def _starts_new_question(message: ChatMessage) -> bool:
    return "【问题】" in message.text


def _by_mention(message: ChatMessage, recent: list[Thread]) -> Thread | None:
    names = _MENTION.findall(message.text)
    for thread in reversed(recent):
        if any(thread.question.sender.startswith(name) for name in names):
            return thread
    return None


def _continued_answer(message: ChatMessage, recent: list[Thread]) -> Thread | None:
    """A second message by the same expert right after the first continues that answer."""
    for thread in reversed(recent):
        if thread.answers and thread.answers[-1].sender == message.sender:
            if message.ts - thread.answers[-1].ts <= timedelta(minutes=10) and thread.confirmation is None:
                return thread
    return None
