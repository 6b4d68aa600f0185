"""DingTalk (钉钉) group robot: outgoing callbacks (HTTP mode) or Stream frames in, Markdown replies through the
session webhook out. Stream mode (``dingtalk_mode=stream``) is in ``assistant.channels.longconn``.

A callback carries headers ``timestamp`` (ms) and ``sign`` = Base64(HMAC-SHA256(AppSecret, timestamp + "\\n" +
AppSecret)). The reply goes to the callback's ``sessionWebhook`` (only when it lies under
``dingtalk_api_base``: the bot posts nowhere else), or to the group robot webhook, whose URL is signed with
the robot's 加签 secret the same way.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from assistant.channels.base import (
    ChannelAdapter,
    Handshake,
    IncomingMessage,
    OutgoingReply,
    RawCallback,
    Sent,
)
from assistant.channels.crypto import check_fresh, dingtalk_sign, same
from assistant.channels.errors import (
    ChannelNotConfiguredError,
    ChannelSendError,
    PayloadError,
    SignatureError,
)
from assistant.channels.http import ChannelHttp
from erp_assist.settings import Settings

__all__ = ["DingTalkAdapter"]


class DingTalkAdapter(ChannelAdapter):
    name = "dingtalk"

    def __init__(self, settings: Settings, http: ChannelHttp | None = None) -> None:
        super().__init__(settings, http)
        self._token: tuple[str, float] | None = None
        self._token_lock = threading.Lock()

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return bool(settings.dingtalk_app_secret)

    def receive(self, callback: RawCallback, *, now: float) -> Handshake | list[IncomingMessage]:
        secret = self.settings.dingtalk_app_secret
        if not secret or self.settings.dingtalk_mode != "http":
            raise ChannelNotConfiguredError("dingtalk_app_secret is not set, or dingtalk_mode is not http")
        timestamp = callback.headers.get("timestamp")
        check_fresh(timestamp, now, self.settings.channel_max_clock_skew_seconds, millis=True)
        if not same(callback.headers.get("sign"), dingtalk_sign(secret, timestamp or "")):
            raise SignatureError("bad sign")
        try:
            data = json.loads(callback.body)
        except ValueError as exc:
            raise PayloadError(f"not a DingTalk robot message: {exc}") from exc
        return self.parse(data, now=now)

    def parse(self, data: Any, *, now: float) -> list[IncomingMessage]:
        """The robot message in a verified callback body, or in a Stream frame's data (``ChatbotMessage``)."""
        try:
            if not isinstance(data, dict):
                raise TypeError("not an object")
            if data.get("msgtype") != "text":
                return []  # pictures, files, rich text: nothing to answer
            raw_text = str(data["text"]["content"])
            chat_id = str(data["conversationId"])
            msg_id = str(data["msgId"])
            created = int(data.get("createAt") or now * 1000) / 1000
        except (ValueError, KeyError, TypeError) as exc:
            raise PayloadError(f"not a DingTalk robot message: {exc}") from exc
        text, named = self.strip_bot_mention(raw_text)
        # A quote (引用) carries the quoted message: its id, which DingTalk never told us for our own answers
        # (sendBySession returns none), and its content, where every bot answer names its question.
        replied = data["text"].get("repliedMsg") if isinstance(data["text"], dict) else None
        reply_to = str(replied["msgId"]) if isinstance(replied, dict) and replied.get("msgId") else None
        quoted = "\n".join(_strings(replied.get("content"))) if isinstance(replied, dict) else None
        context = {}
        if data.get("sessionWebhook"):
            context["session_webhook"] = str(data["sessionWebhook"])
            context["expires_ms"] = str(data.get("sessionWebhookExpiredTime") or "")
        sender_id = str(data.get("senderStaffId") or data.get("senderId") or "")
        return [IncomingMessage(
            platform=self.name, msg_id=msg_id, chat_id=chat_id,
            group=self.group_name(chat_id, data.get("conversationTitle")),
            sender=self.sender_name(sender_id, name=data.get("senderNick")), sender_id=sender_id, text=text,
            ts=self.local_time(created), mentions_bot=bool(data.get("isInAtList", True)) or named,
            reply_to=reply_to, reply_context=context, direct=str(data.get("conversationType")) == "1",
            quoted_text=quoted or None,
        )]

    def mention(self, user_id: str) -> str:
        return f"@{user_id}"

    def render(self, reply: OutgoingReply) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"title": reply.title, "text": reply.markdown},
                "at": {"atUserIds": list(reply.mention_user_ids), "isAtAll": False}}

    def size(self, reply: OutgoingReply) -> int:
        return len(json.dumps(self.render(reply), ensure_ascii=False).encode("utf-8"))

    def reply(self, message: IncomingMessage, reply: OutgoingReply) -> Sent:
        webhook = message.reply_context.get("session_webhook", "")
        expires = message.reply_context.get("expires_ms", "")
        fresh = not expires.isdigit() or int(expires) > time.time() * 1000
        if webhook.startswith(self.settings.dingtalk_api_base.rstrip("/") + "/") and fresh:
            return self._send(webhook, None, reply)
        return self.post("", reply)

    def sends_direct(self) -> bool:
        return bool(self.settings.dingtalk_app_key and self.settings.dingtalk_app_secret)

    def _openapi_token(self) -> str:
        """The app's accessToken for api.dingtalk.com, fetched once and reused until shortly before it expires."""
        with self._token_lock:
            if self._token and self._token[1] > time.time():
                return self._token[0]
            answer = self.http.request("POST", f"{self._openapi()}/v1.0/oauth2/accessToken",
                                       json={"appKey": self.settings.dingtalk_app_key,
                                             "appSecret": self.settings.dingtalk_app_secret})
            if not answer.get("accessToken"):
                raise ChannelSendError(f"DingTalk refused the app key: {answer.get('code')} {answer.get('message')}")
            self._token = (str(answer["accessToken"]), time.time() + int(answer.get("expireIn", 7200)) - 300)
            return self._token[0]

    def _openapi(self) -> str:
        return self.settings.dingtalk_openapi_base.rstrip("/")

    def direct(self, user_id: str, reply: OutgoingReply) -> Sent:
        """A robot message to one user (robot/oToMessages/batchSend; robotCode = the app key)."""
        if not self.sends_direct():
            raise ChannelNotConfiguredError("dingtalk_app_key / dingtalk_app_secret are not set; the robot cannot "
                                            "write to one user")
        answer = self.http.request(
            "POST", f"{self._openapi()}/v1.0/robot/oToMessages/batchSend",
            headers={"x-acs-dingtalk-access-token": self._openapi_token()},
            json={"robotCode": self.settings.dingtalk_app_key, "userIds": [user_id], "msgKey": "sampleMarkdown",
                  "msgParam": json.dumps({"title": reply.title, "text": reply.markdown}, ensure_ascii=False)})
        if user_id in (answer.get("invalidStaffIdList") or []) or not answer.get("processQueryKey"):
            raise ChannelSendError(f"DingTalk did not deliver to {user_id}: {answer}")
        return Sent(str(answer["processQueryKey"]))

    def post(self, target: str, reply: OutgoingReply) -> Sent:
        """Through the group robot webhook (``dingtalk_robot_token``, signed with ``dingtalk_robot_secret``)."""
        token = target or self.settings.dingtalk_robot_token
        if not token:
            raise ChannelNotConfiguredError("dingtalk_robot_token is not set; the robot webhook is unknown")
        params = {"access_token": token}
        if self.settings.dingtalk_robot_secret:
            timestamp = str(int(time.time() * 1000))
            params |= {"timestamp": timestamp, "sign": dingtalk_sign(self.settings.dingtalk_robot_secret, timestamp)}
        return self._send(f"{self.settings.dingtalk_api_base.rstrip('/')}/robot/send", params, reply)

    def _send(self, url: str, params: dict[str, str] | None, reply: OutgoingReply) -> Sent:
        answer = self.http.request("POST", url, params=params, json=self.render(reply))
        if answer.get("errcode", 0) != 0:
            raise ChannelSendError(f"DingTalk refused the message: {answer.get('errcode')} {answer.get('errmsg')}")
        return Sent(None)


def _strings(value: Any) -> list[str]:
    """Every string inside a JSON value (a quoted message's content: text, markdown title and text...)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
