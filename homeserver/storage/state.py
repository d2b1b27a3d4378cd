"""State snapshots as delta chains, and each room's current state.

A state group is its ``prev_group`` plus the entries stored under it, nearest first.
Chains are bounded (``MAX_CHAIN``): past it a full snapshot starts a new chain, so
reading a group's state is one recursive query of bounded depth while storage grows with
the changes, not with room size times event count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool
StateKey = tuple[str, str]
StateMap = dict[StateKey, str]

MAX_CHAIN = 100

_CHAIN = """
WITH RECURSIVE chain(id, prev, pos) AS (
    SELECT id, prev_group, 0 FROM state_groups WHERE id = $1
    UNION ALL
    SELECT g.id, g.prev_group, c.pos + 1 FROM state_groups g JOIN chain c ON g.id = c.prev
)
"""


async def get_state(conn: Conn, state_group: int) -> StateMap:
    rows = await conn.fetch(
        _CHAIN + "SELECT DISTINCT ON (e.type, e.state_key) e.type, e.state_key, e.event_id"
        " FROM chain c JOIN state_group_entries e ON e.state_group = c.id"
        " ORDER BY e.type, e.state_key, c.pos",
        state_group,
    )
    return {(r["type"], r["state_key"]): r["event_id"] for r in rows}


async def get_state_entries(conn: Conn, state_group: int, keys: Iterable[StateKey]) -> StateMap:
    """Only the given keys of a group's state (e.g. history visibility and one member)."""
    keys = list(keys)
    rows = await conn.fetch(
        _CHAIN + "SELECT DISTINCT ON (e.type, e.state_key) e.type, e.state_key, e.event_id"
        " FROM chain c JOIN state_group_entries e ON e.state_group = c.id"
        " JOIN unnest($2::text[], $3::text[]) AS k(type, state_key)"
        "   ON k.type = e.type AND k.state_key = e.state_key"
        " ORDER BY e.type, e.state_key, c.pos",
        state_group, [k[0] for k in keys], [k[1] for k in keys],
    )
    return {(r["type"], r["state_key"]): r["event_id"] for r in rows}


async def get_state_of_type(conn: Conn, state_group: int, event_type: str) -> StateMap:
    rows = await conn.fetch(
        _CHAIN + "SELECT DISTINCT ON (e.state_key) e.type, e.state_key, e.event_id"
        " FROM chain c JOIN state_group_entries e ON e.state_group = c.id WHERE e.type = $2"
        " ORDER BY e.state_key, c.pos",
        state_group, event_type,
    )
    return {(r["type"], r["state_key"]): r["event_id"] for r in rows}


async def create_state_group(
    conn: Conn, room_id: str, prev_group: int | None, delta: Mapping[StateKey, str],
    full_state: Mapping[StateKey, str] | None = None,
) -> int:
    """Store a new group as ``prev_group`` + ``delta``; or as ``full_state`` when there is
    no previous group or its chain is at its bound (the caller passes the full state then)."""
    chain_length = 0
    if prev_group is not None:
        chain_length = await conn.fetchval("SELECT chain_length FROM state_groups WHERE id = $1", prev_group) + 1
    if prev_group is None or chain_length > MAX_CHAIN:
        if full_state is None:
            full_state = {**(await get_state(conn, prev_group) if prev_group is not None else {}), **delta}
        prev_group, chain_length, delta = None, 0, full_state
    group = await conn.fetchval(
        "INSERT INTO state_groups (room_id, prev_group, chain_length) VALUES ($1, $2, $3) RETURNING id",
        room_id, prev_group, chain_length,
    )
    await conn.executemany(
        "INSERT INTO state_group_entries (state_group, type, state_key, event_id) VALUES ($1, $2, $3, $4)",
        [(group, t, k, e) for (t, k), e in delta.items()],
    )
    return group


async def get_current_state(conn: Conn, room_id: str) -> StateMap:
    rows = await conn.fetch("SELECT type, state_key, event_id FROM current_state WHERE room_id = $1", room_id)
    return {(r["type"], r["state_key"]): r["event_id"] for r in rows}


async def get_current_state_entries(conn: Conn, room_id: str, keys: Iterable[StateKey]) -> StateMap:
    keys = list(keys)
    rows = await conn.fetch(
        "SELECT c.type, c.state_key, c.event_id FROM current_state c"
        " JOIN unnest($2::text[], $3::text[]) AS k(type, state_key)"
        "   ON k.type = c.type AND k.state_key = c.state_key"
        " WHERE c.room_id = $1",
        room_id, [k[0] for k in keys], [k[1] for k in keys],
    )
    return {(r["type"], r["state_key"]): r["event_id"] for r in rows}


async def set_current_state(conn: Conn, room_id: str, changes: Mapping[StateKey, str]) -> None:
    await conn.executemany(
        "INSERT INTO current_state (room_id, type, state_key, event_id) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = EXCLUDED.event_id",
        [(room_id, t, k, e) for (t, k), e in changes.items()],
    )


async def replace_current_state(conn: Conn, room_id: str, state: Mapping[StateKey, str]) -> None:
    """After state resolution the whole current state may change, entries removed included."""
    await conn.execute("DELETE FROM current_state WHERE room_id = $1", room_id)
    await set_current_state(conn, room_id, state)


async def get_state_entries_for_groups(
    conn: Conn, state_groups: Iterable[int], keys: Iterable[StateKey]
) -> dict[int, StateMap]:
    """The given keys of many groups' states at once: {group: {key: event_id}}."""
    keys = list(keys)
    rows = await conn.fetch(
        """
        WITH RECURSIVE chain(origin, id, prev, pos) AS (
            SELECT id, id, prev_group, 0 FROM state_groups WHERE id = ANY($1::bigint[])
            UNION ALL
            SELECT c.origin, g.id, g.prev_group, c.pos + 1 FROM state_groups g JOIN chain c ON g.id = c.prev
        )
        SELECT DISTINCT ON (c.origin, e.type, e.state_key) c.origin, e.type, e.state_key, e.event_id
        FROM chain c JOIN state_group_entries e ON e.state_group = c.id
        JOIN unnest($2::text[], $3::text[]) AS k(type, state_key) ON k.type = e.type AND k.state_key = e.state_key
        ORDER BY c.origin, e.type, e.state_key, c.pos
        """,
        list(set(state_groups)), [k[0] for k in keys], [k[1] for k in keys],
    )
    out: dict[int, StateMap] = {}
    for r in rows:
        out.setdefault(r["origin"], {})[(r["type"], r["state_key"])] = r["event_id"]
    return out
