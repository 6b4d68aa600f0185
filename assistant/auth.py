"""API keys with roles, and a per-key rate limit. Roles are ordered: asker < expert < admin.

A role holds within the key's tenant only: an admin of one tenant is nobody in another (``ApiKey.tenant``).
"""

from __future__ import annotations

import threading
import time
from collections import deque

__all__ = ["ROLE_RANK", "RateLimiter", "allows"]

ROLE_RANK = {"asker": 0, "expert": 1, "admin": 2}


def allows(role: str, needed: str) -> bool:
    """Whether a key of ``role`` may do what ``needed`` may do."""
    return ROLE_RANK.get(role, -1) >= ROLE_RANK[needed]


class RateLimiter:
    """Sliding one-minute window per key, in process memory (one API process serves every tenant's keys)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[int, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key_id: int) -> bool:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key_id, deque())
            while hits and now - hits[0] > 60:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return False
            hits.append(now)
            return True
