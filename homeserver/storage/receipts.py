"""Receipts (spec: client-server-api "Receipts"): the latest of each user, type and
thread per room, each change at a position in ``stream_seq``.

``thread_id`` is ``UNTHREADED`` ('') for an unthreaded receipt, ``main`` for the main
timeline, or the thread root's event ID.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool

READ = "m.read"
READ_PRIVATE = "m.read.private"
UNTHREADED = ""


@dataclass(frozen=True, slots=True)
class Receipt:
    room_id: str
    user_id: str
    receipt_type: str
    thread_id: str
    event_id: str
    event_stream_ordering: int
    ts: int


async def upsert_receipt(conn: Conn, receipt: Receipt, stream_id: int) -> bool:
    """Store a receipt unless the user's receipt of that type and thread is already at
    or past the event (receipts only move forward); whether it was stored."""
    status = await conn.execute(
        "INSERT INTO receipts (room_id, user_id, receipt_type, thread_id, event_id, event_stream_ordering, ts,"
        " stream_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (room_id, user_id, receipt_type, thread_id) DO UPDATE SET event_id = EXCLUDED.event_id,"
        " event_stream_ordering = EXCLUDED.event_stream_ordering, ts = EXCLUDED.ts, stream_id = EXCLUDED.stream_id"
        " WHERE receipts.event_stream_ordering < EXCLUDED.event_stream_ordering",
        receipt.room_id, receipt.user_id, receipt.receipt_type, receipt.thread_id, receipt.event_id,
        receipt.event_stream_ordering, receipt.ts, stream_id,
    )
    return status == "INSERT 0 1"


async def receipts_since(
    conn: Conn, user_id: str, room_ids: Sequence[str], since: int, upto: int
) -> dict[str, dict[str, Any]]:
    """The ``m.receipt`` EDU content of each room with receipts changed in (since, upto],
    as ``user_id`` may see them: everyone's ``m.read``, only their own ``m.read.private``.
    ``since`` 0 gives every room's latest receipts (an initial /sync)."""
    rows = await conn.fetch(
        "SELECT room_id, user_id, receipt_type, thread_id, event_id, ts FROM receipts"
        " WHERE room_id = ANY($1::text[]) AND stream_id > $2 AND stream_id <= $3"
        " AND (receipt_type = 'm.read' OR (receipt_type = 'm.read.private' AND user_id = $4))"
        " ORDER BY stream_id",
        list(room_ids), since, upto, user_id,
    )
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        receipt: dict[str, Any] = {"ts": r["ts"]}
        if r["thread_id"] != UNTHREADED:
            receipt["thread_id"] = r["thread_id"]
        by_type = out.setdefault(r["room_id"], {}).setdefault(r["event_id"], {})
        by_type.setdefault(r["receipt_type"], {})[r["user_id"]] = receipt
    return out


async def get_receipt(conn: Conn, room_id: str, user_id: str, receipt_type: str, thread_id: str) -> Receipt | None:
    row = await conn.fetchrow(
        "SELECT room_id, user_id, receipt_type, thread_id, event_id, event_stream_ordering, ts FROM receipts"
        " WHERE room_id = $1 AND user_id = $2 AND receipt_type = $3 AND thread_id = $4",
        room_id, user_id, receipt_type, thread_id,
    )
    return Receipt(**row) if row else None


async def read_positions(conn: Conn, user_id: str, room_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """How far the user has read in each room, by thread ('' for unthreaded receipts):
    the furthest of their ``m.read`` and ``m.read.private`` receipts and their own latest
    event there, as a stream ordering."""
    rows = await conn.fetch(
        "SELECT room_id, thread_id, max(position) AS position FROM ("
        "  SELECT room_id, thread_id, event_stream_ordering AS position FROM receipts"
        "  WHERE user_id = $1 AND room_id = ANY($2::text[])"
        "  UNION ALL"
        "  SELECT room_id, thread_id, stream_ordering FROM sent_read_positions"
        "  WHERE user_id = $1 AND room_id = ANY($2::text[])"
        ") p GROUP BY room_id, thread_id",
        user_id, list(room_ids),
    )
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["room_id"], {})[r["thread_id"]] = r["position"]
    return out


def is_read(positions: dict[str, int], thread_id: str, stream_ordering: int) -> bool:
    """Whether an event of a thread is at or before what the user has read (an
    unthreaded receipt covers every thread)."""
    return stream_ordering <= max(positions.get(UNTHREADED, 0), positions.get(thread_id, 0))
