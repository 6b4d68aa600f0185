"""Signed, expiring links to one source of one tenant: what a chat reply links to, so that group members open
the source (read-only, ``GET /s/<token>``) without an API key or a login.

The token is ``base64url(payload + mac)``: the payload is the expiry (4 bytes, Unix seconds), the tenant id
(empty for the default tenant), a NUL and the source uri without its ``kb://`` (UTF-8); the mac is the first
16 bytes (128 bits) of HMAC-SHA256 over the payload with the server's link key. The uri travels inside the
token rather than beside it: base64 of UTF-8 is 4 characters per Chinese character where percent-encoding is
9, which keeps replies within WeCom's 2,048 bytes. Changing any byte (another tenant, another source, a later
expiry) breaks the mac; macs are compared in constant time.

The key is ``link_secret`` when set (the same on every machine serving the links), else a random key made once
and kept in ``link_secret_path`` with mode 0600, so every worker of one installation signs alike and links
survive restarts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from erp_assist.errors import ErpAssistError
from erp_assist.settings import DEFAULT_TENANT, Settings, validate_tenant_id

__all__ = ["LINK_PATH", "LinkRefusedError", "LinkedSource", "SourceLinkSigner", "link_signer", "stored_secret"]

LINK_PATH = "/s/"
MAC_BYTES = 16  # 128 bits of the HMAC-SHA256: forging one means guessing 2^128 values
MAX_TOKEN_CHARS = 4096  # far above any real source uri; longer input is refused before decoding
_CONTEXT = b"erp-assist source link v1\0"  # the key signs nothing else with this prefix
_EXPIRY = struct.Struct(">I")
KB_SCHEME = "kb://"  # every source a link can name; left out of the token


class LinkRefusedError(ErpAssistError):
    """A source link that does not open: ``reason`` is "invalid" (tampered, truncated, signed with another key)
    or "expired"."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class LinkedSource:
    """What a valid link opens: one source of one tenant, until ``expires_at`` (Unix seconds)."""

    tenant: str
    uri: str
    expires_at: int


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class SourceLinkSigner:
    """Makes and checks source-link tokens with one key; links live ``ttl_seconds``."""

    secret: bytes = field(repr=False)
    ttl_seconds: int

    def __post_init__(self) -> None:
        if len(self.secret) < 16:
            raise ValueError("the link key must be at least 16 bytes; set ERP_ASSIST_LINK_SECRET to a longer value")
        if self.ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds={self.ttl_seconds} must be positive (ERP_ASSIST_LINK_TTL_DAYS)")

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self.secret, _CONTEXT + payload, hashlib.sha256).digest()[:MAC_BYTES]

    def token(self, *, tenant: str, uri: str, now: float | None = None) -> str:
        """The token of a link to ``uri`` in ``tenant``, valid for ``ttl_seconds`` from ``now``."""
        validate_tenant_id(tenant)
        if not uri.startswith(KB_SCHEME) or len(uri) == len(KB_SCHEME) or "\0" in uri:
            raise ValueError(f"source uri {uri!r} must be a knowledge-base uri (kb://…) without NUL characters")
        expires = int(time.time() if now is None else now) + self.ttl_seconds
        named = b"" if tenant == DEFAULT_TENANT else tenant.encode("ascii")
        payload = _EXPIRY.pack(expires) + named + b"\0" + uri.removeprefix(KB_SCHEME).encode("utf-8")
        return _b64encode(payload + self._mac(payload))

    def url(self, public_url: str, *, tenant: str, uri: str, now: float | None = None) -> str:
        """``<public_url>/s/<token>``: the address a chat reply links to."""
        return f"{public_url.rstrip('/')}{LINK_PATH}{self.token(tenant=tenant, uri=uri, now=now)}"

    def verify(self, token: str, *, now: float | None = None) -> LinkedSource:
        """The source a token opens, or ``LinkRefusedError``: the mac is checked first (constant time), so an
        altered expiry reads as invalid, never as valid."""
        invalid = LinkRefusedError("invalid", "链接无效：链接不完整或已被改动。请在群里重新打开机器人发出的链接。")
        if len(token) > MAX_TOKEN_CHARS:
            raise invalid
        try:
            data = _b64decode(token)
        except (binascii.Error, ValueError):
            raise invalid from None
        payload, mac = data[:-MAC_BYTES], data[-MAC_BYTES:]
        if len(payload) < _EXPIRY.size + 2 or not hmac.compare_digest(mac, self._mac(payload)):
            raise invalid
        (expires,) = _EXPIRY.unpack_from(payload)
        tenant, _, uri = payload[_EXPIRY.size:].partition(b"\0")
        if (time.time() if now is None else now) >= expires:
            raise LinkRefusedError("expired", "链接已过期。请在群里重新提问，或请管理员登录审核页面查看该来源。")
        return LinkedSource(tenant=tenant.decode("ascii") or DEFAULT_TENANT, uri=KB_SCHEME + uri.decode("utf-8"),
                            expires_at=expires)


def stored_secret(path: Path) -> bytes:
    """The link key kept in ``path``, made (random, mode 0600) on first use. Safe when several workers start at
    once: each writes a private temporary file and hard-links it into place; the first link wins and everyone
    reads that one."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(32) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process made it first: use theirs
        finally:
            temporary.unlink(missing_ok=True)
    secret = path.read_text(encoding="ascii").strip().encode("ascii")
    if len(secret) < 16:
        raise ValueError(f"the link key in {path} is shorter than 16 characters; delete the file (links sent so "
                         "far stop opening) or set ERP_ASSIST_LINK_SECRET")
    return secret


def link_signer(settings: Settings) -> SourceLinkSigner:
    """The signer of ``settings``: ``link_secret``, else the key in ``link_secret_path``."""
    secret = (settings.link_secret.get_secret_value().encode("utf-8") if settings.link_secret is not None
              else stored_secret(settings.link_secret_path))
    return SourceLinkSigner(secret, ttl_seconds=round(settings.link_ttl_days * 86400))
