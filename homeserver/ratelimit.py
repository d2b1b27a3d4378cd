"""Token-bucket rate limiting keyed by (action, requester).

Per-process, in-memory and rebuildable from nothing: losing it on restart only forgives
recent activity. With several processes behind a load balancer each process limits the
traffic it sees. (The login lockout is shared, in PostgreSQL: users/login.py.)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from homeserver.clock import Clock
from homeserver.config import RateLimit
from homeserver.errors import limit_exceeded

_MAX_KEYS = 100_000  # oldest buckets are forgotten past this, bounding memory


@dataclass
class RateLimiter:
    clock: Clock
    enabled: bool = True
    # key -> (tokens left, time of last update in ms)
    _buckets: OrderedDict[tuple[str, str], tuple[float, int]] = field(default_factory=OrderedDict)

    def check(self, action: str, key: str, limit: RateLimit) -> None:
        """Take one token for ``key`` or raise 429 ``M_LIMIT_EXCEEDED`` with ``retry_after_ms``."""
        if not self.enabled:
            return
        now = self.clock.now_ms()
        tokens, last = self._buckets.pop((action, key), (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - last) / 1000 * limit.per_second)
        if tokens < 1:
            self._buckets[(action, key)] = (tokens, now)
            raise limit_exceeded(int((1 - tokens) / limit.per_second * 1000) + 1)
        self._buckets[(action, key)] = (tokens - 1, now)
        while len(self._buckets) > _MAX_KEYS:
            self._buckets.popitem(last=False)
