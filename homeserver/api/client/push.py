"""Push notifications (spec: client-server-api "Push Notifications"): push rules,
pushers and the notifications list."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.context import get_hs
from homeserver.api.params import client_path, get_bool, json_body, query_int
from homeserver.api.responses import empty, json_response
from homeserver.errors import invalid_param, missing_param
from homeserver.push import notifications, rulesets

routes = web.RouteTableDef()

RULE_PATH = "/pushrules/{scope}/{kind}/{rule_id}"
ATTRIBUTES = ("enabled", "actions")


def _scope(request: web.Request) -> None:
    scope = request.match_info["scope"]
    if scope != "global":
        raise invalid_param(f"Unknown push rule scope {scope!r}: only 'global' exists")


def _rule(request: web.Request) -> tuple[str, str]:
    _scope(request)
    return request.match_info["kind"], request.match_info["rule_id"]


def _optional_query(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    if value is not None and not value:
        raise invalid_param(f"'{name}' must not be empty")
    return value


@routes.get(client_path("/pushrules{_slash:/?}"))
async def get_push_rules(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/pushrules/"""
    requester = await require_user(request)
    return json_response(await rulesets.push_rules_content(get_hs(request).db.pool, requester.user_id))


@routes.get(client_path("/pushrules/{scope}{_slash:/?}"))
async def get_push_rules_scope(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/pushrules/global/"""
    requester = await require_user(request)
    _scope(request)
    content = await rulesets.push_rules_content(get_hs(request).db.pool, requester.user_id)
    return json_response(content["global"])


@routes.get(client_path(RULE_PATH))
async def get_push_rule(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}"""
    requester = await require_user(request)
    kind, rule_id = _rule(request)
    return json_response(await rulesets.get_rule(get_hs(request), requester.user_id, kind, rule_id))


@routes.put(client_path(RULE_PATH))
async def put_push_rule(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}"""
    requester = await require_user(request)
    kind, rule_id = _rule(request)
    body = await json_body(request)
    before, after = _optional_query(request, "before"), _optional_query(request, "after")
    await rulesets.put_rule(get_hs(request), requester.user_id, kind, rule_id, body, before, after)
    return empty()


@routes.delete(client_path(RULE_PATH))
async def delete_push_rule(request: web.Request) -> web.Response:
    """DELETE /_matrix/client/v3/pushrules/global/{kind}/{ruleId}"""
    requester = await require_user(request)
    kind, rule_id = _rule(request)
    await rulesets.delete_rule(get_hs(request), requester.user_id, kind, rule_id)
    return empty()


@routes.get(client_path(RULE_PATH + "/{attribute:(?:enabled|actions)}"))
async def get_push_rule_attribute(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled (and /actions)"""
    requester = await require_user(request)
    kind, rule_id = _rule(request)
    attribute = request.match_info["attribute"]
    rule = await rulesets.get_rule(get_hs(request), requester.user_id, kind, rule_id)
    return json_response({attribute: rule[attribute]})


@routes.put(client_path(RULE_PATH + "/{attribute:(?:enabled|actions)}"))
async def put_push_rule_attribute(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled (and /actions)"""
    requester = await require_user(request)
    kind, rule_id = _rule(request)
    attribute = request.match_info["attribute"]
    body = await json_body(request)
    value: Any
    if attribute == "enabled":
        value = get_bool(body, "enabled")
    elif "actions" not in body:
        raise missing_param("actions")
    else:
        value = body["actions"]
    await rulesets.set_attribute(get_hs(request), requester.user_id, kind, rule_id, attribute, value)
    return empty()


@routes.get(client_path("/pushers"))
async def get_pushers(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/pushers"""
    requester = await require_user(request)
    return json_response({"pushers": await notifications.get_pushers(get_hs(request), requester.user_id)})


@routes.post(client_path("/pushers/set"))
async def post_pushers_set(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/pushers/set"""
    requester = await require_user(request)
    pusher = notifications.parse_pusher_request(await json_body(request))
    await notifications.set_pusher(get_hs(request), requester.user_id, requester.device_id, pusher)
    return empty()


@routes.get(client_path("/notifications"))
async def get_notifications(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/notifications"""
    requester = await require_user(request)
    before = notifications.parse_from_token(request.query.get("from"))
    limit = query_int(request, "limit", 20, minimum=0)
    only = request.query.get("only")
    if only not in (None, "highlight"):
        raise invalid_param("'only' must be 'highlight' when given")
    page = await notifications.notifications(get_hs(request), requester.user_id, before, limit, only == "highlight")
    return json_response(page.to_json())
