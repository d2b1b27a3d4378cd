"""Reporting events, rooms and users to the server admins (spec: client-server-api
"Reporting content", report_content.yaml).

What a report may reveal:

- an event report needs the reporter joined to the room (spec, v1.8) and the event
  visible to them; otherwise the answer is 404, the same for an event that does not
  exist, so reports cannot probe for events a user may not see;
- a room report does not need membership (spec, v1.13); an unknown room is 404, which
  reveals nothing GET /directory/list/room/{roomId} does not;
- a user report does not need a shared room (spec, v1.14); a local user who does not
  exist gets the same 200 as one who does (and nothing is stored), so reports cannot
  enumerate accounts.

Every report, stored or not, takes a token from the reporter's ``reports`` rate limit.
"""

from __future__ import annotations

from homeserver.errors import MatrixError
from homeserver.timeline import visibility
from homeserver.server import HomeServer
from homeserver.storage import events as event_store
from homeserver.storage import reports as report_store
from homeserver.storage import rooms as room_store
from homeserver.storage import users as user_store
from homeserver.storage.reports import NewReport

MAX_REASON_LENGTH = 1000
# The score of an event report: -100 (most offensive) to 0 (inoffensive). The spec
# dropped it in v1.18; older clients still send it.
MIN_SCORE, MAX_SCORE = -100, 0


async def _rate_limit(hs: HomeServer, reporter: str) -> None:
    await hs.ratelimiter.check("report", reporter, hs.config.rate_limits.reports)


async def report_event(
    hs: HomeServer, reporter: str, room_id: str, event_id: str, reason: str | None, score: int | None
) -> None:
    """POST /rooms/{roomId}/report/{eventId}."""
    await _rate_limit(hs, reporter)
    not_found = MatrixError(404, "M_NOT_FOUND", "The event was not found or you are not joined to the room")
    async with hs.db.pool.acquire() as conn:
        membership = await room_store.get_membership(conn, room_id, reporter)
        if membership is None or membership.membership != "join":
            raise not_found
        event = await event_store.get_event(conn, event_id)
        if event is None or event.room_id != room_id or event.rejected:
            raise not_found
        if not await visibility.filter_events(conn, reporter, [event]):
            raise not_found
        report = NewReport(reporter, reason, room_id=room_id, event_id=event_id, score=score)
        await report_store.insert_report(conn, report, hs.clock.now_ms())


async def report_room(hs: HomeServer, reporter: str, room_id: str, reason: str) -> None:
    """POST /rooms/{roomId}/report."""
    await _rate_limit(hs, reporter)
    async with hs.db.pool.acquire() as conn:
        if await room_store.get_room_version(conn, room_id) is None:
            raise MatrixError(404, "M_NOT_FOUND", "The room was not found")
        await report_store.insert_report(conn, NewReport(reporter, reason, room_id=room_id), hs.clock.now_ms())


async def report_user(hs: HomeServer, reporter: str, user_id: str, reason: str) -> None:
    """POST /users/{userId}/report: 200 whether or not a local user exists."""
    await _rate_limit(hs, reporter)
    async with hs.db.pool.acquire() as conn:
        if hs.is_mine(user_id) and await user_store.get_user(conn, user_id) is None:
            return
        await report_store.insert_report(conn, NewReport(reporter, reason, user_id=user_id), hs.clock.now_ms())
