"""Chat channels: the assistant answers where the ERP group already talks (DingTalk, Feishu, WeCom).

One adapter per platform behind ``ChannelAdapter`` verifies and parses callbacks and sends replies;
``ChannelService`` decides what a message means (question, expert review, history) the same way for all.
``compose_answer`` turns a result into the messages one platform takes (its size limit); ``split_reply`` cuts
any other reply the same way. DingTalk Stream and the Feishu long connection are in ``longconn``.
"""

from assistant.channels.base import (
    ChannelAdapter,
    Handshake,
    IncomingMessage,
    OutgoingReply,
    RawCallback,
    Sent,
)
from assistant.channels.dingtalk import DingTalkAdapter
from assistant.channels.errors import (
    ChannelError,
    ChannelNotConfiguredError,
    ChannelSendError,
    PayloadError,
    SignatureError,
)
from assistant.channels.feishu import FeishuAdapter
from assistant.channels.history import ChatHistory
from assistant.channels.http import ChannelHttp
from assistant.channels.messages import Command, compose_answer, parse_command, split_reply
from assistant.channels.service import ADAPTERS, ChannelService, Delivery, Outcome, make_adapter
from assistant.channels.wecom import WeComAdapter

__all__ = [
    "ADAPTERS",
    "ChannelAdapter",
    "ChannelError",
    "ChannelHttp",
    "ChannelNotConfiguredError",
    "ChannelSendError",
    "ChannelService",
    "ChatHistory",
    "Command",
    "Delivery",
    "DingTalkAdapter",
    "FeishuAdapter",
    "Handshake",
    "IncomingMessage",
    "Outcome",
    "OutgoingReply",
    "PayloadError",
    "RawCallback",
    "Sent",
    "SignatureError",
    "WeComAdapter",
    "compose_answer",
    "make_adapter",
    "parse_command",
    "split_reply",
]
