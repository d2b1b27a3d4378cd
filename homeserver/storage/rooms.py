"""Rooms, memberships, aliases and reports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True, slots=True)
class Membership:
    room_id: str
    user_id: str
    membership: str
    event_id: str
    sender: str
    stream_ordering: int


async def insert_room(conn: Conn, room_id: str, room_version: str, creator: str, now_ms: int) -> None:
    await conn.execute(
        "INSERT INTO rooms (room_id, room_version, creator, created_ts) VALUES ($1, $2, $3, $4)",
        room_id, room_version, creator, now_ms,
    )


async def set_public(conn: Conn, room_id: str, is_public: bool) -> None:
    await conn.execute("UPDATE rooms SET is_public = $2 WHERE room_id = $1", room_id, is_public)


async def get_room_version(conn: Conn, room_id: str) -> str | None:
    return await conn.fetchval("SELECT room_version FROM rooms WHERE room_id = $1", room_id)


async def set_membership(
    conn: Conn, room_id: str, user_id: str, membership: str, event_id: str, sender: str, stream_ordering: int
) -> None:
    await conn.execute(
        "INSERT INTO room_memberships (user_id, room_id, membership, event_id, sender, stream_ordering)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id, room_id) DO UPDATE SET"
        " membership = EXCLUDED.membership, event_id = EXCLUDED.event_id, sender = EXCLUDED.sender,"
        " stream_ordering = EXCLUDED.stream_ordering, forgotten = FALSE",
        user_id, room_id, membership, event_id, sender, stream_ordering,
    )


async def get_membership(conn: Conn, room_id: str, user_id: str) -> Membership | None:
    row = await conn.fetchrow(
        "SELECT room_id, user_id, membership, event_id, sender, stream_ordering FROM room_memberships"
        " WHERE room_id = $1 AND user_id = $2",
        room_id, user_id,
    )
    return Membership(**row) if row else None


async def memberships_in(conn: Conn, user_id: str, room_ids: Iterable[str]) -> dict[str, Membership]:
    """The user's current membership in each of these rooms where they have one."""
    rows = await conn.fetch(
        "SELECT room_id, user_id, membership, event_id, sender, stream_ordering FROM room_memberships"
        " WHERE user_id = $1 AND room_id = ANY($2::text[])",
        user_id, list(room_ids),
    )
    return {r["room_id"]: Membership(**r) for r in rows}


async def rooms_for_user(conn: Conn, user_id: str, memberships: tuple[str, ...] = ("join",)) -> list[Membership]:
    rows = await conn.fetch(
        "SELECT room_id, user_id, membership, event_id, sender, stream_ordering FROM room_memberships"
        " WHERE user_id = $1 AND membership = ANY($2::text[]) AND NOT forgotten ORDER BY stream_ordering",
        user_id, list(memberships),
    )
    return [Membership(**r) for r in rows]


async def members(conn: Conn, room_id: str, memberships: tuple[str, ...] = ("join",)) -> list[Membership]:
    rows = await conn.fetch(
        "SELECT room_id, user_id, membership, event_id, sender, stream_ordering FROM room_memberships"
        " WHERE room_id = $1 AND membership = ANY($2::text[]) ORDER BY user_id",
        room_id, list(memberships),
    )
    return [Membership(**r) for r in rows]


async def forget(conn: Conn, room_id: str, user_id: str) -> None:
    await conn.execute(
        "UPDATE room_memberships SET forgotten = TRUE WHERE room_id = $1 AND user_id = $2", room_id, user_id
    )


async def shared_rooms(conn: Conn, user_a: str, user_b: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT a.room_id FROM room_memberships a JOIN room_memberships b USING (room_id)"
        " WHERE a.user_id = $1 AND b.user_id = $2 AND a.membership = 'join' AND b.membership = 'join'"
        " ORDER BY a.room_id",
        user_a, user_b,
    )
    return [r["room_id"] for r in rows]


async def insert_alias(conn: Conn, alias: str, room_id: str, creator: str) -> bool:
    status = await conn.execute(
        "INSERT INTO room_aliases (room_alias, room_id, creator) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        alias, room_id, creator,
    )
    return status == "INSERT 0 1"


async def get_alias(conn: Conn, alias: str) -> tuple[str, str] | None:
    """(room_id, creator) of an alias."""
    row = await conn.fetchrow("SELECT room_id, creator FROM room_aliases WHERE room_alias = $1", alias)
    return (row["room_id"], row["creator"]) if row else None


async def move_aliases(conn: Conn, old_room_id: str, new_room_id: str) -> list[str]:
    """Point every alias of one room at another (a room upgrade)."""
    rows = await conn.fetch(
        "UPDATE room_aliases SET room_id = $2 WHERE room_id = $1 RETURNING room_alias", old_room_id, new_room_id
    )
    return sorted(r["room_alias"] for r in rows)


async def delete_alias(conn: Conn, alias: str) -> None:
    await conn.execute("DELETE FROM room_aliases WHERE room_alias = $1", alias)


async def aliases_for_room(conn: Conn, room_id: str) -> list[str]:
    rows = await conn.fetch("SELECT room_alias FROM room_aliases WHERE room_id = $1 ORDER BY room_alias", room_id)
    return [r["room_alias"] for r in rows]


async def is_public(conn: Conn, room_id: str) -> bool | None:
    """Whether a room is published in the room directory; None for an unknown room."""
    return await conn.fetchval("SELECT is_public FROM rooms WHERE room_id = $1", room_id)


