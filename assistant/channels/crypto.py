"""The platforms' documented callback signatures and payload encryption, as pure functions.

* DingTalk outgoing robot: header ``sign`` = Base64(HMAC-SHA256(app_secret, timestamp + "\\n" + app_secret)),
  ``timestamp`` in milliseconds. The same construction signs group-robot webhook URLs.
* Feishu event subscription: ``X-Lark-Signature`` = hex SHA-256 of timestamp + nonce + encrypt_key + raw body;
  ``{"encrypt": ...}`` is Base64(IV(16) + AES-256-CBC(PKCS#7)) under the key SHA-256(encrypt_key).
* WeCom callback (apps and group robots; wechatpy does the AES): ``msg_signature`` = hex SHA-1 of the sorted [token, timestamp, nonce, encrypt] joined;
  ``encrypt`` is Base64(AES-256-CBC(random(16) + msg_len(4, big-endian) + msg + receive_id)), key =
  Base64-decode(EncodingAESKey + "="), IV = the key's first 16 bytes, PKCS#7 padded to 32-byte blocks.

Comparisons are constant-time; every failure raises ``SignatureError`` (or ``PayloadError`` for a well-signed
body that does not decode) and never says which part was wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.enterprise.crypto import PrpCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.utils import WeChatSigner

from assistant.channels.errors import PayloadError, SignatureError

__all__ = [
    "WeComCrypto",
    "check_fresh",
    "dingtalk_sign",
    "feishu_decrypt",
    "feishu_encrypt",
    "feishu_signature",
    "same",
]


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two strings; ``None`` never matches."""
    if a is None or b is None:
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def check_fresh(timestamp: str | None, now: float, max_skew: float, *, millis: bool = False) -> None:
    """A signed timestamp must be within ``max_skew`` seconds of ``now``: an old one is a replay."""
    if not timestamp or not timestamp.strip().isdigit():
        raise SignatureError("missing or malformed timestamp")
    seconds = int(timestamp) / 1000 if millis else int(timestamp)
    if abs(now - seconds) > max_skew:
        raise SignatureError("stale timestamp (replay?)")


def dingtalk_sign(secret: str, timestamp: str) -> str:
    """Base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")) — callbacks and webhook URLs alike."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def feishu_signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """Hex SHA-256 of timestamp + nonce + encrypt_key + the raw request body (``X-Lark-Signature``)."""
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode("utf-8") + body).hexdigest()


def _pkcs7_pad(data: bytes, block: int) -> bytes:
    n = block - len(data) % block
    return data + bytes([n]) * n


def _pkcs7_unpad(data: bytes, block: int) -> bytes:
    if not data:
        raise ValueError("empty plaintext")
    n = data[-1]
    if not 1 <= n <= block or data[-n:] != bytes([n]) * n:
        raise ValueError("bad padding")
    return data[:-n]


def _aes_cbc(key: bytes, iv: bytes, data: bytes, *, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    worker = cipher.encryptor() if encrypt else cipher.decryptor()
    return worker.update(data) + worker.finalize()


def feishu_decrypt(encrypt_key: str, encrypted: str) -> str:
    """The plaintext of a Feishu ``encrypt`` field; a wrong key or a tampered body raises ``SignatureError``."""
    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    try:
        raw = base64.b64decode(encrypted, validate=True)
        if len(raw) < 32 or len(raw) % 16:
            raise ValueError("wrong length")
        return _pkcs7_unpad(_aes_cbc(key, raw[:16], raw[16:], encrypt=False), 16).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise SignatureError("payload does not decrypt with the encrypt key") from exc


def feishu_encrypt(encrypt_key: str, plaintext: str, iv: bytes | None = None) -> str:
    """The inverse of ``feishu_decrypt`` (what the platform sends; used by tests and tools)."""
    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    iv = iv or os.urandom(16)
    return base64.b64encode(iv + _aes_cbc(key, iv, _pkcs7_pad(plaintext.encode("utf-8"), 16), encrypt=True)).decode()


class WeComCrypto:
    """WeCom (企业微信) callback signature and message encryption for one receiver: an app (receive id = the
    corp id) or a group robot (receive id = ""). The AES layout is wechatpy's ``PrpCrypto``; we add the key
    check, a constant-time signature comparison and our own errors."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        if len(encoding_aes_key) != 43:
            raise ValueError(f"wecom_encoding_aes_key has {len(encoding_aes_key)} characters; WeCom keys have 43")
        try:
            self.key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error as exc:
            raise ValueError("wecom_encoding_aes_key is not Base64; copy it again from the WeCom admin") from exc
        self.token = token
        self.receive_id = receive_id
        self._prp = PrpCrypto(self.key)

    def signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        signer = WeChatSigner()
        signer.add_data(self.token, timestamp, nonce, encrypted)
        return str(signer.signature)

    def verify(self, msg_signature: str | None, timestamp: str | None, nonce: str | None, encrypted: str) -> None:
        if not (msg_signature and timestamp and nonce) or not same(
            msg_signature.lower(), self.signature(timestamp, nonce, encrypted)
        ):
            raise SignatureError("bad msg_signature")

    def decrypt(self, encrypted: str) -> str:
        """The message inside ``encrypted``; its trailing receive id must be this receiver's."""
        try:
            return str(self._prp.decrypt(encrypted, self.receive_id))
        except InvalidCorpIdException as exc:
            raise SignatureError("message is for another receive id") from exc
        except (ValueError, TypeError, IndexError, binascii.Error, struct.error, UnicodeDecodeError) as exc:
            raise PayloadError("encrypted message does not decrypt with the EncodingAESKey") from exc

    def encrypt(self, message: str) -> str:
        """The inverse of ``decrypt`` (for passive encrypted replies and tests)."""
        return self._prp.encrypt(message, self.receive_id).decode("ascii")
