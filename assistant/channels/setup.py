"""Checks of the chat-channel set-up made once when a server starts (``erp-assist serve``, ``channels listen``)."""

from __future__ import annotations

import logging

from erp_assist.settings import Settings

__all__ = ["configured_channels", "unclickable_links_warning", "warn_if_links_unclickable"]

log = logging.getLogger(__name__)


def configured_channels(settings: Settings) -> list[str]:
    """The chat platforms whose secrets are set (the ones the bot answers on)."""
    from assistant.channels.service import ADAPTERS  # the adapters import the SDKs: only when asked

    return [name for name, adapter in ADAPTERS.items() if adapter.configured(settings)]


def unclickable_links_warning(settings: Settings) -> str | None:
    """The warning to give when a chat channel is configured but ``channel_public_url`` is not, else None."""
    if settings.channel_public_url:
        return None
    channels = configured_channels(settings)
    if not channels:
        return None
    return (f"ERP_ASSIST_CHANNEL_PUBLIC_URL is unset while the {', '.join(channels)} channel"
            f"{'s are' if len(channels) > 1 else ' is'} configured: links in chat will not be clickable (sources "
            "show as kb://… text). Set it to this service's base URL as group members reach it, e.g. "
            "https://erp-assist.example.com; replies then link to signed, expiring source pages that need no key")


def warn_if_links_unclickable(settings: Settings) -> None:
    """Log ``unclickable_links_warning`` once, when there is one."""
    warning = unclickable_links_warning(settings)
    if warning:
        log.warning(warning)
