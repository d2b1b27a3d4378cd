"""Push rules, push actions (what notified whom: unread counts and /notifications) and
pushers (spec: client-server-api "Push Notifications")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

Conn = asyncpg.Connection | asyncpg.Pool

MAIN = "main"


# --- push rules ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredRules:
    user_id: str
    rules: dict[str, Any]
    defaults: dict[str, Any]
    stream_id: int


async def get_push_rules(conn: Conn, user_id: str) -> StoredRules | None:
    row = await conn.fetchrow("SELECT user_id, rules, defaults, stream_id FROM push_rules WHERE user_id = $1", user_id)
    return StoredRules(**row) if row else None


async def get_push_rules_for_users(conn: Conn, user_ids: Iterable[str]) -> dict[str, StoredRules]:
    rows = await conn.fetch(
        "SELECT user_id, rules, defaults, stream_id FROM push_rules WHERE user_id = ANY($1::text[])", list(user_ids)
    )
    return {r["user_id"]: StoredRules(**r) for r in rows}


async def lock_push_rules(conn: Conn, user_id: str, empty_rules: dict[str, Any]) -> StoredRules:
    """The user's row, created if missing (with stream_id 0), locked until the caller's
    transaction ends so concurrent edits apply one after the other."""
    await conn.execute(
        "INSERT INTO push_rules (user_id, rules, defaults, stream_id) VALUES ($1, $2, '{}', 0)"
        " ON CONFLICT (user_id) DO NOTHING",
        user_id, empty_rules,
    )
    row = await conn.fetchrow(
        "SELECT user_id, rules, defaults, stream_id FROM push_rules WHERE user_id = $1 FOR UPDATE", user_id
    )
    return StoredRules(**row)


async def put_push_rules(conn: Conn, user_id: str, rules: dict[str, Any], defaults: dict[str, Any], stream_id: int) -> None:
    await conn.execute(
        "UPDATE push_rules SET rules = $2, defaults = $3, stream_id = $4 WHERE user_id = $1",
        user_id, rules, defaults, stream_id,
    )


async def push_rules_stream_id(conn: Conn, user_id: str) -> int:
    """The position of the user's latest push rules change; 0 if they never changed any."""
    return await conn.fetchval("SELECT COALESCE(max(stream_id), 0) FROM push_rules WHERE user_id = $1", user_id)


# --- evaluating an event ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recipient:
    """A local member a new event is evaluated for."""

    user_id: str
    rules_version: int
    # The JSON of their membership event, when the caller asked for display names.
    member_json: str | None
    has_pushers: bool
    # The ``ignored_users`` of their m.ignored_user_list, if any.
    ignored_users: Any

    def ignores(self, user_id: str) -> bool:
        return isinstance(self.ignored_users, dict) and user_id in self.ignored_users


def recipients_sql(room: str, sender: str, invitee: str, with_member_json: str) -> str:
    """A scalar subquery over the room's joined local members other than the sender (all
    of them if it is NULL) and a local invitee of the event, as a JSON array of
    ``[user_id, rules_version, member_json, has_pushers, ignored_users]``, or NULL; the
    arguments name the query parameters (``$1``...) holding the room ID, sender, invitee
    and the display-name flag. Parse it with ``parse_recipients``."""
    return f"""(SELECT json_agg(json_build_array(
            m.user_id, COALESCE(r.stream_id, 0), CASE WHEN {with_member_json} THEN e.json END,
            EXISTS (SELECT 1 FROM pushers p WHERE p.user_id = m.user_id),
            (SELECT d.content -> 'ignored_users' FROM account_data d WHERE d.user_id = m.user_id
             AND d.room_id = '' AND d.type = 'm.ignored_user_list')))
        FROM room_memberships m
        LEFT JOIN push_rules r ON r.user_id = m.user_id
        LEFT JOIN events e ON {with_member_json} AND e.event_id = m.event_id
        WHERE m.room_id = {room} AND m.user_id IS DISTINCT FROM {sender}
          AND (m.membership = 'join' OR (m.membership = 'invite' AND m.user_id = {invitee}))
          AND EXISTS (SELECT 1 FROM users u WHERE u.user_id = m.user_id))"""


