"""Profiles (spec: client-server-api "Profiles").

Reading a profile needs no access token, as the spec says; a token that is sent must be
valid. ``user_directory.require_auth_for_profiles`` requires one (it keeps the user list
from being read anonymously).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from homeserver.api.auth import access_token, require_user
from homeserver.api.context import get_hs
from homeserver.api.params import client_path, get_str, json_body
from homeserver.api.responses import empty, json_response
from homeserver.errors import invalid_param, missing_param
from homeserver.rooms import membership
from homeserver.users import identifiers, profile
from homeserver.users.profile import ProfileField

routes = web.RouteTableDef()


@routes.get(client_path("/profile/{user_id}"))
async def get_profile(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/profile/{userId}"""
    await _reader(request)
    found = await profile.get_profile(get_hs(request), _user_id(request))
    fields = {"displayname": found.displayname, "avatar_url": found.avatar_url}
    return json_response({k: v for k, v in fields.items() if v is not None})


@routes.get(client_path("/profile/{user_id}/displayname"))
async def get_displayname(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/profile/{userId}/displayname"""
    return await _get_field(request, "displayname")


@routes.put(client_path("/profile/{user_id}/displayname"))
async def put_displayname(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/profile/{userId}/displayname"""
    requester = await require_user(request)
    user_id = _user_id(request)
    value = _new_value(await json_body(request), "displayname", profile.MAX_DISPLAYNAME_LENGTH)
    profile.check_display_name("displayname", value)
    await profile.set_field(get_hs(request), requester, user_id, "displayname", value)
    await membership.announce_profile(get_hs(request), user_id)
    return empty()


@routes.get(client_path("/profile/{user_id}/avatar_url"))
async def get_avatar_url(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/profile/{userId}/avatar_url"""
    return await _get_field(request, "avatar_url")


@routes.put(client_path("/profile/{user_id}/avatar_url"))
async def put_avatar_url(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/profile/{userId}/avatar_url"""
    requester = await require_user(request)
    user_id = _user_id(request)
    value = _new_value(await json_body(request), "avatar_url", profile.MAX_AVATAR_URL_LENGTH)
    profile.check_avatar_url(value)
    await profile.set_field(get_hs(request), requester, user_id, "avatar_url", value)
    await membership.announce_profile(get_hs(request), user_id)
    return empty()


async def _reader(request: web.Request) -> None:
    hs = get_hs(request)
    if hs.config.user_directory.require_auth_for_profiles or access_token(request) is not None:
        await require_user(request)


async def _get_field(request: web.Request, field: ProfileField) -> web.Response:
    await _reader(request)
    return json_response({field: await profile.get_field(get_hs(request), _user_id(request), field)})


def _new_value(body: dict[str, Any], field: ProfileField, max_length: int) -> str | None:
    """The field's new value: a string, or null to clear it."""
    if field not in body:
        raise missing_param(field)
    return get_str(body, field, None, max_length=max_length)


def _user_id(request: web.Request) -> str:
    user_id = request.match_info["user_id"]
    identifiers.split_user_id(user_id)
    # PostgreSQL text cannot hold NUL; the spec never allows it in a user ID.
    if "\x00" in user_id:
        raise invalid_param("Not a valid user ID")
    return user_id
