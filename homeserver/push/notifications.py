"""GET /notifications (spec: notifications.yaml) and the pushers a user configures
(pusher.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from homeserver.errors import bad_json, invalid_param, missing_param
from homeserver.push.pushers import EVENT_ID_ONLY, NOTIFY_PATH
from homeserver.timeline import visibility
from homeserver.timeline.format import client_events
from homeserver.server import ROOM_HEADS, HomeServer
from homeserver.storage import events as event_store
from homeserver.storage import push as store
from homeserver.storage import receipts as receipt_store
from homeserver.storage import rooms as room_store
from homeserver.streams import Change, Invalidation, Stream

MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class NotificationsPage:
    notifications: list[dict[str, Any]]
    next_token: str | None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"notifications": self.notifications}
        if self.next_token is not None:
            out["next_token"] = self.next_token
        return out


def parse_from_token(token: str | None) -> int | None:
    if token is None:
        return None
    if not token.isdigit() or len(token) > 19:
        raise invalid_param("Invalid 'from' token")
    return int(token)


async def notifications(
    hs: HomeServer, user_id: str, before: int | None, limit: int, only_highlight: bool
) -> NotificationsPage:
    """The events that notified the user, newest first, as far as they may still see them."""
    limit = min(limit, MAX_LIMIT)
    if limit == 0:
        return NotificationsPage([], None)
    async with hs.db.pool.acquire() as conn:
        actions = await store.notifications_page(conn, user_id, before, limit, only_highlight)
        events = await event_store.get_events(conn, [a.event_id for a in actions])
        visible = {e.event_id for e in await visibility.filter_events(conn, user_id, list(events.values()))}
        rooms = sorted({a.room_id for a in actions})
        positions = await receipt_store.read_positions(conn, user_id, rooms)
        served: dict[str, dict[str, Any]] = {}
        for room_id in rooms:
            version = await room_store.get_room_version(conn, room_id)
            in_room = [events[a.event_id] for a in actions if a.room_id == room_id and a.event_id in visible]
            for event, json in zip(in_room, await client_events(conn, in_room, version or "10", user_id=user_id)):
                served[event.event_id] = json
    out = [
        {
            "actions": a.actions,
            "event": served[a.event_id],
            "read": receipt_store.is_read(positions.get(a.room_id, {}), a.thread_id, a.stream_ordering),
            "room_id": a.room_id,
            "ts": a.ts,
        }
        for a in actions if a.event_id in served
    ]
    next_token = str(actions[-1].stream_ordering) if len(actions) == limit else None
    return NotificationsPage(out, next_token)


# --- pushers -----------------------------------------------------------------------------

MAX_APP_ID_CHARS = 64
MAX_PUSHKEY_BYTES = 512
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class PusherRequest:
    """A checked POST /pushers/set body; ``kind`` None deletes."""

    kind: str | None
    app_id: str
    pushkey: str
    append: bool = False
    app_display_name: str = ""
    device_display_name: str = ""
    profile_tag: str | None = None
    lang: str = ""
    data: dict[str, Any] | None = None


def _string(body: dict[str, Any], key: str, required: bool, max_length: int | None = None) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise missing_param(key)
        return None
    if not isinstance(value, str):
        raise bad_json(f"'{key}' must be a string")
    if "\x00" in value or (max_length is not None and len(value) > max_length):
        raise bad_json(f"'{key}' is too long or not valid")
    return value


def parse_pusher_request(body: dict[str, Any]) -> PusherRequest:
    if "kind" not in body:
        raise missing_param("kind")
    kind = body["kind"]
    if kind is not None and not isinstance(kind, str):
        raise bad_json("'kind' must be a string or null")
    app_id = _string(body, "app_id", True, MAX_APP_ID_CHARS)
    pushkey = _string(body, "pushkey", True)
    assert app_id is not None and pushkey is not None
    if len(pushkey.encode()) > MAX_PUSHKEY_BYTES:
        raise bad_json(f"'pushkey' is longer than {MAX_PUSHKEY_BYTES} bytes")
    if kind is None:
        return PusherRequest(None, app_id, pushkey)
    if kind != "http":
        raise invalid_param(f"Unsupported pusher kind {kind!r}: this server supports 'http'")
    append = body.get("append", False)
    if not isinstance(append, bool):
        raise bad_json("'append' must be a boolean")
    data = body.get("data")
    if data is None:
        raise missing_param("data")
    if not isinstance(data, dict):
        raise bad_json("'data' must be an object")
    _check_data(data)
    return PusherRequest(
        kind, app_id, pushkey, append,
        app_display_name=_string(body, "app_display_name", True) or "",
        device_display_name=_string(body, "device_display_name", True) or "",
        profile_tag=_string(body, "profile_tag", False),
        lang=_string(body, "lang", True) or "",
        data=data,
    )


def _check_data(data: dict[str, Any]) -> None:
    url = data.get("url")
    if url is None:
        raise missing_param("data.url")
    if not isinstance(url, str):
        raise bad_json("'data.url' must be a string")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise invalid_param("'data.url' is not a valid URL") from None
    # pusher.yaml: "MUST be an HTTPS URL with a path of /_matrix/push/v1/notify". Plain
    # HTTP only to a gateway on this host, where nothing travels over a network.
    secure = parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK_HOSTS)
    if not secure or not host or parts.path != NOTIFY_PATH:
        raise invalid_param(f"'data.url' must be an https URL with the path {NOTIFY_PATH}")
    fmt = data.get("format")
    if fmt is not None and fmt != EVENT_ID_ONLY:
        raise invalid_param(f"'data.format' must be {EVENT_ID_ONLY!r} when given")
    if _contains_nul(data):
        raise bad_json("'data' cannot contain NUL characters")


async def set_pusher(hs: HomeServer, user_id: str, device_id: str | None, request: PusherRequest) -> None:
    try:
        await _set_pusher(hs, user_id, device_id, request)
    finally:
        # The room heads hold whether each member has pushers; another user's pusher of
        # the same pushkey may be gone too, whose heads are not known here: drop them all.
        stale = None if request.kind is not None and not request.append else user_id
        await hs.feed.publish(Change(invalidations=(Invalidation(ROOM_HEADS, stale),)))


async def _set_pusher(hs: HomeServer, user_id: str, device_id: str | None, request: PusherRequest) -> None:
    async with hs.db.transaction() as conn:
        if request.kind is None:
            await store.delete_pusher(conn, user_id, request.app_id, request.pushkey)
            return
        assert request.data is not None
        if not request.append:
            await store.delete_other_users_pushers(conn, user_id, request.app_id, request.pushkey)
        await store.upsert_pusher(conn, store.NewPusher(
            user_id, request.kind, request.app_id, request.pushkey, request.app_display_name,
            request.device_display_name, request.profile_tag, request.lang, request.data, device_id,
        ), hs.clock.now_ms(), hs.feed.readable(Stream.EVENTS))


async def get_pushers(hs: HomeServer, user_id: str) -> list[dict[str, Any]]:
    return [p.to_json() for p in await store.pushers_for_user(hs.db.pool, user_id)]


def _contains_nul(value: Any) -> bool:
    # PostgreSQL jsonb cannot hold U+0000.
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False