def member_count_sql(room: str) -> str:
    return f"(SELECT count(*) FROM room_memberships WHERE room_id = {room} AND membership = 'join')"


def parse_recipients(raw: str | None) -> list[Recipient]:
    return [Recipient(*item) for item in orjson.loads(raw)] if raw else []


async def recipients_and_mark_read(
    conn: Conn, room_id: str, sender: str, invitee: str | None, thread_id: str, stream_ordering: int,
    with_member_json: bool,
) -> tuple[list[Recipient], int]:
    """In one round trip: record that the sender has read up to their own event, and
    return the room's joined local members other than the sender (and a local invitee
    of this event) with their push rules versions, and the room's joined member count."""
    row = await conn.fetchrow(
        f"""
        WITH own AS (
            INSERT INTO sent_read_positions (user_id, room_id, thread_id, stream_ordering)
            SELECT $2, $1, $4, $5 WHERE EXISTS (SELECT 1 FROM users WHERE user_id = $2)
            ON CONFLICT (user_id, room_id, thread_id) DO UPDATE
            SET stream_ordering = GREATEST(sent_read_positions.stream_ordering, EXCLUDED.stream_ordering)
        )
        SELECT {member_count_sql("$1")} AS member_count,
               {recipients_sql("$1", "$2", "$3", "$6::boolean")}::text AS recipients
        """,
        room_id, sender, invitee, thread_id, stream_ordering, with_member_json,
    )
    return parse_recipients(row["recipients"]), row["member_count"]


@dataclass(frozen=True, slots=True)
class PushAction:
    user_id: str
    room_id: str
    stream_ordering: int
    event_id: str
    thread_id: str
    actions: list[Any]
    notif: bool
    highlight: bool
    ts: int


@dataclass(frozen=True, slots=True)
class Notify:
    """What the push rules gave one recipient of an event that notifies or highlights."""

    user_id: str
    actions: list[Any]
    notif: bool
    highlight: bool


_INSERT_ACTIONS = (
    "INSERT INTO event_push_actions (user_id, room_id, stream_ordering, event_id, thread_id, actions, notif,"
    " highlight, ts) SELECT u.user_id, $2, $3, $4, $5, u.actions::jsonb, u.notif, u.highlight, $9"
    " FROM unnest($1::text[], $6::text[], $7::boolean[], $8::boolean[]) AS u(user_id, actions, notif, highlight)"
    " ON CONFLICT DO NOTHING"
)


def notify_arrays(notifies: Sequence[Notify]) -> tuple[list[str], list[str], list[bool], list[bool]]:
    """The columns of ``notifies``, as the arrays _INSERT_ACTIONS and events.insert_event
    unnest (the actions as JSON text: asyncpg would take nested lists for a 2-D array)."""
    return ([n.user_id for n in notifies], [orjson.dumps(n.actions).decode() for n in notifies],
            [n.notif for n in notifies], [n.highlight for n in notifies])


async def insert_push_actions(
    conn: Conn, room_id: str, event_id: str, stream_ordering: int, thread_id: str, ts: int,
    notifies: Sequence[Notify],
) -> None:
    users, actions, notif, highlight = notify_arrays(notifies)
    await conn.execute(_INSERT_ACTIONS, users, room_id, stream_ordering, event_id, thread_id, actions, notif,
                       highlight, ts)


