"""Token-bucket rate limiting keyed by (action, requester), shared by every server
process through PostgreSQL. (The login lockout is shared too: users/login.py.)

A bucket lives in an UNLOGGED table: one statement refills it for the time passed and
takes a token if there is one, atomically, so concurrent requests in any process count.
Losing the table in a crash only forgives recent activity. Idle buckets (full again) are
deleted by a background job (``clean_forever``, run by one process).

Event sends are too frequent for a database round trip each: ``check_here`` keeps their
buckets in this process, each process allowing its share of the limit (the limit
divided by the number of processes, which a load balancer spreads requests over).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from homeserver.clock import Clock
from homeserver.config import RateLimit
from homeserver.errors import limit_exceeded
from homeserver.storage.db import Database

_MAX_KEYS = 100_000  # in-memory send buckets are forgotten past this, bounding memory
# A bucket untouched for this long has refilled for any configured limit: delete it.
_IDLE_MS = 3_600_000
_CLEAN_INTERVAL_S = 300.0

_TAKE = """
INSERT INTO rate_limit_buckets AS b (action, key, tokens, updated_ms, allowed)
VALUES ($1, $2, $3 - 1, $5, true)
ON CONFLICT (action, key) DO UPDATE SET
    tokens = LEAST($3, b.tokens + GREATEST(0, $5 - b.updated_ms) / 1000.0 * $4)
             - CASE WHEN LEAST($3, b.tokens + GREATEST(0, $5 - b.updated_ms) / 1000.0 * $4) >= 1 THEN 1 ELSE 0 END,
    allowed = LEAST($3, b.tokens + GREATEST(0, $5 - b.updated_ms) / 1000.0 * $4) >= 1,
    updated_ms = GREATEST($5, b.updated_ms)
RETURNING tokens, allowed
"""


@dataclass
class RateLimiter:
    db: Database
    clock: Clock
    enabled: bool = True
    # How many server processes share the limits (this one included).
    processes: Callable[[], int] = lambda: 1
    _buckets: OrderedDict[tuple[str, str], tuple[float, int]] = field(default_factory=OrderedDict)

    def check_here(self, action: str, key: str, limit: RateLimit) -> None:
        """``check`` for frequent actions, in memory: this process's share of ``limit``."""
        if not self.enabled:
            return
        share = max(1, self.processes())
        burst, rate = max(1.0, limit.burst / share), limit.per_second / share
        now = self.clock.now_ms()
        tokens, last = self._buckets.pop((action, key), (burst, now))
        tokens = min(burst, tokens + max(0, now - last) / 1000 * rate)
        if tokens < 1:
            self._buckets[(action, key)] = (tokens, now)
            raise limit_exceeded(int((1 - tokens) / rate * 1000) + 1)
        self._buckets[(action, key)] = (tokens - 1, now)
        while len(self._buckets) > _MAX_KEYS:
            self._buckets.popitem(last=False)

    async def check(self, action: str, key: str, limit: RateLimit) -> None:
        """Take one token for ``key`` or raise 429 ``M_LIMIT_EXCEEDED`` with ``retry_after_ms``."""
        if not self.enabled:
            return
        row = await self.db.pool.fetchrow(
            _TAKE, action, key, float(limit.burst), limit.per_second, self.clock.now_ms()
        )
        if not row["allowed"]:
            raise limit_exceeded(int((1 - row["tokens"]) / limit.per_second * 1000) + 1)

    async def clean_forever(self) -> None:
        while True:
            await asyncio.sleep(_CLEAN_INTERVAL_S)
            await self.db.pool.execute(
                "DELETE FROM rate_limit_buckets WHERE updated_ms < $1", self.clock.now_ms() - _IDLE_MS
            )
