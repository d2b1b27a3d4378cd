"""Events of the room graphs: the PDUs as signed, their edges, forward extremities,
transaction IDs, and the room-ordered reads the client API pages through."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from homeserver.storage import push as push_store
from homeserver.storage.stream_locks import lock_sql

Conn = asyncpg.Connection | asyncpg.Pool

# Room events take their positions in this stream (homeserver.streams.Stream.EVENTS).
EVENTS_STREAM = 0
_EVENTS_LOCK = lock_sql(EVENTS_STREAM)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    event_id: str
    room_id: str
    stream_ordering: int
    depth: int
    type: str
    state_key: str | None
    sender: str
    origin_server_ts: int
    pdu: dict[str, Any]
    state_group: int
    redacted_by: str | None
    rejected: bool

    @property
    def is_state(self) -> bool:
        return self.state_key is not None


_COLUMNS = (
    "event_id, room_id, stream_ordering, depth, type, state_key, sender, origin_server_ts, json,"
    " state_group, redacted_by, (rejected_reason IS NOT NULL OR soft_failed) AS rejected"
)


def _event(row: asyncpg.Record) -> StoredEvent:
    values = dict(row)
    values["pdu"] = orjson.loads(values.pop("json"))
    return StoredEvent(**values)


@dataclass(frozen=True, slots=True)
class NewEvent:
    event_id: str
    room_id: str
    pdu: dict[str, Any]
    json: str
    state_group: int
    relates_to: str | None = None
    rel_type: str | None = None
    rejected_reason: str | None = None
    soft_failed: bool = False
    # (key, text) for the full-text index (storage/search.py), for events search covers.
    search: tuple[str, str] | None = None


class RoomChanged(Exception):
    """The room's forward extremities moved since they were read: another writer got
    there first. The caller rolls back and builds the event again."""


@dataclass(frozen=True, slots=True)
class SendContext:
    room_version: str
    # The event a retried client transaction already produced, if any.
    txn_event_id: str | None
    # (event_id, depth, state_group) of each forward extremity.
    extremities: list[tuple[str, int, int]]
    # Asked for with ``recipients=True``: the room's joined local members, whom a
    # message's push rules are evaluated for, and its joined member count.
    recipients: list[push_store.Recipient] = field(default_factory=list)
    member_count: int = 0


# Advisory lock class of a room's local event creation, across processes: (class, hash).
ROOM_LOCK_CLASS = 0x726F6F6D  # "room"


async def lock_room(conn: asyncpg.Connection, room_id: str) -> None:
    """Serialise, until the transaction ends, the state events and redactions every
    server process creates in the room."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", ROOM_LOCK_CLASS, room_id)


async def send_context(
    conn: Conn, room_id: str, user_id: str, device_id: str | None, endpoint: str | None, txn_id: str | None, *,
    recipients: bool = False,
) -> SendContext | None:
    """Everything a local send reads before building its event, in one query; None for
    an unknown room. ``recipients`` also reads the push recipients of a message: the
    joined local members, with their membership event JSON (display names)."""
    row = await conn.fetchrow(
        "SELECT r.room_version,"
        " (SELECT event_id FROM event_txn_ids WHERE user_id = $2 AND device_id = $3 AND room_id = $1"
        "  AND endpoint = $6 AND txn_id = $4) AS txn_event,"
        " (SELECT array_agg(e.event_id || ' ' || e.depth || ' ' || e.state_group) FROM forward_extremities f"
        "  JOIN events e USING (event_id) WHERE f.room_id = $1) AS extremities,"
        f" CASE WHEN $5 THEN {push_store.member_count_sql('$1')} END AS member_count,"
        f" CASE WHEN $5 THEN {push_store.recipients_sql('$1', 'NULL', 'NULL', 'true')}::text END AS recipients"
        " FROM rooms r WHERE r.room_id = $1",
        room_id, user_id, device_id, txn_id, recipients, endpoint,
    )
    if row is None:
        return None
    extremities = []
    for item in row["extremities"] or ():
        event_id, depth, state_group = item.split(" ")
        extremities.append((event_id, int(depth), int(state_group)))
    return SendContext(
        row["room_version"], row["txn_event"], extremities,
        push_store.parse_recipients(row["recipients"]), row["member_count"] or 0,
    )


@dataclass(frozen=True, slots=True)
class LocalTxn:
    user_id: str
    device_id: str
    endpoint: str  # the rest of the path: send/{eventType} or redact/{eventId}
    txn_id: str
    now_ms: int


