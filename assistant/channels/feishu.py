"""Feishu (飞书) event subscription in, interactive-card replies through the reply-message API out.

Verification, in the order Feishu documents it: with an Encrypt Key the request carries
``X-Lark-Request-Timestamp``, ``X-Lark-Request-Nonce`` and ``X-Lark-Signature`` = sha256(timestamp + nonce +
encrypt_key + body), and the body is ``{"encrypt": ...}`` (AES-256-CBC under SHA-256(encrypt_key)); every
event, encrypted or not, carries the Verification Token (v2: ``header.token``, v1: ``token``). The
``url_verification`` handshake echoes ``challenge`` once its token is right.
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
from assistant.channels.crypto import check_fresh, feishu_decrypt, feishu_signature, same
from assistant.channels.errors import (
    ChannelNotConfiguredError,
    ChannelSendError,
    PayloadError,
    SignatureError,
)
from assistant.channels.http import ChannelHttp
from erp_assist.settings import Settings

__all__ = ["FeishuAdapter"]

_TOKEN_MARGIN_S = 300


class FeishuAdapter(ChannelAdapter):
    name = "feishu"

    def __init__(self, settings: Settings, http: ChannelHttp | None = None) -> None:
        super().__init__(settings, http)
        self._token: tuple[str, float] | None = None
        self._token_lock = threading.Lock()

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        long_connection = settings.feishu_mode == "websocket" and settings.feishu_app_id and settings.feishu_app_secret
        return bool(settings.feishu_verification_token or long_connection)

    # Receiving ----------------------------------------------------------------------------------------

    def receive(self, callback: RawCallback, *, now: float) -> Handshake | list[IncomingMessage]:
        token = self.settings.feishu_verification_token
        if not token or self.settings.feishu_mode != "http":
            raise ChannelNotConfiguredError("feishu_verification_token is not set, or feishu_mode is not http")
        key = self.settings.feishu_encrypt_key
        signature = callback.headers.get("x-lark-signature")
        if key and signature is not None:
            timestamp = callback.headers.get("x-lark-request-timestamp")
            check_fresh(timestamp, now, self.settings.channel_max_clock_skew_seconds)
            expected = feishu_signature(timestamp or "", callback.headers.get("x-lark-request-nonce", ""), key,
                                        callback.body)
            if not same(signature, expected):
                raise SignatureError("bad X-Lark-Signature")
        try:
            data = _json_object(callback.body)
        except PayloadError as exc:
            if key and signature is not None:
                raise
            raise SignatureError("unsigned body that is not an event") from exc
        if "encrypt" in data:
            if not key:
                raise SignatureError("encrypted event but no feishu_encrypt_key is set")
            data = _json_object(feishu_decrypt(key, str(data["encrypt"])).encode("utf-8"))
        if data.get("type") == "url_verification":
            if not same(str(data.get("token", "")), token):
                raise SignatureError("bad verification token")
            return Handshake({"challenge": data.get("challenge", "")})
        header = data.get("header") if data.get("schema") == "2.0" else None
        sent_token = (header or {}).get("token") if header is not None else data.get("token")
        if not same(str(sent_token or ""), token):
            raise SignatureError("bad verification token")
        if key and signature is None:
            raise SignatureError("missing X-Lark-Signature")
        if not key:
            # Nothing signs a timestamp without an Encrypt Key; the event's own creation time bounds replays.
            created = (header or {}).get("create_time") or str(int(float(data.get("ts") or 0) * 1000))
            check_fresh(str(created), now, self.settings.channel_max_clock_skew_seconds, millis=True)
        try:
            if header is not None:
                return self._v2_message(header, data.get("event") or {})
            return self._v1_message(data.get("event") or {}, data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PayloadError(f"not a Feishu message event: {exc}") from exc

    def parse_event(self, data: dict[str, Any]) -> list[IncomingMessage]:
        """The message in a v2 event that arrived over the long connection (authenticated by the app's
        credentials when it was opened, so there is no token or signature to check)."""
        try:
            return self._v2_message(data["header"], data.get("event") or {})
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PayloadError(f"not a Feishu message event: {exc}") from exc

    def _v2_message(self, header: dict[str, Any], event: dict[str, Any]) -> list[IncomingMessage]:
        if header.get("event_type") != "im.message.receive_v1":
            return []
        sender, message = event["sender"], event["message"]
        if sender.get("sender_type") != "user":
            return []
        raw = _message_text(message["message_type"], json.loads(message["content"]))
        if raw is None:
            return []
        bot_named = False
        # Longest key first: "@_user_1" is a prefix of "@_user_10".
        for mention in sorted(message.get("mentions") or [], key=lambda m: -len(str(m.get("key", "")))):
            name = str(mention.get("name", ""))
            is_bot = name == self.settings.channel_bot_name
            bot_named |= is_bot
            raw = raw.replace(str(mention["key"]), "" if is_bot else f"@{name}")
        text, named = self.strip_bot_mention(raw)
        ids = sender.get("sender_id") or {}
        chat_id = str(message["chat_id"])
        return [IncomingMessage(
            platform=self.name, msg_id=str(message["message_id"]), chat_id=chat_id, group=self.group_name(chat_id),
            sender=self.sender_name(ids.get("open_id"), ids.get("user_id"), ids.get("union_id")),
            sender_id=str(ids.get("open_id") or ids.get("user_id") or ""), text=text,
            ts=self.local_time(int(str(message.get("create_time") or header.get("create_time"))) / 1000),
            mentions_bot=bot_named or named or message.get("chat_type") == "p2p",
            reply_to=message.get("parent_id") or None, reply_context={"message_id": str(message["message_id"])},
            direct=message.get("chat_type") == "p2p",
        )]

    def _v1_message(self, event: dict[str, Any], data: dict[str, Any]) -> list[IncomingMessage]:
        if event.get("type") != "message" or event.get("msg_type") not in ("text", "post"):
            return []
        raw = str(event.get("text_without_at_bot") or event.get("text") or "")
        text, named = self.strip_bot_mention(raw)
        chat_id = str(event.get("open_chat_id") or event.get("open_id"))
        open_id = str(event.get("open_id") or "")
        msg_id = str(event["open_message_id"])
        return [IncomingMessage(
            platform=self.name, msg_id=msg_id, chat_id=chat_id, group=self.group_name(chat_id),
            sender=self.sender_name(open_id, event.get("user_open_id"), event.get("employee_id")), sender_id=open_id,
            text=text, ts=self.local_time(float(data.get("ts") or time.time())),
            mentions_bot=bool(event.get("is_mention")) or named or event.get("chat_type") == "private",
            reply_to=event.get("parent_id") or None, reply_context={"message_id": msg_id},
            direct=event.get("chat_type") == "private",
        )]

    # Sending ------------------------------------------------------------------------------------------

    def mention(self, user_id: str) -> str:
        return f"<at id={user_id}></at>"

    def card(self, reply: OutgoingReply) -> dict[str, Any]:
        return {
            "config": {"wide_screen_mode": True},
            "header": {"template": "red" if reply.urgent else "blue",
                       "title": {"tag": "plain_text", "content": reply.title}},
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": reply.markdown}}],
        }

    def _base(self) -> str:
        return self.settings.feishu_api_base.rstrip("/")

    def tenant_token(self) -> str:
        """The tenant_access_token, fetched once and reused until shortly before it expires."""
        if not (self.settings.feishu_app_id and self.settings.feishu_app_secret):
            raise ChannelNotConfiguredError("feishu_app_id / feishu_app_secret are not set; the bot cannot reply")
        with self._token_lock:
            if self._token and self._token[1] > time.time():
                return self._token[0]
            answer = self.http.request("POST", f"{self._base()}/open-apis/auth/v3/tenant_access_token/internal",
                                       json={"app_id": self.settings.feishu_app_id,
                                             "app_secret": self.settings.feishu_app_secret})
            if answer.get("code") != 0 or not answer.get("tenant_access_token"):
                raise ChannelSendError(f"Feishu refused the app credentials: {answer.get('code')} {answer.get('msg')}")
            expires = time.time() + int(answer.get("expire", 7200)) - _TOKEN_MARGIN_S
            self._token = (str(answer["tenant_access_token"]), expires)
            return self._token[0]

    def _send(self, url: str, body: dict[str, Any], params: dict[str, str] | None = None) -> Sent:
        headers = {"Authorization": f"Bearer {self.tenant_token()}"}
        answer = self.http.request("POST", url, json=body, params=params, headers=headers)
        if answer.get("code") != 0:
            raise ChannelSendError(f"Feishu refused the message: {answer.get('code')} {answer.get('msg')}")
        return Sent((answer.get("data") or {}).get("message_id"))

    def reply(self, message: IncomingMessage, reply: OutgoingReply) -> Sent:
        content = json.dumps(self.card(reply), ensure_ascii=False)
        url = f"{self._base()}/open-apis/im/v1/messages/{message.reply_context['message_id']}/reply"
        return self._send(url, {"msg_type": "interactive", "content": content})

    def size(self, reply: OutgoingReply) -> int:
        """Bytes of the request body: Feishu limits a card message's body, not its text."""
        content = json.dumps(self.card(reply), ensure_ascii=False)
        return len(json.dumps({"msg_type": "interactive", "content": content}, ensure_ascii=False).encode("utf-8"))

    def sends_direct(self) -> bool:
        return bool(self.settings.feishu_app_id and self.settings.feishu_app_secret)

    def direct(self, user_id: str, reply: OutgoingReply) -> Sent:
        """A card to one user, by open id (ou_…)."""
        content = json.dumps(self.card(reply), ensure_ascii=False)
        return self._send(f"{self._base()}/open-apis/im/v1/messages",
                          {"receive_id": user_id, "msg_type": "interactive", "content": content},
                          params={"receive_id_type": "open_id"})

    def post(self, target: str, reply: OutgoingReply) -> Sent:
        if not target:
            raise ValueError("posting to Feishu needs a chat id (oc_…) as target")
        content = json.dumps(self.card(reply), ensure_ascii=False)
        return self._send(f"{self._base()}/open-apis/im/v1/messages",
                          {"receive_id": target, "msg_type": "interactive", "content": content},
                          params={"receive_id_type": "chat_id"})


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PayloadError("body is not a JSON object")
    return data


def _message_text(kind: str, content: dict[str, Any]) -> str | None:
    """Plain text of a text or post (rich text) message; None for images, files, stickers."""
    if kind == "text":
        return str(content.get("text", ""))
    if kind == "post":
        # {"title", "content"} or, per language, {"zh_cn": {"title", "content"}}
        localized = next((v for v in content.values() if isinstance(v, dict)), {})
        body: list[Any] = content.get("content") or localized.get("content") or []
        content = content if "content" in content else localized
        parts = [str(content.get("title") or "")]
        for paragraph in body:
            parts.append("".join(str(e.get("text") or (f"@{e.get('user_name')}" if e.get("tag") == "at" else ""))
                                 for e in paragraph if isinstance(e, dict)))
        return "\n".join(p for p in parts if p)
    return None
