"""Reports of events, rooms and users (spec: client-server-api "Reporting content"), kept
for server admins.

One table holds the three kinds: an event report names ``room_id`` and ``event_id``, a
room report only ``room_id``, a user report only ``user_id``.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True, slots=True)
class NewReport:
    reporter: str
    reason: str | None
    room_id: str | None = None
    event_id: str | None = None
    user_id: str | None = None
    score: int | None = None


async def insert_report(conn: Conn, report: NewReport, now_ms: int) -> int:
    return await conn.fetchval(
        "INSERT INTO reports (reporter, room_id, event_id, user_id, reason, score, received_ts)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        report.reporter, report.room_id, report.event_id, report.user_id, report.reason, report.score, now_ms,
    )
