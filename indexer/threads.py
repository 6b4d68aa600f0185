"""Reconstruct question/answer threads from an interleaved group-chat stream.

Links are trusted in order of strength: an explicit reply/quote, then an @mention of the asker, then a
time window. An answer is an expert's message, or a peer's message the asker confirmed ("好了", "解决了",
"谢谢"). Greetings, stickers, "收到" and system notices are noise and never become knowledge.

Three patterns of real groups are handled explicitly: an expert's holding reply ("我再看看", "我查查")
is kept on the thread but does not resolve it; the asker replying to an answer with a further question
stays in the same thread; a colleague's "我这边也是" joins the open thread instead of opening a new one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from erp_assist.domain import Document, SourceType
from indexer.text import strip_chat_markup

__all__ = ["ChatMessage", "Thread", "ThreadReport", "build_threads", "is_holding_reply", "is_noise"]

ROLES = ("asker", "expert", "bot")
_ACK = (r"收到|好的|好滴|好|ok|okay|嗯+|哦+|早|早上好|大家好|中午好|下午好|晚上好|在吗|在|\+1|1|哈+|呵+|"
        r"辛苦了?|辛苦辛苦|麻烦了|麻烦你了|麻烦您了|欢迎|👍+|🙏+|\[[^\]]{1,6}\]")
# One or more acknowledgements ("好的 收到", "欢迎欢迎", "好的麻烦了"); thanks are not noise, they confirm.
_NOISE = re.compile(rf"^(?:(?:{_ACK})[,，!！。.~～\s]*)+$", re.IGNORECASE)
# An expert saying they will look into it has not answered yet.
_HOLDING = re.compile(r"(我再看看|我看看|我看一下|我看下|我查查|我查一下|我查下|我确认一下|我问问|稍等|等我|"
                      r"回头(?:再)?(?:看|查|回复)|晚点(?:回复|看)|我研究一下|我跟进)")
_HOLDING_MAX_CHARS = 50
# The asker pushing an unanswered question.
_NUDGE = re.compile(r"^(?:有人吗|有人在吗|有人知道吗|在吗|顶一下|顶)")
_NUDGE_MAX_CHARS = 20
# A colleague reporting the same problem joins the open thread.
_ME_TOO = re.compile(r"^(?:我这边也|我们这边也|我这也|我也是|我也遇到|我们也|这边也|同样的问题|同问|也出现了)")
_CONFIRM = re.compile(r"(好了|可以了|解决了|搞定|成功了|没问题了|ok了|正常了|明白了|懂了|谢谢|感谢|多谢|thx|thanks)", re.I)
_QUESTION = re.compile(
    r"(【问题】|[?？]|怎么|如何|为什么|为啥|吗|报错|提示|无法|不能|不了|失败|求助|请问|在哪|哪里|急|卡住|异常|不对|不一致)"
)
_MENTION = re.compile(r"@([^\s@，,:：(（]{1,20})")
# The whole mention, with the "(部门)" suffix of group nicknames: "@何芳(薪酬专员) " is not answer text.
_MENTION_FULL = re.compile(r"@[^\s@，,:：(（]{1,20}(?:[(（][^)）\s]{0,20}[)）])?")


def is_noise(text: str) -> bool:
    """Greetings, acknowledgements, stickers and placeholders that carry no knowledge."""
    stripped = strip_chat_markup(text).strip()
    return not stripped or bool(_NOISE.match(text.strip()) or _NOISE.match(stripped))


def is_holding_reply(text: str) -> bool:
    """"我再看看" and friends: a promise to answer, not an answer."""
    return bool(_HOLDING.search(text)) and len(_clean(text)) <= _HOLDING_MAX_CHARS


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
    # Experts' holding replies ("我再看看"): part of the conversation, never the answer.
    interim: list[ChatMessage] = field(default_factory=list)

    @property
    def last_ts(self) -> datetime:
        times = [self.question.ts] + [m.ts for m in self.follow_ups + self.answers + self.interim]
        return max(times)

    @property
    def expert_answers(self) -> list[ChatMessage]:
        return [m for m in self.answers if m.role == "expert"]

    @property
    def resolved(self) -> bool:
        return bool(self.expert_answers) or (bool(self.answers) and self.confirmation is not None)

    @property
    def message_ids(self) -> list[str]:
        rest = sorted(self.follow_ups + self.answers + self.interim, key=lambda m: m.ts)
        ids = [self.question.msg_id] + [m.msg_id for m in rest]
        if self.confirmation:
            ids.append(self.confirmation.msg_id)
        return ids

    def contains(self, msg_id: str) -> bool:
        return msg_id in self.message_ids

    def to_document(self) -> Document:
        """One resolved thread as one Q/A unit linking back to its messages."""
        answers = self.expert_answers or self.answers
        question = "\n".join(_clean(m.text) for m in [self.question, *self.follow_ups])
        answer = "\n".join(_MENTION_FULL.sub("", m.text).strip() for m in answers)
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
                # With no question waiting, an unlinked expert message is news on their own open thread
                # ("已恢复…" half an hour after "接口已暂停…").
                thread = unanswered[-1] if unanswered else _last_answered_by(message.sender, recent)
            if thread is not None:
                attach(thread, message, "interim" if is_holding_reply(message.text) else "answers")
            continue
        own = [t for t in recent if t.question.sender == message.sender]
        if not own and _NUDGE.match(_clean(message.text)) and len(_clean(message.text)) <= _NUDGE_MAX_CHARS:
            # "有人吗 这个很影响开票" hours later still belongs to the asker's unanswered question.
            own = [t for t in threads if t.question.sender == message.sender and not t.answers]
        target = replied or (own[-1] if own else None)
        if target is not None and target.question.sender == message.sender:
            if target.answers and _CONFIRM.search(message.text):
                target.confirmation = message
                by_msg[message.msg_id] = target
            elif not _starts_new_question(message) and (not target.answers or replied is target):
                # Before any answer everything the asker adds is detail; after one, only an explicit reply
                # to the thread ("核销了，那以后能自动核销吗？") stays in it.
                attach(target, message, "follow_ups")
            elif _QUESTION.search(message.text):
                thread = Thread(question=message)
                threads.append(thread)
                by_msg[message.msg_id] = thread
            continue
        if replied is not None:
            # A colleague answering someone else's question: counts once the asker confirms it.
            attach(replied, message, "answers")
        elif recent and _ME_TOO.match(_clean(message.text)):
            attach(recent[-1], message, "follow_ups")
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


def _last_answered_by(sender: str, recent: list[Thread]) -> Thread | None:
    for thread in reversed(recent):
        if any(m.sender == sender for m in thread.answers):
            return thread
    return None


def _continued_answer(message: ChatMessage, recent: list[Thread]) -> Thread | None:
    """A second message by the same expert right after the first continues that answer."""
    for thread in reversed(recent):
        if thread.answers and thread.answers[-1].sender == message.sender:
            if message.ts - thread.answers[-1].ts <= timedelta(minutes=10) and thread.confirmation is None:
                return thread
    return None