@dataclass(frozen=True, slots=True)
class PushWrite:
    """Written with a message: its push actions, and its sender's read position in its
    thread."""

    thread_id: str
    notifies: Sequence[push_store.Notify]


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A local message (no state key) built on its room's single forward extremity."""

    event: NewEvent
    txn: LocalTxn | None
    push: PushWrite


async def insert_event(conn: Conn, event: NewEvent, txn: LocalTxn | None = None) -> int:
    """Persist an event in one statement: the row, its edges, the room's forward extremity,
    the client transaction ID and its full-text index entry. Return the stream position
    it drew from stream_seq (after taking the EVENTS write lock: storage/stream_locks.py).

    The event replaces its ``prev_events`` as the room's forward extremity; when they are
    not all extremities any more (another writer got there first), nothing is inserted
    and ``RoomChanged`` is raised. With a single prev event that makes the statement
    all-or-nothing on its own; with several, run it in a transaction.

    Auth edges are stored for state events only: an auth chain passes only through state
    events (every auth event is one), so a message's own auth events, needed only to
    start a chain, are read from its JSON."""
    pdu = event.pdu
    prev_events = list(pdu.get("prev_events", ()))
    stream_ordering = await conn.fetchval(
        f"WITH l AS (SELECT {_EVENTS_LOCK}),"
        " d AS (DELETE FROM forward_extremities WHERE room_id = $2 AND event_id = ANY($14::text[]) RETURNING 1),"
        " e AS ("
        "  INSERT INTO events (event_id, room_id, stream_ordering, depth, type, state_key, sender,"
        "  origin_server_ts, json, state_group, relates_to, rel_type, rejected_reason, soft_failed)"
        "  SELECT $1, $2, nextval('stream_seq'), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 FROM l"
        "  WHERE (SELECT count(*) FROM d) = cardinality($14::text[])"
        "  RETURNING stream_ordering),"
        " p AS (INSERT INTO event_edges (event_id, prev_event_id)"
        "  SELECT $1, unnest($14::text[]) FROM e ON CONFLICT DO NOTHING),"
        " a AS (INSERT INTO event_auth (event_id, auth_event_id)"
        "  SELECT $1, unnest($15::text[]) FROM e WHERE $5::text IS NOT NULL ON CONFLICT DO NOTHING),"
        " f AS (INSERT INTO forward_extremities (room_id, event_id) SELECT $2, $1 FROM e),"
        " t AS (INSERT INTO event_txn_ids (user_id, device_id, room_id, endpoint, txn_id, event_id, created_ts)"
        "  SELECT $16, $17, $2, $22, $18, $1, $19 FROM e WHERE $18::text IS NOT NULL),"
        " s AS (INSERT INTO event_search (event_id, room_id, key, vector)"
        "  SELECT $1, $2, $20, to_tsvector('simple', $21) FROM e WHERE $20::text IS NOT NULL ON CONFLICT DO NOTHING)"
        " SELECT stream_ordering FROM e",
        event.event_id, event.room_id, pdu["depth"], pdu["type"], pdu.get("state_key"), pdu["sender"],
        pdu["origin_server_ts"], event.json, event.state_group, event.relates_to, event.rel_type,
        event.rejected_reason, event.soft_failed, prev_events, list(pdu.get("auth_events", ())),
        txn.user_id if txn else None, txn.device_id if txn else None, txn.txn_id if txn else None,
        txn.now_ms if txn else None,
        event.search[0] if event.search else None, event.search[1] if event.search else None,
        txn.endpoint if txn else None,
    )
    if stream_ordering is None:
        raise RoomChanged(event.room_id)
    return stream_ordering


# Messages of different rooms, several at once (rooms.group_commit): each row as in
# insert_event (no auth edges: no state key), plus its push actions and its sender's
# read position. A row whose prev event is no longer its room's extremity is skipped.
_INSERT_MESSAGES = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::text[],
                         $8::bigint[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[],
                         $15::text[], $16::text[], $17::text[], $24::text[])
        AS i(event_id, room_id, depth, type, sender, ts, json, state_group, relates_to, rel_type, prev,
             txn_device, txn_id, txn_ts, search_key, search_text, thread_id, txn_endpoint)
),
d AS (DELETE FROM forward_extremities f USING input i WHERE f.room_id = i.room_id AND f.event_id = i.prev
      RETURNING i.event_id),
l AS (SELECT {lock}),
e AS (INSERT INTO events (event_id, room_id, stream_ordering, depth, type, sender, origin_server_ts, json,
                          state_group, relates_to, rel_type)
      SELECT event_id, room_id, nextval('stream_seq'), depth, type, sender, ts, json, state_group, relates_to,
             rel_type
      FROM input, l WHERE event_id IN (SELECT event_id FROM d)
      RETURNING event_id, stream_ordering),
