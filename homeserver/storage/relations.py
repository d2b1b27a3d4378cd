"""Relations between events (spec: client-server-api "Forming relationships between
events"): the children of parents, pages of /relations and the thread roots of a room.

An event's relation is the ``relates_to``/``rel_type`` pair recorded when it was
persisted. A child counts only while it is served: not rejected, not soft-failed, and not
redacted (redaction strips ``m.relates_to``, so a redacted child relates to nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool

THREAD = "m.thread"



def _live_child(alias: str) -> str:
    """SQL: the event under ``alias`` is a child that still counts."""
    return (
        f"{alias}.relates_to IS NOT NULL AND {alias}.rel_type IS NOT NULL AND {alias}.redacted_by IS NULL"
        f" AND {alias}.rejected_reason IS NULL AND NOT {alias}.soft_failed"
    )


async def annotation_exists(conn: Conn, parent_id: str, sender: str, event_type: str, key: str) -> bool:
    """Whether ``sender`` has a live annotation of ``parent_id`` with this type and key."""
    return await conn.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM events c WHERE {_live_child('c')}"
        " AND relates_to = $1 AND rel_type = 'm.annotation' AND sender = $2 AND type = $3"
        " AND (json::jsonb -> 'content' -> 'm.relates_to' ->> 'key') = $4)",
        parent_id, sender, event_type, key,
    )


@dataclass(frozen=True, slots=True)
class Child:
    """A child event, without its body except where a rule needs it (``json`` is set
    for ``m.replace`` children only, whose ``m.new_content`` decides validity)."""

    event_id: str
    room_id: str
    relates_to: str
    rel_type: str
    type: str
    state_key: str | None
    sender: str
    origin_server_ts: int
    stream_ordering: int
    state_group: int
    json: str | None


async def children(conn: Conn, parent_ids: Sequence[str], rel_types: Sequence[str]) -> list[Child]:
    """The live children of many parents with the given relation types, oldest first."""
    rows = await conn.fetch(
        "SELECT event_id, room_id, relates_to, rel_type, type, state_key, sender, origin_server_ts,"
        " stream_ordering, state_group, CASE WHEN rel_type = 'm.replace' THEN json END AS json"
        f" FROM events c WHERE {_live_child('c')}"
        " AND relates_to = ANY($1::text[]) AND rel_type = ANY($2::text[])"
        " ORDER BY stream_ordering",
        list(parent_ids), list(rel_types),
    )
    return [Child(**r) for r in rows]


async def relation_page(
    conn: Conn, room_id: str, parent_id: str, *, rel_type: str | None, event_type: str | None,
    after: int | None, before: int | None, backwards: bool, limit: int, depth: int,
) -> list[str]:
    """IDs of the events relating to a parent, directly or through up to ``depth``
    relations, strictly between two stream orderings, in the direction asked.

    ``rel_type`` and ``event_type`` narrow the events returned, at any depth; the chain
    through which they relate may be of any type.
    """
    rows = await conn.fetch(
        f"""
        WITH RECURSIVE related(event_id, depth) AS (
            SELECT c.event_id, 1 FROM events c WHERE {_live_child('c')} AND c.relates_to = $2 AND c.room_id = $1
            UNION
            SELECT c.event_id, r.depth + 1 FROM related r JOIN events c ON c.relates_to = r.event_id
            WHERE r.depth < $3 AND c.room_id = $1 AND {_live_child('c')}
        )
        SELECT e.event_id FROM related r JOIN events e USING (event_id)
        WHERE ($4::text IS NULL OR e.rel_type = $4) AND ($5::text IS NULL OR e.type = $5)
          AND ($6::bigint IS NULL OR e.stream_ordering > $6) AND ($7::bigint IS NULL OR e.stream_ordering < $7)
        ORDER BY e.stream_ordering {'DESC' if backwards else 'ASC'} LIMIT $8
        """,
        room_id, parent_id, depth, rel_type, event_type, after, before, limit,
    )
    return [r["event_id"] for r in rows]


@dataclass(frozen=True, slots=True)
class ThreadRoot:
    event_id: str
    # The stream ordering of the thread's latest live event: the order of /threads.
    latest: int


async def thread_roots(
    conn: Conn, room_id: str, *, before: int | None, participant: str | None, limit: int
) -> list[ThreadRoot]:
    """A room's thread roots, most recently active first, whose latest thread event is
    before ``before``; with ``participant``, only threads that user started or replied in.

    A root is served, in the room, not a state event and not itself a child (a redacted
    root relates to nothing any more, so it stays a root).
    """
    rows = await conn.fetch(
        f"""
        SELECT t.relates_to AS event_id, MAX(t.stream_ordering) AS latest
        FROM events t JOIN events r ON r.event_id = t.relates_to AND r.room_id = t.room_id
        WHERE t.room_id = $1 AND t.rel_type = '{THREAD}' AND {_live_child('t')}
          AND r.rejected_reason IS NULL AND NOT r.soft_failed AND r.state_key IS NULL
          AND (r.relates_to IS NULL OR r.rel_type IS NULL OR r.redacted_by IS NOT NULL)
        GROUP BY t.relates_to, r.sender
        HAVING ($2::bigint IS NULL OR MAX(t.stream_ordering) < $2)
          AND ($3::text IS NULL OR r.sender = $3 OR bool_or(t.sender = $3))
        ORDER BY latest DESC LIMIT $4
        """,
        room_id, before, participant, limit,
    )
    return [ThreadRoot(r["event_id"], r["latest"]) for r in rows]
