"""History visibility (spec: client-server-api "Room History Visibility"), enforced on
every read path: an event is served to a user only if one of these holds, judged by the
room's state at the event:

1. history_visibility is ``world_readable``;
2. the user's membership at the event was ``join``;
3. history_visibility is ``shared`` and the user is joined now;
4. history_visibility is ``invited`` and the user's membership at the event was ``invite``.

A user always sees their own membership events, so a client sees why it left a room.
Messages (non-state events) from users in the reader's ``m.ignored_user_list`` are dropped
(spec: "Ignoring Users"): blocking hides them everywhere history is read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from homeserver.errors import MatrixError
from homeserver.storage import account_data as account_data_store
from homeserver.storage import events as event_store
from homeserver.storage import rooms as room_store
from homeserver.storage import state as state_store
from homeserver.storage.events import StoredEvent

HISTORY_KEY = ("m.room.history_visibility", "")


def _visibility_of(event: StoredEvent | None) -> str:
    value = event.pdu["content"].get("history_visibility") if event else None
    return value if value in ("world_readable", "shared", "invited", "joined") else "shared"


def _membership_of(event: StoredEvent | None) -> str:
    value = event.pdu["content"].get("membership") if event else None
    return value if isinstance(value, str) else "leave"


async def filter_events(
    conn: Any, user_id: str, events: Sequence[StoredEvent], *,
    ignored: frozenset[str] | None = None, memberships: Mapping[str, room_store.Membership] | None = None,
) -> list[StoredEvent]:
    """The events the user may see, in the order given.

    ``ignored`` (the user's ignore list) and ``memberships`` (their current membership by
    room) save queries when the caller has them already.
    """
    if not events:
        return []
    if ignored is None:
        ignored = await ignored_users(conn, user_id)
    if ignored:
        events = [e for e in events if e.is_state or e.sender not in ignored]
    if memberships is None:
        memberships = await room_store.memberships_in(conn, user_id, {e.room_id for e in events})
    # Fast path: after a user's latest membership event, while that membership is a
    # join, their membership at every event is join: visible without a state lookup.
    joined_since = {r: m.stream_ordering for r, m in memberships.items() if m.membership == "join"}
    if all(e.room_id in joined_since and e.stream_ordering > joined_since[e.room_id] for e in events):
        return list(events)
    member_key = ("m.room.member", user_id)
    groups = {e.state_group for e in events}
    entries = await state_store.get_state_entries_for_groups(conn, groups, [HISTORY_KEY, member_key])
    state_events = await event_store.get_events(conn, {eid for m in entries.values() for eid in m.values()})
    visible = []
    for event in events:
        at = entries.get(event.state_group, {})
        visibility = _visibility_of(state_events.get(at.get(HISTORY_KEY, "")))
        membership = _membership_of(state_events.get(at.get(member_key, "")))
        if event.type == "m.room.member" and event.state_key == user_id:
            visible.append(event)
        elif visibility == "world_readable" or membership == "join":
            visible.append(event)
        elif visibility == "invited" and membership == "invite":
            visible.append(event)
        elif visibility == "shared" and event.room_id in joined_since:
            visible.append(event)
    return visible


async def check_room_readable(conn: Any, user_id: str, room_id: str) -> room_store.Membership | None:
    """403 unless the user is or was in the room, or the room is world-readable now;
    return the user's membership."""
    membership = await room_store.get_membership(conn, room_id, user_id)
    if membership is not None and membership.membership in ("join", "leave", "ban", "invite"):
        return membership
    current = await state_store.get_current_state_entries(conn, room_id, [HISTORY_KEY])
    if current:
        event = await event_store.get_event(conn, current[HISTORY_KEY])
        if _visibility_of(event) == "world_readable":
            return membership
    if await room_store.get_room_version(conn, room_id) is None:
        raise MatrixError(404, "M_NOT_FOUND", "Unknown room")
    raise MatrixError(403, "M_FORBIDDEN", "You are not allowed to view this room")


async def ignored_users(conn: Any, user_id: str) -> frozenset[str]:
    content = await account_data_store.get_account_data(conn, user_id, account_data_store.GLOBAL, "m.ignored_user_list")
    return ignored_from(content)


def ignored_from(content: Any) -> frozenset[str]:
    """The users an ``m.ignored_user_list`` content names."""
    ignored = content.get("ignored_users") if isinstance(content, dict) else None
    return frozenset(ignored) if isinstance(ignored, dict) else frozenset()
