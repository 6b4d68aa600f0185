"""WeCom (企业微信) in two modes on one callback URL, told apart by their signatures and message shapes.

* **Group robot (群机器人)**: the robot's callback carries what is said to it in ordinary groups (an @-mention)
  and in its one-to-one chats. The message XML has ``WebhookUrl``, ``ChatId``, ``ChatType`` (group / single),
  ``From/UserId``, ``From/Name``, ``MsgType`` and ``Text/Content``; it is encrypted with the robot's own Token
  and EncodingAESKey and an empty receive id, and is answered by POSTing Markdown to its ``WebhookUrl`` with
  the ``chatid``.
* **App (自建应用)**: the app's callback carries only what users send to the app one to one
  (``FromUserName``, ``Content``, ``MsgId``, ``AgentID``; receive id = the corp id); answered with
  ``message/send``. The app also sends P1 alerts to the expert on duty and posts digests with ``appchat/send``.

GET with ``msg_signature``, ``timestamp``, ``nonce`` and ``echostr`` verifies the URL: the decrypted echostr is
the answer. POST carries the same query and an XML body whose ``Encrypt`` holds the message XML.
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
        # (mode, crypto) of each configured receiver; the signature says which one a callback is for.
        self.receivers: list[tuple[str, WeComCrypto]] = []
        if _app_configured(settings):
            self.receivers.append(("app", WeComCrypto(settings.wecom_token or "", settings.wecom_encoding_aes_key or "",
                                                      settings.wecom_corp_id or "")))
        if _robot_configured(settings):
            self.receivers.append(("robot", WeComCrypto(settings.wecom_robot_token or "",
                                                        settings.wecom_robot_encoding_aes_key or "", "")))

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return _app_configured(settings) or _robot_configured(settings)

    def _open(self, signature: str | None, timestamp: str | None, nonce: str | None,
              encrypted: str) -> tuple[str, str]:
        """(mode, plaintext) of ``encrypted`` from the first receiver whose signature and receive id it carries."""
        problem: Exception = SignatureError("bad msg_signature")
        for mode, crypto in self.receivers:
            try:
                crypto.verify(signature, timestamp, nonce, encrypted)
                return mode, crypto.decrypt(encrypted)
            except (SignatureError, PayloadError) as exc:
                # An app and a robot may share a Token: then the AES key or the receive id tells them apart.
                problem = exc if isinstance(problem, SignatureError) else problem
                continue
        raise problem

    def receive(self, callback: RawCallback, *, now: float) -> Handshake | list[IncomingMessage]:
        if not self.receivers:
            raise ChannelNotConfiguredError("neither wecom_token / wecom_encoding_aes_key / wecom_corp_id (app) nor "
                                            "wecom_robot_token / wecom_robot_encoding_aes_key (group robot) are set")
        query = callback.query
        timestamp, nonce = query.get("timestamp"), query.get("nonce")
        if not query.get("msg_signature"):
            raise SignatureError("missing msg_signature")
        check_fresh(timestamp, now, self.settings.channel_max_clock_skew_seconds)
        if callback.method == "GET":
            echo = query.get("echostr") or ""
            _, plain = self._open(query.get("msg_signature"), timestamp, nonce, echo)
            return Handshake(plain, media_type="text/plain")
        try:
            encrypted = _xml(callback.body).findtext("Encrypt") or ""
        except PayloadError as exc:
            raise SignatureError("no signed Encrypt element in the body") from exc
        mode, plain = self._open(query.get("msg_signature"), timestamp, nonce, encrypted)
        message = _xml(plain.encode("utf-8"))
        try:
            if mode == "robot":
                return self._robot_message(message, now)
            return self._app_message(message, now)
        except ValueError as exc:
            raise PayloadError(f"not a WeCom text message: {exc}") from exc

    def _robot_message(self, message: ET.Element, now: float) -> list[IncomingMessage]:
        kind = _text(message, "MsgType")
        if kind == "text":
            raw = _text(message, "Text/Content")
        elif kind == "mixed":  # text and pictures: the text parts
            raw = "\n".join(_text(item, "Text/Content") for item in message.findall("MixedMessage/MsgItem")
                            if _text(item, "MsgType") == "text")
        else:
            return []  # events (added to a group, chat entered), button clicks, pictures
        user_id, chat_id, msg_id = _text(message, "From/UserId"), _text(message, "ChatId"), _text(message, "MsgId")
        webhook = _text(message, "WebhookUrl")
        if not (user_id and chat_id and msg_id and webhook):
            raise PayloadError("WeCom robot message without From/UserId, ChatId, MsgId or WebhookUrl")
        text, _ = self.strip_bot_mention(raw)
        return [IncomingMessage(
            platform=self.name, msg_id=msg_id, chat_id=chat_id, group=self.group_name(chat_id),
            sender=self.sender_name(user_id, name=_text(message, "From/Name")), sender_id=user_id, text=text,
            ts=self.local_time(now),  # robot messages carry no time of their own
            mentions_bot=True,  # a robot hears a group only when @-mentioned
            reply_context={"webhook_url": webhook, "chat_id": chat_id}, direct=_text(message, "ChatType") == "single",
        )]

    def _app_message(self, message: ET.Element, now: float) -> list[IncomingMessage]:
        if _text(message, "MsgType") != "text":
            return []  # events (enter chat, menu clicks), pictures, voice
        user_id, msg_id = _text(message, "FromUserName"), _text(message, "MsgId")
        if not (user_id and msg_id):
            raise PayloadError("WeCom app message without FromUserName or MsgId")
        text, _ = self.strip_bot_mention(_text(message, "Content"))
        return [IncomingMessage(
            platform=self.name, msg_id=msg_id, chat_id=user_id, group=self.group_name(user_id),
            sender=self.sender_name(user_id), sender_id=user_id, text=text,
            ts=self.local_time(float(_text(message, "CreateTime") or now)), mentions_bot=True,
            reply_context={"user_id": user_id}, direct=True,
        )]

    def acknowledge(self) -> Handshake:
        # An empty 200: "no passive reply" for apps and robots alike (answers go out through the APIs; a robot
        # would read any other body as an encrypted passive reply).
        return Handshake("", media_type="text/plain")

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

    def size(self, reply: OutgoingReply) -> int:
        return len(self._markdown(reply).encode("utf-8"))

    def _webhook_allowed(self, url: str) -> bool:
        prefixes = [*self.settings.wecom_webhook_prefixes, f"{self._base()}/cgi-bin/webhook/"]
        return any(url.startswith(prefix) for prefix in prefixes)

    def reply(self, message: IncomingMessage, reply: OutgoingReply) -> Sent:
        webhook = message.reply_context.get("webhook_url")
        if webhook is not None:
            if not self._webhook_allowed(webhook):
                raise ChannelSendError(f"the robot WebhookUrl {webhook.split('?', 1)[0]} is not a WeCom webhook; "
                                       "see wecom_webhook_prefixes")
            answer = self.http.request("POST", webhook, json={
                "chatid": message.reply_context["chat_id"], "msgtype": "markdown",
                "markdown": {"content": self._markdown(reply)}})
            if answer.get("errcode", 0) != 0:
                raise ChannelSendError(f"WeCom refused the message: {answer.get('errcode')} {answer.get('errmsg')}")
            return Sent(None)
        return self.direct(message.reply_context["user_id"], reply)

    def sends_direct(self) -> bool:
        return bool(self.settings.wecom_agent_id is not None and self.settings.wecom_corp_secret)

    def direct(self, user_id: str, reply: OutgoingReply) -> Sent:
        """A message from the app to one user (``message/send``)."""
        if self.settings.wecom_agent_id is None:
            raise ChannelNotConfiguredError("wecom_agent_id is not set; the app cannot send direct messages")
        return self._send("/cgi-bin/message/send", {
            "touser": user_id, "msgtype": "markdown", "agentid": self.settings.wecom_agent_id,
            "markdown": {"content": self._markdown(reply)},
        })

    def post(self, target: str, reply: OutgoingReply) -> Sent:
        if not target:
            raise ValueError("posting to WeCom needs a group chat id (chatid) as target")
        return self._send("/cgi-bin/appchat/send", {"chatid": target, "msgtype": "markdown",
                                                     "markdown": {"content": self._markdown(reply)}, "safe": 0})


def _app_configured(settings: Settings) -> bool:
    return bool(settings.wecom_token and settings.wecom_encoding_aes_key and settings.wecom_corp_id)


def _robot_configured(settings: Settings) -> bool:
    return bool(settings.wecom_robot_token and settings.wecom_robot_encoding_aes_key)


def _text(element: ET.Element, path: str) -> str:
    return (element.findtext(path) or "").strip()


def _xml(raw: bytes) -> ET.Element:
    """Parse a small XML document; a DOCTYPE (entity declarations) is refused outright."""
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise PayloadError("XML with a DOCTYPE is not accepted")
    try:
        return ET.fromstring(raw)
    except ET.ParseError as exc:
        raise PayloadError(f"body is not XML: {exc}") from exc
