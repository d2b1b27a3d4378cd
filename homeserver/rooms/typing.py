"""Typing notifications (spec: client-server-api "Typing Notifications"), shared by every
server process through PostgreSQL (an UNLOGGED table: ephemeral, forgotten by a crash).

Each row is a typer and the time (``hs.clock``) their notice runs out. A change of a
room's set of typers (a start, a stop, an expiry) takes a position in the TYPING stream,
recorded per room in ``typing_changes``: the rooms whose set changed after a token are
the ones a /sync reports. Still typing is no change. Readers never show a notice past
its expiry; the process holding the ``typing-expiry`` lease deletes expired notices as
they run out, so the rooms' /syncs hear of it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeserver.clock import Clock
from homeserver.errors import forbidden
from homeserver.storage import rooms as room_store
from homeserver.storage.db import Database
from homeserver.streams import Change, ChangeFeed, Stream, Writer

if TYPE_CHECKING:
    from homeserver.server import HomeServer

DEFAULT_TIMEOUT_MS = 30_000
MAX_TIMEOUT_MS = 30_000
# The expiry job looks at least this often, whatever it was told.
_MAX_SLEEP_S = 30.0

_START = """
WITH old AS (SELECT expires_ts FROM typing WHERE room_id = $1 AND user_id = $2 FOR UPDATE),
up AS (INSERT INTO typing (room_id, user_id, expires_ts) VALUES ($1, $2, $3)
       ON CONFLICT (room_id, user_id) DO UPDATE SET expires_ts = EXCLUDED.expires_ts)
SELECT COALESCE((SELECT expires_ts FROM old), 0) <= $4
"""


@dataclass
class TypingService:
    db: Database
    clock: Clock
    feed: ChangeFeed
    # Set when a typing change arrives: the expiry job looks again at the earliest expiry.
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def set_typing(self, room_id: str, user_id: str, typing: bool, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> None:
        """Start (for ``timeout_ms``, capped) or stop a user's typing notice in a room."""
        now = self.clock.now_ms()
        async with self.feed.writing(Stream.TYPING) as writer, self.db.transaction() as conn:
            if typing:
                expiry = now + max(0, min(timeout_ms, MAX_TIMEOUT_MS))
                changed = await conn.fetchval(_START, room_id, user_id, expiry, now)
            else:
                expired = await conn.fetchval(
                    "DELETE FROM typing WHERE room_id = $1 AND user_id = $2 RETURNING expires_ts", room_id, user_id,
                )
                # An expired notice the expiry job has not deleted yet still shows in the
                # clients that saw it start: its end is news for them too.
                changed = expired is not None
            if changed:
                await self._changed_rooms(conn, writer, [room_id])

    async def _changed_rooms(self, conn: Any, writer: Writer, room_ids: Sequence[str]) -> None:
        positions = await writer.next(conn, Stream.TYPING, len(room_ids))
        await conn.execute(
            "INSERT INTO typing_changes (room_id, stream_id) SELECT * FROM unnest($1::text[], $2::bigint[])"
            " ON CONFLICT (room_id) DO UPDATE SET stream_id = EXCLUDED.stream_id",
            list(room_ids), positions,
        )
        writer.touch(rooms=room_ids)

    async def typers(self, conn: Any, room_ids: Sequence[str], since: int, upto: int) -> dict[str, list[str]]:
        """The current typers of each given room whose set changed in (since, upto] (an
        empty list: everyone stopped); from 0, every given room with typers."""
        now = self.clock.now_ms()
        rows = await conn.fetch(
            "SELECT r.room_id, array_agg(t.user_id ORDER BY t.user_id) FILTER (WHERE t.user_id IS NOT NULL) AS typers"
            " FROM unnest($1::text[]) r(room_id)"
            " LEFT JOIN typing_changes c ON c.room_id = r.room_id"
            " LEFT JOIN typing t ON t.room_id = r.room_id AND t.expires_ts > $4"
            " WHERE ($2 = 0 OR (c.stream_id > $2 AND c.stream_id <= $3))"
            " GROUP BY r.room_id",
            list(room_ids), since, upto, now,
        )
        out = {r["room_id"]: list(r["typers"] or ()) for r in rows}
        return out if since else {room_id: typers for room_id, typers in out.items() if typers}

    # -- expiry (the process holding the ``typing-expiry`` lease) ----------------------

    def on_change(self, change: Change) -> None:
        if Stream.TYPING in change.positions:
            self._changed.set()

    async def expire_forever(self) -> None:
        while True:
            self._changed.clear()
            await self.expire()
            earliest = await self.db.pool.fetchval("SELECT min(expires_ts) FROM typing")
            delay = _MAX_SLEEP_S if earliest is None else (earliest - self.clock.now_ms()) / 1000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), max(0.0, min(delay, _MAX_SLEEP_S)))

    async def expire(self) -> list[str]:
        """Delete the notices that ran out; the rooms whose typers changed."""
        now = self.clock.now_ms()
        async with self.feed.writing(Stream.TYPING) as writer, self.db.transaction() as conn:
            rooms = await conn.fetch(
                "DELETE FROM typing WHERE expires_ts <= $1 RETURNING room_id", now,
            )
            room_ids = sorted({r["room_id"] for r in rooms})
            if room_ids:
                await self._changed_rooms(conn, writer, room_ids)
        return room_ids


def typing_event(user_ids: list[str]) -> dict[str, Any]:
    """The m.typing ephemeral event /sync serves for a room."""
    return {"type": "m.typing", "content": {"user_ids": user_ids}}


async def set_typing(
    hs: HomeServer, requester_id: str, room_id: str, user_id: str, typing: bool, timeout_ms: int
) -> None:
    """PUT /rooms/{roomId}/typing/{userId}: only for oneself, only in a joined room."""
    if requester_id != user_id:
        raise forbidden("You may only set your own typing state")
    membership = await room_store.get_membership(hs.db.pool, room_id, user_id)
    if membership is None or membership.membership != "join":
        raise forbidden("You are not in this room")
    await hs.typing.set_typing(room_id, user_id, typing, timeout_ms)
