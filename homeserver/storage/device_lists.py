"""Device-list changes: who must re-read whose keys (spec: client-server-api "Tracking
the device list for a user", "Extensions to /sync").

Which users hear of a change: those who share an *encrypted* room with its user (both
joined), as the spec's ``DeviceLists`` and "Cross-signing" sections say ("all users who
share an encrypted room with her"), and the user themselves (their other devices). The
tracking section speaks of sharing "a room", but clients track only the members of
their encrypted rooms, so changes are not sent where nothing is encrypted. A user enters
``changed`` also when they start sharing an encrypted room with the reader (they join
one of the reader's, the reader joins one of theirs, or a shared room turns encryption
on), and ``left`` when the last shared encrypted room goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool

# A room is encrypted once it has an m.room.encryption state event (which cannot be undone).
ENCRYPTED = (
    "EXISTS (SELECT 1 FROM current_state cs WHERE cs.room_id = {0}.room_id"
    " AND cs.type = 'm.room.encryption' AND cs.state_key = '')"
)


async def record_change(conn: Conn, user_ids: Sequence[str], position: int, observer: str | None = None) -> list[str]:
    """Record that these users' devices or keys changed at ``position`` (``observer``: a
    change only that user may hear of); return the encrypted rooms the users are joined
    to, whose members' /syncs the change concerns."""
    await conn.execute(
        "INSERT INTO device_list_changes (user_id, stream_id, observer) SELECT u, $2, $3 FROM unnest($1::text[]) u",
        list(user_ids), position, observer,
    )
    if observer is not None:
        return []
    rows = await conn.fetch(
        "SELECT DISTINCT m.room_id FROM room_memberships m WHERE m.user_id = ANY($1::text[])"
        f" AND m.membership = 'join' AND {ENCRYPTED.format('m')}",
        list(user_ids),
    )
    return [r["room_id"] for r in rows]


@dataclass(frozen=True, slots=True)
class DeviceListChanges:
    changed: list[str]
    left: list[str]


# The reader's joined encrypted rooms, then the users whose keys changed in (since, upto]
# of the device-list stream and who are the reader or share one of those rooms.
_KEY_CHANGES = f"""
WITH mine AS (
    SELECT room_id FROM room_memberships m WHERE m.user_id = $1 AND m.membership = 'join' AND {ENCRYPTED.format('m')}
)
SELECT DISTINCT d.user_id FROM device_list_changes d
WHERE d.stream_id > $2 AND d.stream_id <= $3
AND (d.observer = $1 OR (d.observer IS NULL AND (d.user_id = $1 OR EXISTS (
    SELECT 1 FROM room_memberships theirs WHERE theirs.user_id = d.user_id AND theirs.membership = 'join'
    AND theirs.room_id IN (SELECT room_id FROM mine)))))
"""

# Membership changes in (since, upto] of the room-event stream. New: the other members
# of each of the reader's encrypted rooms that the reader joined, that another member
# joined, or that turned encryption on in the window. Gone: users whose membership in an
# encrypted room the reader is joined to ended in the window, and the members of the
# encrypted rooms the reader left; kept only if no shared encrypted room remains.
_MEMBERSHIP_CHANGES = f"""
WITH mine AS (
    SELECT m.room_id, m.stream_ordering > $2 AND m.stream_ordering <= $3 AS joined_now,
        EXISTS (SELECT 1 FROM current_state cs JOIN events e ON e.event_id = cs.event_id
                WHERE cs.room_id = m.room_id AND cs.type = 'm.room.encryption' AND cs.state_key = ''
                AND e.stream_ordering > $2 AND e.stream_ordering <= $3) AS encrypted_now
    FROM room_memberships m WHERE m.user_id = $1 AND m.membership = 'join' AND {ENCRYPTED.format('m')}
), left_rooms AS (
    SELECT room_id FROM room_memberships m WHERE m.user_id = $1 AND m.membership IN ('leave', 'ban')
    AND m.stream_ordering > $2 AND m.stream_ordering <= $3 AND {ENCRYPTED.format('m')}
), new AS (
    SELECT DISTINCT theirs.user_id FROM mine JOIN room_memberships theirs ON theirs.room_id = mine.room_id
    WHERE theirs.membership = 'join' AND theirs.user_id <> $1
    AND (mine.joined_now OR mine.encrypted_now OR (theirs.stream_ordering > $2 AND theirs.stream_ordering <= $3))
), gone AS (
    SELECT theirs.user_id FROM mine JOIN room_memberships theirs ON theirs.room_id = mine.room_id
    WHERE theirs.membership <> 'join' AND theirs.stream_ordering > $2 AND theirs.stream_ordering <= $3
    UNION
    SELECT theirs.user_id FROM left_rooms JOIN room_memberships theirs ON theirs.room_id = left_rooms.room_id
    WHERE theirs.membership = 'join'
)
SELECT user_id, FALSE AS gone FROM new
UNION ALL
SELECT g.user_id, TRUE FROM gone g WHERE g.user_id <> $1 AND NOT EXISTS (
    SELECT 1 FROM room_memberships a JOIN room_memberships b ON b.room_id = a.room_id
    WHERE a.user_id = $1 AND a.membership = 'join' AND b.user_id = g.user_id AND b.membership = 'join'
    AND {ENCRYPTED.format('a')})
"""


async def changes(
    conn: Conn, user_id: str, keys: tuple[int, int], events: tuple[int, int] | None
) -> DeviceListChanges:
    """``device_lists`` for ``user_id``: key changes in the device-list stream window
    ``keys``, and (when ``events`` is given) the encrypted rooms shared or no longer shared
    in that room-event stream window."""
    changed = {r["user_id"] for r in await conn.fetch(_KEY_CHANGES, user_id, *keys)} if keys[0] < keys[1] else set()
    left: set[str] = set()
    if events is not None and events[0] < events[1]:
        for r in await conn.fetch(_MEMBERSHIP_CHANGES, user_id, *events):
            (left if r["gone"] else changed).add(r["user_id"])
    return DeviceListChanges(sorted(changed - left), sorted(left))
