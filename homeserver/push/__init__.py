"""Push notifications (spec: client-server-api "Push Notifications"): push rules, the
evaluation of every new event for the room's local members, and HTTP pushers.

``PushService`` is what the HomeServer holds: a cache of compiled push rules and the
pusher pool that sends notifications to push gateways in the background.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from homeserver.clock import Clock
from homeserver.push.pushers import PusherPool
from homeserver.push.rules import CompiledRuleset
from homeserver.storage.db import Database
from homeserver.sync.streams import StreamTracker


@dataclass
class RulesCache:
    """Compiled push rules by user, each with the ``push_rules.stream_id`` it was built
    from. A reader passes the version it just read from the database, so a change made
    by any process is seen at once; this is only ever a cache."""

    max_users: int = 10_000
    _entries: OrderedDict[str, tuple[int, CompiledRuleset]] = field(default_factory=OrderedDict)

    def get(self, user_id: str, version: int) -> CompiledRuleset | None:
        entry = self._entries.get(user_id)
        if entry is None or entry[0] != version:
            return None
        self._entries.move_to_end(user_id)
        return entry[1]

    def put(self, user_id: str, version: int, compiled: CompiledRuleset) -> None:
        self._entries[user_id] = (version, compiled)
        self._entries.move_to_end(user_id)
        while len(self._entries) > self.max_users:
            self._entries.popitem(last=False)


@dataclass
class PushService:
    rules: RulesCache
    pushers: PusherPool

    @classmethod
    def create(cls, db: Database, streams: StreamTracker, clock: Clock) -> PushService:
        """Build the service and start the pusher pool (call with the event loop running)."""
        pushers = PusherPool(db, streams, clock)
        pushers.start()
        return cls(RulesCache(), pushers)

    async def close(self) -> None:
        await self.pushers.close()
