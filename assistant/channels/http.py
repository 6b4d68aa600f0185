"""The one HTTP client every outgoing platform call goes through: timeouts, retries, exponential backoff."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from assistant.channels.errors import ChannelSendError

__all__ = ["ChannelHttp"]

log = logging.getLogger(__name__)
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class ChannelHttp:
    """JSON over HTTP with ``attempts`` tries; 429, 5xx and network errors are retried after
    ``backoff``, ``2 × backoff``, ``4 × backoff``… seconds; anything else fails at once."""

    def __init__(self, *, timeout: float = 5.0, attempts: int = 3, backoff: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if attempts < 1:
            raise ValueError(f"attempts={attempts}; at least one attempt is needed")
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self._sleep = sleep

    @classmethod
    def from_settings(cls, settings: Any) -> ChannelHttp:
        return cls(timeout=settings.channel_send_timeout_seconds, attempts=settings.channel_send_attempts,
                   backoff=settings.channel_send_backoff_seconds)

    def request(self, method: str, url: str, *, json: Any = None, params: Mapping[str, str] | None = None,
                headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The decoded JSON body of a 2xx answer; ``ChannelSendError`` once every attempt has failed."""
        problem = ""
        for attempt in range(1, self.attempts + 1):
            try:
                with httpx.Client(timeout=self.timeout) as client:
                    response = client.request(method, url, json=json, params=params, headers=headers)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    try:
                        body = response.json()
                    except ValueError:
                        body = {}
                    return body if isinstance(body, dict) else {"data": body}
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code not in _RETRY_STATUS:
                    break
            if attempt < self.attempts:
                delay = self.backoff * 2 ** (attempt - 1)
                log.warning("%s %s failed (%s); retry %d/%d in %.2fs", method, _safe(url), problem, attempt,
                            self.attempts - 1, delay)
                self._sleep(delay)
        raise ChannelSendError(f"{method} {_safe(url)} failed: {problem}")


def _safe(url: str) -> str:
    """The URL without its query (access tokens and signatures live there)."""
    return url.split("?", 1)[0]
