"""Token-bucket rate limiting keyed by (action, requester), and failed-login lockout.

Both are per-process, in-memory and rebuildable from nothing: losing them on restart
only forgives recent activity. With several processes behind a load balancer each
process limits the traffic it sees.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from homeserver.clock import Clock
from homeserver.config import AuthConfig, RateLimit
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


@dataclass
class LoginLockout:
    """Counts failed logins per account and per address; too many lock them out a while.

    Each failure also costs a growing delay, so guessing slows down before the lockout.
    """

    clock: Clock
    config: AuthConfig
    _failures: OrderedDict[str, list[int]] = field(default_factory=OrderedDict)

    def check(self, *keys: str) -> None:
        now = self.clock.now_ms()
        for key in keys:
            recent = self._recent(key, now)
            locked_until = recent[-1] + self.config.lockout_ms if recent else 0
            if len(recent) >= self.config.lockout_after_failures and now < locked_until:
                raise limit_exceeded(locked_until - now)

    def delay_seconds(self, *keys: str) -> float:
        now = self.clock.now_ms()
        count = max((len(self._recent(k, now)) for k in keys), default=0)
        return min(0.1 * 2**count, 2.0) if count else 0.0

    def failed(self, *keys: str) -> None:
        now = self.clock.now_ms()
        for key in keys:
            recent = self._recent(key, now)
            recent.append(now)
            self._failures[key] = recent
            self._failures.move_to_end(key)
        while len(self._failures) > _MAX_KEYS:
            self._failures.popitem(last=False)

    def succeeded(self, account_key: str) -> None:
        self._failures.pop(account_key, None)

    def _recent(self, key: str, now: int) -> list[int]:
        return [t for t in self._failures.get(key, ()) if now - t < self.config.failure_window_ms]