async def joined_servers(conn: Conn, room_id: str) -> list[str]:
    """The server names of the room's joined members, sorted."""
    rows = await conn.fetch(
        "SELECT DISTINCT substr(user_id, strpos(user_id, ':') + 1) AS server_name FROM room_memberships"
        " WHERE room_id = $1 AND membership = 'join' ORDER BY server_name",
        room_id,
    )
    return [r["server_name"] for r in rows]


@dataclass(frozen=True, slots=True)
class PublishedRoom:
    room_id: str
    num_joined_members: int
    # Content of the room's current state events with an empty state key, by type; None
    # for an event whose content redaction removed.
    state: dict[str, dict | None]


@dataclass(frozen=True, slots=True)
class PublishedRoomsQuery:
    limit: int
    # Keyset cursor (num_joined_members, room_id) and direction; None: the first page.
    after: tuple[int, str] | None = None
    backwards: bool = False
    # Case-insensitive substring of the name, topic or canonical alias.
    search_term: str | None = None
    # Room types to include (create content "type"); None: all. ``include_untyped``
    # admits rooms without a type.
    room_types: tuple[str, ...] | None = None
    include_untyped: bool = True


# State whose content the directory entry is built from.
DIRECTORY_STATE_TYPES = (
    "m.room.create", "m.room.name", "m.room.topic", "m.room.canonical_alias", "m.room.avatar",
    "m.room.join_rules", "m.room.history_visibility", "m.room.guest_access",
)

# Published rooms that anyone could join or read, with at least one joined member (as
# Synapse lists them); ordered by joined members, largest first, then room ID. Redaction
# keeps the join rule and history visibility, and a v11+ create event's whole content;
# other redacted content counts as unset. So does the content of an event whose JSON
# holds an escape jsonb refuses (\u0000, lone surrogates): one such event must not take
# the whole directory down. $1: the room versions with pre-v11 redaction.
_PUBLISHED = """
WITH published AS (
    SELECT r.room_id, r.room_version,
           (SELECT count(*) FROM room_memberships m WHERE m.room_id = r.room_id AND m.membership = 'join')
               AS num_joined_members
    FROM rooms r WHERE r.is_public
),
entries AS (
    SELECT p.room_id, p.num_joined_members,
           COALESCE(jsonb_object_agg(c.type, CASE
               WHEN (e.redacted_by IS NULL
                     OR c.type IN ('m.room.join_rules', 'm.room.history_visibility')
                     OR (c.type = 'm.room.create' AND NOT p.room_version = ANY($1::text[])))
                    AND e.json !~* $9
               THEN e.json::jsonb -> 'content' END) FILTER (WHERE c.type IS NOT NULL), '{{}}') AS state
    FROM published p
    LEFT JOIN current_state c ON c.room_id = p.room_id AND c.state_key = '' AND c.type = ANY($2::text[])
    LEFT JOIN events e ON e.event_id = c.event_id
    WHERE p.num_joined_members > 0
    GROUP BY p.room_id, p.num_joined_members
),
listed AS (
    SELECT * FROM entries
    WHERE (state -> 'm.room.join_rules' ->> 'join_rule' IN ('public', 'knock', 'knock_restricted')
           OR state -> 'm.room.history_visibility' ->> 'history_visibility' = 'world_readable')
      AND ($3::text IS NULL
           OR strpos(lower(state -> 'm.room.name' ->> 'name'), $3) > 0
           OR strpos(lower(state -> 'm.room.topic' ->> 'topic'), $3) > 0
           OR strpos(lower(state -> 'm.room.canonical_alias' ->> 'alias'), $3) > 0)
      AND ($4::text[] IS NULL
           OR CASE WHEN jsonb_typeof(state -> 'm.room.create' -> 'type') = 'string'
                   THEN state -> 'm.room.create' ->> 'type' = ANY($4::text[]) ELSE $5::boolean END)
)
SELECT t.total, page.* FROM (SELECT count(*) AS total FROM listed) t
LEFT JOIN LATERAL (
    SELECT room_id, num_joined_members, state FROM listed
    WHERE $6::bigint IS NULL OR {cursor}
    ORDER BY {order} LIMIT $8
) page ON TRUE
"""
# A \u0000 or surrogate escape in JSON text: after an even number of backslashes (none
# included), so an escaped backslash followed by "u0000" is not one.
_JSONB_UNSAFE_ESCAPE = r"(^|[^\\])(\\\\)*\\u(0000|d[89a-f])"
_FORWARD = ("(num_joined_members < $6 OR (num_joined_members = $6 AND room_id > $7))",
            "num_joined_members DESC, room_id ASC")
_BACKWARD = ("(num_joined_members > $6 OR (num_joined_members = $6 AND room_id < $7))",
             "num_joined_members ASC, room_id DESC")


async def published_rooms(
    conn: Conn, query: PublishedRoomsQuery, pre_v11_versions: list[str]
) -> tuple[list[PublishedRoom], int]:
    """One page of the room directory in the direction asked (nearest the cursor first),
    and how many rooms the whole listing holds."""
    cursor, order = _BACKWARD if query.backwards else _FORWARD
    after_count, after_room = query.after if query.after is not None else (None, None)
    rows = await conn.fetch(
        _PUBLISHED.format(cursor=cursor, order=order),
        pre_v11_versions, list(DIRECTORY_STATE_TYPES),
        query.search_term.lower() if query.search_term else None,
        list(query.room_types) if query.room_types is not None else None, query.include_untyped,
        after_count, after_room, query.limit, _JSONB_UNSAFE_ESCAPE,
    )
    page = [PublishedRoom(r["room_id"], r["num_joined_members"], r["state"]) for r in rows if r["room_id"]]
    return page, rows[0]["total"]
