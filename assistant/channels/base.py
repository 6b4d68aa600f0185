"""What every platform adapter speaks: the raw callback in, typed messages out, one reply shape back."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from assistant.channels.errors import ChannelNotConfiguredError
from assistant.channels.http import ChannelHttp
from erp_assist.settings import Settings

__all__ = ["ChannelAdapter", "Handshake", "IncomingMessage", "OutgoingReply", "RawCallback", "Sent"]


@dataclass(frozen=True)
class RawCallback:
    """An HTTP callback as received, before anything is trusted. Header names are lower case."""

    method: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Handshake:
    """The answer to a URL verification (challenge / echostr): sent back as is, nothing else is processed."""

    body: str | dict[str, Any]
    media_type: str = "application/json"


@dataclass(frozen=True)
class IncomingMessage:
    """One verified group message, whatever the platform."""

    platform: str
    msg_id: str
    chat_id: str
    group: str  # the group's name in the store and the chat history
    sender: str  # display name (or the user id when no name is known)
    sender_id: str
    text: str  # the bot's own @-mention removed
    ts: datetime
    mentions_bot: bool
    reply_to: str | None = None  # platform id of the message this one replies to or quotes
    reply_context: Mapping[str, str] = field(default_factory=dict)  # where an answer must go
    direct: bool = False  # a one-to-one chat with the bot, not a group
    quoted_text: str | None = None  # the text of the message this one quotes, where the platform sends it


@dataclass(frozen=True)
class OutgoingReply:
    """A platform-neutral reply: a title and a Markdown body, optionally @-mentioning some users."""

    title: str
    markdown: str
    mention_user_ids: tuple[str, ...] = ()
    urgent: bool = False


@dataclass(frozen=True)
class Sent:
    """What the platform answered to a send: the new message's id when it tells."""

    msg_id: str | None = None


class ChannelAdapter(ABC):
    """One chat platform: verify and parse its callbacks, render and send replies in its format."""

    name: ClassVar[str]

    def __init__(self, settings: Settings, http: ChannelHttp | None = None) -> None:
        self.settings = settings
        self.http = http or ChannelHttp.from_settings(settings)
        self.tz = timezone(timedelta(hours=settings.chat_utc_offset_hours))

    @classmethod
    @abstractmethod
    def configured(cls, settings: Settings) -> bool:
        """Whether the secrets needed to verify this platform's callbacks are set."""

    @abstractmethod
    def receive(self, callback: RawCallback, *, now: float) -> Handshake | list[IncomingMessage]:
        """Verify ``callback`` (``SignatureError`` when it is not the platform's, or stale) and parse it."""

    @abstractmethod
    def reply(self, message: IncomingMessage, reply: OutgoingReply) -> Sent:
        """Answer ``message`` in its chat."""

    @abstractmethod
    def post(self, target: str, reply: OutgoingReply) -> Sent:
        """Post ``reply`` to a chat (a digest); ``target`` is the platform's chat id."""

    @abstractmethod
    def mention(self, user_id: str) -> str:
        """The platform's Markdown for an @-mention of ``user_id``."""

    def sends_direct(self) -> bool:
        """Whether ``direct`` can reach a user with the configured credentials."""
        return False

    def direct(self, user_id: str, reply: OutgoingReply) -> Sent:
        """Send ``reply`` to one user in a one-to-one chat (P1 alerts for the expert on duty)."""
        raise ChannelNotConfiguredError(f"the {self.name} channel cannot send direct messages")

    def acknowledge(self) -> Handshake:
        """The HTTP answer to a processed callback."""
        return Handshake({})

    # Size limits ---------------------------------------------------------------------------------------

    @property
    def max_bytes(self) -> int:
        """The platform's limit on one message, in the unit ``size`` counts (0: none known)."""
        return self.settings.channel_reply_max_bytes.get(self.name, 0)

    def size(self, reply: OutgoingReply) -> int:
        """Bytes of ``reply`` as the platform counts them against ``max_bytes``."""
        return len(reply.markdown.encode("utf-8"))

    def fits(self, reply: OutgoingReply) -> bool:
        return not self.max_bytes or self.size(reply) <= self.max_bytes

    # Helpers shared by the adapters -------------------------------------------------------------------

    def group_name(self, chat_id: str, title: str | None = None) -> str:
        return self.settings.channel_group_names.get(chat_id) or (title or "").strip() or chat_id

    def sender_name(self, *ids: str | None, name: str | None = None) -> str:
        names = self.settings.chat_sender_names
        for user_id in ids:
            if user_id and user_id in names:
                return names[user_id]
        return (name or "").strip() or next((i for i in ids if i), "unknown")

    def local_time(self, seconds: float) -> datetime:
        return datetime.fromtimestamp(seconds, self.tz)

    def strip_bot_mention(self, text: str) -> tuple[str, bool]:
        """``text`` without "@<bot name>", and whether it was there."""
        pattern = re.compile(r"@" + re.escape(self.settings.channel_bot_name) + r"(?:\s|\u2005|$)?")
        cleaned, count = pattern.subn(" ", text)
        return re.sub(r"[ \t\u2005]+", " ", cleaned).strip(), count > 0