async def thread_of_parent(conn: Conn, parent_id: str, max_hops: int = 3) -> str:
    """The thread an event relating to ``parent_id`` belongs to: follow relations up to
    ``max_hops`` events until an ``m.thread`` one names the root (push.md "Receiving
    notifications"); ``main`` if none does. Thread roots are in the main timeline."""
    root = await conn.fetchval(
        """
        WITH RECURSIVE up(event_id, relates_to, rel_type, hops) AS (
            SELECT event_id, relates_to, rel_type, 1 FROM events WHERE event_id = $1
            UNION ALL
            SELECT e.event_id, e.relates_to, e.rel_type, up.hops + 1 FROM events e
            JOIN up ON e.event_id = up.relates_to
            WHERE up.rel_type IS DISTINCT FROM 'm.thread' AND up.hops < $2
        )
        SELECT relates_to FROM up WHERE rel_type = 'm.thread' LIMIT 1
        """,
        parent_id, max_hops,
    )
    return root if root is not None else MAIN


# --- unread counts ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Counts:
    notification_count: int = 0
    highlight_count: int = 0

    def to_json(self) -> dict[str, int]:
        return {"notification_count": self.notification_count, "highlight_count": self.highlight_count}

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.notification_count + other.notification_count, self.highlight_count + other.highlight_count
        )


@dataclass(frozen=True, slots=True)
class UnreadCounts:
    """A user's unread notifications in one room (spec: /sync ``unread_notifications``
    and ``unread_thread_notifications``)."""

    main: Counts = Counts()
    # Thread root event ID -> counts; only threads with something unread.
    threads: dict[str, Counts] = field(default_factory=dict)

    @property
    def room(self) -> Counts:
        """The whole room, threads included: ``unread_notifications`` for a client that
        did not ask for ``unread_thread_notifications``."""
        total = self.main
        for counts in self.threads.values():
            total = total + counts
        return total

    def to_sync_json(self, threaded: bool) -> dict[str, Any]:
        """The room's ``unread_notifications`` (and ``unread_thread_notifications``)."""
        if not threaded:
            return {"unread_notifications": self.room.to_json()}
        out: dict[str, Any] = {"unread_notifications": self.main.to_json()}
        if self.threads:
            out["unread_thread_notifications"] = {t: c.to_json() for t, c in self.threads.items()}
        return out


# Per room, the read positions (furthest receipt of either type, or own event) by thread;
# an event counts when it is past both the room's unthreaded position and its thread's,
# and is not a message from a user the reader ignores (redacted events have no push
# actions left: events.mark_redacted). The range scan starts at the unthreaded position,
# on the primary key; the events are looked at only when the reader ignores someone.
_UNREAD = """
WITH positions AS (
    SELECT room_id, thread_id, max(position) AS position FROM (
        SELECT room_id, thread_id, event_stream_ordering AS position FROM receipts
        WHERE user_id = $1 AND room_id = ANY($2::text[])
        UNION ALL
        SELECT room_id, thread_id, stream_ordering FROM sent_read_positions
        WHERE user_id = $1 AND room_id = ANY($2::text[])
    ) p GROUP BY room_id, thread_id
)
SELECT a.room_id, a.thread_id, count(*) FILTER (WHERE a.notif) AS notifications,
       count(*) FILTER (WHERE a.highlight) AS highlights
FROM (SELECT DISTINCT unnest($2::text[])) AS r(room_id)
JOIN event_push_actions a ON a.user_id = $1 AND a.room_id = r.room_id AND a.stream_ordering > COALESCE(
    (SELECT position FROM positions p WHERE p.room_id = r.room_id AND p.thread_id = ''), 0)
WHERE a.stream_ordering > COALESCE(
        (SELECT position FROM positions p WHERE p.room_id = a.room_id AND p.thread_id = a.thread_id), 0)
  AND (NOT EXISTS (SELECT 1 FROM account_data WHERE user_id = $1 AND room_id = '' AND type = 'm.ignored_user_list'
                   AND content -> 'ignored_users' <> '{}')
       OR NOT EXISTS (SELECT 1 FROM events e, account_data d WHERE e.event_id = a.event_id AND e.state_key IS NULL
                      AND d.user_id = $1 AND d.room_id = '' AND d.type = 'm.ignored_user_list'
                      AND d.content -> 'ignored_users' ? e.sender))
GROUP BY a.room_id, a.thread_id
"""