x AS (SELECT i.*, e.stream_ordering FROM input i JOIN e USING (event_id)),
p AS (INSERT INTO event_edges (event_id, prev_event_id) SELECT event_id, prev FROM x ON CONFLICT DO NOTHING),
f AS (INSERT INTO forward_extremities (room_id, event_id) SELECT room_id, event_id FROM x),
t AS (INSERT INTO event_txn_ids (user_id, device_id, room_id, endpoint, txn_id, event_id, created_ts)
      SELECT sender, txn_device, room_id, txn_endpoint, txn_id, event_id, txn_ts FROM x WHERE txn_id IS NOT NULL),
s AS (INSERT INTO event_search (event_id, room_id, key, vector)
      SELECT event_id, room_id, search_key, to_tsvector('simple', search_text) FROM x
      WHERE search_key IS NOT NULL ON CONFLICT DO NOTHING),
r AS (INSERT INTO sent_read_positions (user_id, room_id, thread_id, stream_ordering)
      SELECT sender, room_id, thread_id, stream_ordering FROM x WHERE EXISTS (SELECT 1 FROM users u WHERE u.user_id = x.sender)
      ON CONFLICT (user_id, room_id, thread_id) DO UPDATE
      SET stream_ordering = GREATEST(sent_read_positions.stream_ordering, EXCLUDED.stream_ordering)),
pa AS (INSERT INTO event_push_actions (user_id, room_id, stream_ordering, event_id, thread_id, actions, notif,
                                       highlight, ts)
       SELECT n.user_id, x.room_id, x.stream_ordering, x.event_id, x.thread_id, n.actions::jsonb, n.notif,
              n.highlight, $23
       FROM unnest($18::text[], $19::text[], $20::text[], $21::boolean[], $22::boolean[])
            AS n(event_id, user_id, actions, notif, highlight)
       JOIN x USING (event_id) ON CONFLICT DO NOTHING)
