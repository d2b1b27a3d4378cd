"""Server-side search (spec: client-server-api "Server Side Search")."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.context import get_hs
from homeserver.api.params import client_path, get_bool, get_dict, get_int, get_list, get_str, get_str_list, json_body
from homeserver.api.responses import json_response
from homeserver.errors import bad_json
from homeserver.rooms import search
from homeserver.timeline.filters import parse_room_event_filter
from homeserver.rooms.search import EventContext, RoomEventsCriteria

routes = web.RouteTableDef()

CATEGORIES = ("room_events",)
MAX_SEARCH_TERM_LENGTH = 1000


@routes.post(client_path("/search"))
async def post_search(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/search"""
    requester = await require_user(request)
    body = await json_body(request)
    categories = get_dict(body, "search_categories")
    unknown = sorted(set(categories) - set(CATEGORIES))
    if unknown:
        raise bad_json(f"Unknown search category {unknown[0]!r} (supported: {', '.join(CATEGORIES)})")
    raw_batch = request.query.get("next_batch")
    next_batch = search.parse_next_batch(raw_batch) if raw_batch is not None else None
    out: dict[str, Any] = {}
    if "room_events" in categories:
        criteria = _room_events(get_dict(categories, "room_events"))
        out["room_events"] = await search.search_room_events(get_hs(request), requester.user_id, criteria, next_batch)
    return json_response({"search_categories": out})


def _room_events(raw: dict[str, Any]) -> RoomEventsCriteria:
    keys = get_str_list(raw, "keys", list(search.KEYS))
    bad_keys = [k for k in keys if k not in search.KEYS]
    if bad_keys or not keys:
        raise bad_json(f"'keys' must name some of {', '.join(search.KEYS)}")
    order_by = get_str(raw, "order_by", "rank")
    if order_by not in ("rank", "recent"):
        raise bad_json("'order_by' must be 'rank' or 'recent'")
    raw_filter = get_dict(raw, "filter", {})
    contains_url = get_bool(raw_filter, "contains_url", None)
    return RoomEventsCriteria(
        search_term=get_str(raw, "search_term", max_length=MAX_SEARCH_TERM_LENGTH),
        keys=tuple(dict.fromkeys(keys)),
        event_filter=parse_room_event_filter(raw_filter),
        rooms=_optional_tuple(get_str_list(raw_filter, "rooms", None)),
        not_rooms=tuple(get_str_list(raw_filter, "not_rooms", [])),
        contains_url=contains_url,
        order_by=order_by,
        event_context=_event_context(get_dict(raw, "event_context", None)),
        include_state=get_bool(raw, "include_state", False),
        group_by=_group_by(get_dict(raw, "groupings", None)),
    )


def _optional_tuple(value: list[str] | None) -> tuple[str, ...] | None:
    return tuple(value) if value is not None else None


def _event_context(raw: dict[str, Any] | None) -> EventContext | None:
    if raw is None:
        return None
    limits = {}
    for name in ("before_limit", "after_limit"):
        value = get_int(raw, name, 5)
        if value < 0:
            raise bad_json(f"'{name}' must not be negative")
        limits[name] = min(value, search.MAX_CONTEXT)
    return EventContext(**limits, include_profile=get_bool(raw, "include_profile", False))


def _group_by(raw: dict[str, Any] | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    keys = []
    for item in get_list(raw, "group_by", []):
        if not isinstance(item, dict) or item.get("key") not in search.GROUP_KEYS:
            raise bad_json(f"'group_by' entries must be objects with a 'key' of {' or '.join(search.GROUP_KEYS)}")
        keys.append(item["key"])
    return tuple(dict.fromkeys(keys))