async def unread_counts(conn: Conn, user_id: str, room_ids: Sequence[str]) -> dict[str, UnreadCounts]:
    """Unread notification and highlight counts of each room, main timeline and each
    thread, in one query. Redacted events and messages from ignored users no longer
    count. Rooms with nothing unread map to zero counts."""
    rows = await conn.fetch(_UNREAD, user_id, list(room_ids))
    main: dict[str, Counts] = {}
    threads: dict[str, dict[str, Counts]] = {}
    for r in rows:
        counts = Counts(r["notifications"], r["highlights"])
        if counts == Counts():
            continue
        if r["thread_id"] == MAIN:
            main[r["room_id"]] = counts
        else:
            threads.setdefault(r["room_id"], {})[r["thread_id"]] = counts
    return {
        room_id: UnreadCounts(main.get(room_id, Counts()), threads.get(room_id, {})) for room_id in room_ids
    }


async def total_unread(conn: Conn, user_id: str) -> int:
    """Unread notifications across every room the user is joined to (a pusher's badge)."""
    rooms = await conn.fetch(
        "SELECT room_id FROM room_memberships WHERE user_id = $1 AND membership = 'join'", user_id
    )
    counts = await unread_counts(conn, user_id, [r["room_id"] for r in rooms])
    return sum(c.room.notification_count for c in counts.values())


# --- /notifications ---------------------------------------------------------------------


async def notifications_page(
    conn: Conn, user_id: str, before: int | None, limit: int, only_highlight: bool
) -> list[PushAction]:
    """The user's notifications, newest first, strictly before a stream ordering."""
    rows = await conn.fetch(
        "SELECT user_id, room_id, stream_ordering, event_id, thread_id, actions, notif, highlight, ts"
        " FROM event_push_actions WHERE user_id = $1 AND ($2::bigint IS NULL OR stream_ordering < $2)"
        " AND (CASE WHEN $4 THEN highlight ELSE notif END)"
        " ORDER BY stream_ordering DESC LIMIT $3",
        user_id, before, limit, only_highlight,
    )
    return [PushAction(**r) for r in rows]


async def pending_push_actions(conn: Conn, user_id: str, after: int, upto: int, limit: int) -> list[PushAction]:
    """Notifying actions a pusher has yet to send, oldest first."""
    rows = await conn.fetch(
        "SELECT user_id, room_id, stream_ordering, event_id, thread_id, actions, notif, highlight, ts"
        " FROM event_push_actions WHERE user_id = $1 AND stream_ordering > $2 AND stream_ordering <= $3 AND notif"
        " ORDER BY stream_ordering LIMIT $4",
        user_id, after, upto, limit,
    )
    return [PushAction(**r) for r in rows]


# --- pushers ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pusher:
    id: int
    user_id: str
    kind: str
    app_id: str
    pushkey: str
    app_display_name: str
    device_display_name: str
    profile_tag: str | None
    lang: str
    data: dict[str, Any]
    pushkey_ts: int
    device_id: str | None
    last_stream_ordering: int

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pushkey": self.pushkey, "kind": self.kind, "app_id": self.app_id,
            "app_display_name": self.app_display_name, "device_display_name": self.device_display_name,
            "lang": self.lang, "data": self.data,
        }
        if self.profile_tag is not None:
            out["profile_tag"] = self.profile_tag
        return out


_PUSHER_COLUMNS = (
    "id, user_id, kind, app_id, pushkey, app_display_name, device_display_name, profile_tag, lang, data,"
    " pushkey_ts, device_id, last_stream_ordering"
)


@dataclass(frozen=True, slots=True)
class NewPusher:
    user_id: str
    kind: str
    app_id: str
    pushkey: str
    app_display_name: str
    device_display_name: str
    profile_tag: str | None
    lang: str
    data: dict[str, Any]
    device_id: str | None