SELECT event_id, stream_ordering FROM e
""".replace("{lock}", lock_sql(EVENTS_STREAM))


async def insert_messages(conn: Conn, messages: Sequence[NewMessage], now_ms: int) -> dict[str, int]:
    """Persist messages of different rooms in one statement; return the stream position
    of each one inserted, by event ID. One missing lost its room to another writer
    (``RoomChanged`` for its sender). Messages of one room must not share a call."""
    columns: list[list[Any]] = [[] for _ in range(18)]
    pushed: list[list[Any]] = [[] for _ in range(5)]
    for message in messages:
        event, txn, push = message.event, message.txn, message.push
        pdu = event.pdu
        [prev] = pdu["prev_events"]
        row = (
            event.event_id, event.room_id, pdu["depth"], pdu["type"], pdu["sender"], pdu["origin_server_ts"],
            event.json, event.state_group, event.relates_to, event.rel_type, prev,
            txn.device_id if txn else None, txn.txn_id if txn else None, txn.now_ms if txn else None,
            event.search[0] if event.search else None, event.search[1] if event.search else None, push.thread_id,
            txn.endpoint if txn else None,
        )
        for column, value in zip(columns, row):
            column.append(value)
        users, actions, notif, highlight = push_store.notify_arrays(push.notifies)
        pushed[0] += [event.event_id] * len(users)
        for column, values in zip(pushed[1:], (users, actions, notif, highlight)):
            column += values
    rows = await conn.fetch(_INSERT_MESSAGES, *columns[:17], *pushed, now_ms, columns[17])
    return {r["event_id"]: r["stream_ordering"] for r in rows}


async def txn_event(conn: Conn, user_id: str, device_id: str, room_id: str, endpoint: str, txn_id: str) -> str | None:
    """The event a client transaction produced, if it did."""
    return await conn.fetchval(
        "SELECT event_id FROM event_txn_ids WHERE user_id = $1 AND device_id = $2 AND room_id = $3"
        " AND endpoint = $4 AND txn_id = $5",
        user_id, device_id, room_id, endpoint, txn_id,
    )


async def get_event(conn: Conn, event_id: str) -> StoredEvent | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM events WHERE event_id = $1", event_id)
    return _event(row) if row else None


async def get_events(conn: Conn, event_ids: Iterable[str]) -> dict[str, StoredEvent]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM events WHERE event_id = ANY($1::text[])", list(event_ids))
    return {r["event_id"]: _event(r) for r in rows}


async def mark_redacted(conn: Conn, event: StoredEvent, redaction_id: str) -> None:
    """Record the redaction; a redacted event no longer notifies anyone (its push actions
    go, so unread counts never need to look at the event). They are found by the primary
    key (user, room, stream position), for every user who was ever in the room."""
    await conn.execute(
        "WITH a AS (DELETE FROM event_push_actions WHERE room_id = $2 AND stream_ordering = $3"
        "  AND user_id IN (SELECT user_id FROM room_memberships WHERE room_id = $2))"
        " UPDATE events SET redacted_by = $4 WHERE event_id = $1 AND redacted_by IS NULL",
        event.event_id, event.room_id, event.stream_ordering, redaction_id,
    )


async def room_events(
    conn: Conn, room_id: str, *, after: int | None, before: int | None, backwards: bool, limit: int,
    types: Sequence[str] | None = None, not_types: Sequence[str] | None = None,
    senders: Sequence[str] | None = None, not_senders: Sequence[str] | None = None,
) -> list[StoredEvent]:
    """Served events of a room strictly between two stream orderings, in the direction asked.

    ``types`` and ``not_types`` are LIKE patterns (see ``rooms.filters.type_patterns``).
    """
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM events WHERE room_id = $1"
        " AND ($2::bigint IS NULL OR stream_ordering > $2) AND ($3::bigint IS NULL OR stream_ordering < $3)"
        " AND rejected_reason IS NULL AND NOT soft_failed"
        " AND ($5::text[] IS NULL OR type LIKE ANY($5)) AND ($6::text[] IS NULL OR NOT type LIKE ANY($6))"
        " AND ($7::text[] IS NULL OR sender = ANY($7)) AND ($8::text[] IS NULL OR sender <> ALL($8))"
        f" ORDER BY stream_ordering {'DESC' if backwards else 'ASC'} LIMIT $4",
        room_id, after, before, limit, types, not_types, senders, not_senders,
    )
    return [_event(r) for r in rows]


async def events_near_time(
    conn: Conn, room_id: str, ts: int, forwards: bool, after: tuple[int, int] | None, limit: int
) -> list[StoredEvent]:
    """Served events of a room from ``ts`` on (forwards) or up to it (backwards), closest
    first; ``after`` is the (origin_server_ts, stream_ordering) of the last one already seen."""
    op, order = (">", "ASC") if forwards else ("<", "DESC")
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM events WHERE room_id = $1 AND origin_server_ts {op}= $2"
        f" AND ($3::bigint IS NULL OR (origin_server_ts, stream_ordering) {op} ($3, $4))"
        " AND rejected_reason IS NULL AND NOT soft_failed"
        f" ORDER BY origin_server_ts {order}, stream_ordering {order} LIMIT $5",
        room_id, ts, after[0] if after else None, after[1] if after else None, limit,
    )
    return [_event(r) for r in rows]


async def room_timelines(
    conn: Conn, after: dict[str, int | None], *, before: int, limit: int,
    types: Sequence[str] | None = None, not_types: Sequence[str] | None = None,
    senders: Sequence[str] | None = None, not_senders: Sequence[str] | None = None,
) -> dict[str, list[StoredEvent]]:
    """The last ``limit`` served events of each room in (after[room], before), newest
    first, in one query (the filters as in ``room_events``)."""
    rooms = list(after)
    rows = await conn.fetch(
        f"SELECT e.* FROM unnest($1::text[], $2::bigint[]) AS r(room_id, after), LATERAL ("
        f"  SELECT {_COLUMNS} FROM events WHERE room_id = r.room_id"
        "   AND (r.after IS NULL OR stream_ordering > r.after) AND stream_ordering < $3"
        "   AND rejected_reason IS NULL AND NOT soft_failed"
        "   AND ($5::text[] IS NULL OR type LIKE ANY($5)) AND ($6::text[] IS NULL OR NOT type LIKE ANY($6))"
        "   AND ($7::text[] IS NULL OR sender = ANY($7)) AND ($8::text[] IS NULL OR sender <> ALL($8))"
        "  ORDER BY stream_ordering DESC LIMIT $4) e",
        rooms, [after[r] for r in rooms], before, limit, types, not_types, senders, not_senders,
    )
    out: dict[str, list[StoredEvent]] = {room_id: [] for room_id in rooms}
    for row in rows:
        out[row["room_id"]].append(_event(row))
    return out


async def max_stream_ordering(conn: Conn) -> int:
    return await conn.fetchval("SELECT COALESCE(MAX(stream_ordering), 0) FROM events")
