"""Errors of the chat channels; only the routes turn them into HTTP status codes."""

from __future__ import annotations

from erp_assist.errors import ErpAssistError

__all__ = ["ChannelError", "ChannelNotConfiguredError", "ChannelSendError", "PayloadError", "SignatureError"]


class ChannelError(ErpAssistError):
    """Base of the chat-channel errors."""


class SignatureError(ChannelError):
    """The callback is not signed by the platform, or its signature is stale (a replay). HTTP 401."""


class PayloadError(ChannelError, ValueError):
    """The callback is signed but its body is not the platform's format. HTTP 400."""


class ChannelNotConfiguredError(ChannelError):
    """The platform's secrets are not set, so its callbacks cannot be verified. HTTP 404."""


class ChannelSendError(ChannelError):
    """An outgoing message could not be delivered after all attempts."""
