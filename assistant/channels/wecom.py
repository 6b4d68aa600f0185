"""WeCom (企业微信) callbacks in, Markdown out through the app message API.

GET with ``msg_signature``, ``timestamp``, ``nonce`` and ``echostr`` verifies the URL: the decrypted echostr is
the answer. POST carries the same query and an XML body whose ``Encrypt`` holds the message XML. Group
messages (those with a ``ChatId``) are answered with ``appchat/send``, direct ones with ``message/send``.
"""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from typing import Any

from assistant.channels.base import (
    ChannelAdapter,
    Handshake,
    IncomingMessage,
    OutgoingReply,
    RawCallback,
    Sent,
)
from assistant.channels.crypto import WeComCrypto, check_fresh
from assistant.channels.errors import (
    ChannelNotConfiguredError,
    ChannelSendError,
    PayloadError,
    SignatureError,
)
from assistant.channels.http import ChannelHttp
from erp_assist.settings import Settings

__all__ = ["WeComAdapter"]

_TOKEN_MARGIN_S = 300
_EXPIRED_TOKEN = frozenset({40014, 42001})


class WeComAdapter(ChannelAdapter):
    name = "wecom"

    def __init__(self, settings: Settings, http: ChannelHttp | None = None) -> None:
        super().__init__(settings, http)
        self._token: tuple[str, float] | None = None
        self._token_lock = threading.Lock()
        self.crypto = WeComCrypto(settings.wecom_token or "", settings.wecom_encoding_aes_key or "A" * 43,
                                  settings.wecom_corp_id or "")

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return bool(settings.wecom_token and settings.wecom_encoding_aes_key and settings.wecom_corp_id)

    def receive(self, callback: RawCallback, *, now: float) -> Handshake | list[IncomingMessage]:
        if not self.configured(self.settings):
            raise ChannelNotConfiguredError("wecom_token / wecom_encoding_aes_key / wecom_corp_id are not set")
        query = callback.query
        timestamp, nonce = query.get("timestamp"), query.get("nonce")
        if not query.get("msg_signature"):
            raise SignatureError("missing msg_signature")
        check_fresh(timestamp, now, self.settings.channel_max_clock_skew_seconds)
        if callback.method == "GET":
            echo = query.get("echostr") or ""
            self.crypto.verify(query.get("msg_signature"), timestamp, nonce, echo)
            return Handshake(self.crypto.decrypt(echo), media_type="text/plain")
        try:
            encrypted = _xml(callback.body).findtext("Encrypt") or ""
        except PayloadError as exc:
            raise SignatureError("no signed Encrypt element in the body") from exc
        self.crypto.verify(query.get("msg_signature"), timestamp, nonce, encrypted)
        message = _xml(self.crypto.decrypt(encrypted).encode("utf-8"))
        if message.findtext("MsgType") != "text":
            return []  # events (enter chat, menu clicks), pictures, voice
        try:
            user_id = message.findtext("From/UserId") or message.findtext("FromUserName") or ""
            chat_id = message.findtext("ChatId") or ""
            raw = message.findtext("Text/Content") or message.findtext("Content") or ""
            msg_id = message.findtext("MsgId") or ""
            created = float(message.findtext("CreateTime") or now)
        except ValueError as exc:
            raise PayloadError(f"not a WeCom text message: {exc}") from exc
        if not (user_id and msg_id):
            raise PayloadError("WeCom message without FromUserName or MsgId")
        text, named = self.strip_bot_mention(raw)
        return [IncomingMessage(
            platform=self.name, msg_id=msg_id, chat_id=chat_id or user_id, group=self.group_name(chat_id or user_id),
            sender=self.sender_name(user_id, name=message.findtext("From/Name")), sender_id=user_id, text=text,
            ts=self.local_time(created), mentions_bot=named or not chat_id,
            reply_context={"chat_id": chat_id} if chat_id else {"user_id": user_id},
        )]

    def acknowledge(self) -> Handshake:
        return Handshake("success", media_type="text/plain")

    # Sending ------------------------------------------------------------------------------------------

    def mention(self, user_id: str) -> str:
        return f"<@{user_id}>"

    def _base(self) -> str:
        return self.settings.wecom_api_base.rstrip("/")

    def access_token(self, *, renew: bool = False) -> str:
        if not (self.settings.wecom_corp_id and self.settings.wecom_corp_secret):
            raise ChannelNotConfiguredError("wecom_corp_id / wecom_corp_secret are not set; the bot cannot send")
        with self._token_lock:
            if self._token and self._token[1] > time.time() and not renew:
                return self._token[0]
            answer = self.http.request("GET", f"{self._base()}/cgi-bin/gettoken",
                                       params={"corpid": self.settings.wecom_corp_id,
                                               "corpsecret": self.settings.wecom_corp_secret})
            if answer.get("errcode", 0) != 0 or not answer.get("access_token"):
                raise ChannelSendError(f"WeCom refused the app secret: {answer.get('errcode')} {answer.get('errmsg')}")
            self._token = (str(answer["access_token"]), time.time() + int(answer.get("expires_in", 7200)) - _TOKEN_MARGIN_S)
            return self._token[0]

    def _markdown(self, reply: OutgoingReply) -> str:
        return f"### {reply.title}\n{reply.markdown}"

    def _send(self, path: str, body: dict[str, Any]) -> Sent:
        answer: dict[str, Any] = {}
        for renew in (False, True):
            answer = self.http.request("POST", f"{self._base()}{path}", json=body,
                                       params={"access_token": self.access_token(renew=renew)})
            if answer.get("errcode", 0) not in _EXPIRED_TOKEN:
                break
        if answer.get("errcode", 0) != 0:
            raise ChannelSendError(f"WeCom refused the message: {answer.get('errcode')} {answer.get('errmsg')}")
        return Sent(answer.get("msgid"))

    def reply(self, message: IncomingMessage, reply: OutgoingReply) -> Sent:
        if "chat_id" in message.reply_context:
            return self.post(message.reply_context["chat_id"], reply)
        if self.settings.wecom_agent_id is None:
            raise ChannelNotConfiguredError("wecom_agent_id is not set; the bot cannot answer direct messages")
        return self._send("/cgi-bin/message/send", {
            "touser": message.reply_context["user_id"], "msgtype": "markdown", "agentid": self.settings.wecom_agent_id,
            "markdown": {"content": self._markdown(reply)},
        })

    def post(self, target: str, reply: OutgoingReply) -> Sent:
        if not target:
            raise ValueError("posting to WeCom needs a group chat id (chatid) as target")
        return self._send("/cgi-bin/appchat/send", {"chatid": target, "msgtype": "markdown",
                                                     "markdown": {"content": self._markdown(reply)}, "safe": 0})


def _xml(raw: bytes) -> ET.Element:
    """Parse a small XML document; a DOCTYPE (entity declarations) is refused outright."""
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise PayloadError("XML with a DOCTYPE is not accepted")
    try:
        return ET.fromstring(raw)
    except ET.ParseError as exc:
        raise PayloadError(f"body is not XML: {exc}") from exc