async def upsert_pusher(conn: Conn, pusher: NewPusher, now_ms: int, start_after: int) -> None:
    """Create or update the user's pusher for (app_id, pushkey). A new pusher sends
    notifications of events after ``start_after``; an updated one keeps its place."""
    await conn.execute(
        "INSERT INTO pushers (user_id, kind, app_id, pushkey, app_display_name, device_display_name, profile_tag,"
        " lang, data, pushkey_ts, device_id, last_stream_ordering) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
        " $11, $12) ON CONFLICT (user_id, app_id, pushkey) DO UPDATE SET kind = EXCLUDED.kind,"
        " app_display_name = EXCLUDED.app_display_name, device_display_name = EXCLUDED.device_display_name,"
        " profile_tag = EXCLUDED.profile_tag, lang = EXCLUDED.lang, data = EXCLUDED.data,"
        " pushkey_ts = EXCLUDED.pushkey_ts, device_id = EXCLUDED.device_id",
        pusher.user_id, pusher.kind, pusher.app_id, pusher.pushkey, pusher.app_display_name,
        pusher.device_display_name, pusher.profile_tag, pusher.lang, pusher.data, now_ms, pusher.device_id,
        start_after,
    )


async def delete_pusher(conn: Conn, user_id: str, app_id: str, pushkey: str) -> None:
    await conn.execute(
        "DELETE FROM pushers WHERE user_id = $1 AND app_id = $2 AND pushkey = $3", user_id, app_id, pushkey
    )


async def delete_other_users_pushers(conn: Conn, user_id: str, app_id: str, pushkey: str) -> None:
    await conn.execute(
        "DELETE FROM pushers WHERE app_id = $2 AND pushkey = $3 AND user_id <> $1", user_id, app_id, pushkey
    )


async def delete_pushkeys(conn: Conn, app_id: str, pushkeys: Sequence[str]) -> None:
    """Pushkeys a gateway rejected (push_notifier.yaml: "remove the associated pushers")."""
    await conn.execute(
        "DELETE FROM pushers WHERE app_id = $1 AND pushkey = ANY($2::text[])", app_id, list(pushkeys)
    )


async def pushers_for_user(conn: Conn, user_id: str) -> list[Pusher]:
    rows = await conn.fetch(f"SELECT {_PUSHER_COLUMNS} FROM pushers WHERE user_id = $1 ORDER BY id", user_id)
    return [Pusher(**r) for r in rows]


async def get_pusher(conn: Conn, pusher_id: int) -> Pusher | None:
    row = await conn.fetchrow(f"SELECT {_PUSHER_COLUMNS} FROM pushers WHERE id = $1", pusher_id)
    return Pusher(**row) if row else None


async def pushers_with_pending(conn: Conn, upto: int) -> list[int]:
    """IDs of the pushers that have notifications up to ``upto`` still to send."""
    rows = await conn.fetch(
        "SELECT p.id FROM pushers p WHERE EXISTS (SELECT 1 FROM event_push_actions a WHERE a.user_id = p.user_id"
        " AND a.stream_ordering > p.last_stream_ordering AND a.stream_ordering <= $1 AND a.notif) ORDER BY p.id",
        upto,
    )
    return [r["id"] for r in rows]


async def advance_pusher(conn: Conn, pusher_id: int, stream_ordering: int) -> None:
    await conn.execute(
        "UPDATE pushers SET last_stream_ordering = GREATEST(last_stream_ordering, $2) WHERE id = $1",
        pusher_id, stream_ordering,
    )


async def room_push_state(conn: Conn, room_id: str, sender: str) -> dict[str, str]:
    """The JSON of the room's current, unredacted m.room.name and m.room.canonical_alias
    events and of the sender's member event, by event type."""
    rows = await conn.fetch(
        "SELECT c.type, e.json FROM current_state c JOIN events e ON e.event_id = c.event_id"
        " WHERE c.room_id = $1 AND ((c.type IN ('m.room.name', 'm.room.canonical_alias') AND c.state_key = '')"
        " OR (c.type = 'm.room.member' AND c.state_key = $2)) AND e.redacted_by IS NULL",
        room_id, sender,
    )
    return {r["type"]: r["json"] for r in rows}
