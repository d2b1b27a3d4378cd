"""Server-side key backups (spec: client-server-api "Server-side key backups",
key_backup.yaml)."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.context import get_hs
from homeserver.api.params import client_path, get_dict, json_body
from homeserver.api.responses import empty, json_response
from homeserver.e2ee import backup
from homeserver.errors import missing_param, not_found

routes = web.RouteTableDef()

KEYS = "/room_keys/keys"
ROOM_KEYS = "/room_keys/keys/{roomId}"
SESSION_KEY = "/room_keys/keys/{roomId}/{sessionId}"


@routes.post(client_path("/room_keys/version"))
async def create_version(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/room_keys/version"""
    requester = await require_user(request)
    algorithm, auth_data = backup.check_version_body(await json_body(request))
    version = await backup.create_version(get_hs(request), requester.user_id, algorithm, auth_data)
    return json_response({"version": version})


@routes.get(client_path("/room_keys/version"))
async def get_latest_version(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/room_keys/version"""
    requester = await require_user(request)
    return json_response(backup.version_json(await backup.get_version(get_hs(request), requester.user_id, None)))


@routes.get(client_path("/room_keys/version/{version}"))
async def get_version(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/room_keys/version/{version}"""
    requester = await require_user(request)
    found = await backup.get_version(get_hs(request), requester.user_id, request.match_info["version"])
    return json_response(backup.version_json(found))


@routes.put(client_path("/room_keys/version/{version}"))
async def put_version(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/room_keys/version/{version}"""
    requester = await require_user(request)
    body = await json_body(request)
    algorithm, auth_data = backup.check_version_body(body)
    await backup.update_version(get_hs(request), requester.user_id, request.match_info["version"], algorithm,
                                auth_data, body.get("version"))
    return empty()


@routes.delete(client_path("/room_keys/version/{version}"))
async def delete_version(request: web.Request) -> web.Response:
    """DELETE /_matrix/client/v3/room_keys/version/{version}"""
    requester = await require_user(request)
    await backup.delete_version(get_hs(request), requester.user_id, request.match_info["version"])
    return empty()


def _version(request: web.Request) -> str:
    version = request.query.get("version")
    if version is None:
        raise missing_param("version")
    return version


@routes.put(client_path(KEYS))
async def put_all(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/room_keys/keys"""
    requester = await require_user(request)
    keys = backup.check_room_keys(get_dict(await json_body(request), "rooms"))
    stored = await backup.put_keys(get_hs(request), requester.user_id, _version(request), keys)
    return json_response(backup.update_json(stored))


@routes.put(client_path(ROOM_KEYS))
async def put_room(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/room_keys/keys/{roomId}"""
    requester = await require_user(request)
    keys = backup.check_sessions(request.match_info["roomId"], get_dict(await json_body(request), "sessions"))
    stored = await backup.put_keys(get_hs(request), requester.user_id, _version(request), keys)
    return json_response(backup.update_json(stored))


@routes.put(client_path(SESSION_KEY))
async def put_session(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}"""
    requester = await require_user(request)
    key = backup.check_key_data(request.match_info["roomId"], request.match_info["sessionId"], await json_body(request))
    stored = await backup.put_keys(get_hs(request), requester.user_id, _version(request), [key])
    return json_response(backup.update_json(stored))


@routes.get(client_path(KEYS))
async def get_all(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/room_keys/keys"""
    requester = await require_user(request)
    keys = await backup.get_keys(get_hs(request), requester.user_id, _version(request))
    return json_response({"rooms": backup.rooms_json(keys)})


@routes.get(client_path(ROOM_KEYS))
async def get_room(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/room_keys/keys/{roomId}"""
    requester = await require_user(request)
    room_id = request.match_info["roomId"]
    keys = await backup.get_keys(get_hs(request), requester.user_id, _version(request), room_id)
    return json_response(backup.rooms_json(keys).get(room_id, {"sessions": {}}))


@routes.get(client_path(SESSION_KEY))
async def get_session(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}"""
    requester = await require_user(request)
    room_id, session_id = request.match_info["roomId"], request.match_info["sessionId"]
    keys = await backup.get_keys(get_hs(request), requester.user_id, _version(request), room_id, session_id)
    if not keys:
        raise not_found("Key not found")
    return json_response(backup.key_json(keys[0]))


@routes.delete(client_path(KEYS))
async def delete_all(request: web.Request) -> web.Response:
    """DELETE /_matrix/client/v3/room_keys/keys"""
    requester = await require_user(request)
    return json_response(backup.update_json(
        await backup.delete_keys(get_hs(request), requester.user_id, _version(request))))


@routes.delete(client_path(ROOM_KEYS))
async def delete_room(request: web.Request) -> web.Response:
    """DELETE /_matrix/client/v3/room_keys/keys/{roomId}"""
    requester = await require_user(request)
    return json_response(backup.update_json(await backup.delete_keys(
        get_hs(request), requester.user_id, _version(request), request.match_info["roomId"])))


@routes.delete(client_path(SESSION_KEY))
async def delete_session(request: web.Request) -> web.Response:
    """DELETE /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}"""
    requester = await require_user(request)
    return json_response(backup.update_json(await backup.delete_keys(
        get_hs(request), requester.user_id, _version(request), request.match_info["roomId"],
        request.match_info["sessionId"])))
