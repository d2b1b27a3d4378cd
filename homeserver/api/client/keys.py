"""End-to-end encryption keys (spec: client-server-api "Key management API",
"Cross-signing"; keys.yaml, cross_signing.yaml)."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.context import get_hs
from homeserver.api.params import client_path, get_dict, json_body
from homeserver.api.responses import empty, json_response
from homeserver.e2ee import cross_signing, device_keys
from homeserver.errors import missing_param
from homeserver.sync.tokens import SyncToken
from homeserver.users import uia

routes = web.RouteTableDef()

SIGNING_KEYS_FLOWS = ((uia.PASSWORD,),)


@routes.post(client_path("/keys/upload"))
async def upload(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/keys/upload"""
    requester = await require_user(request)
    body = await json_body(request)
    fallback = get_dict(body, "fallback_keys", None)
    if fallback is None:  # the name before spec v1.2 (MSC2732), still sent by some clients
        fallback = get_dict(body, "org.matrix.msc2732.fallback_keys", {})
    counts = await device_keys.upload(get_hs(request), requester.user_id, requester.device_id, device_keys.Upload(
        device_keys=get_dict(body, "device_keys", None),
        one_time_keys=get_dict(body, "one_time_keys", {}),
        fallback_keys=fallback,
    ))
    return json_response({"one_time_key_counts": counts})


@routes.post(client_path("/keys/query"))
async def query(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/keys/query"""
    requester = await require_user(request)
    body = await json_body(request)
    wanted = device_keys.check_query(get_dict(body, "device_keys"))
    result = await device_keys.query(get_hs(request), requester.user_id, wanted)
    return json_response(result.to_json())


@routes.post(client_path("/keys/claim"))
async def claim(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/keys/claim"""
    await require_user(request)
    body = await json_body(request)
    wanted = device_keys.check_claim(get_dict(body, "one_time_keys"))
    return json_response(await device_keys.claim(get_hs(request), wanted))


@routes.get(client_path("/keys/changes"))
async def changes(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/keys/changes

    ``to`` defaults to now (the spec calls it a hint; Synapse makes it optional too).
    """
    hs = get_hs(request)
    requester = await require_user(request)
    if "from" not in request.query:
        raise missing_param("from")
    since = SyncToken.parse(request.query["from"])
    to = SyncToken.parse(request.query["to"]) if "to" in request.query else SyncToken(hs.feed.current()[0])
    found = await device_keys.changes(hs, requester.user_id, since.positions, to.positions)
    return json_response({"changed": found.changed, "left": found.left})


@routes.post(client_path("/keys/device_signing/upload", "r0|v3|unstable"))
async def device_signing_upload(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/keys/device_signing/upload

    User-interactive auth only where the spec requires it (replacing existing keys).
    """
    hs = get_hs(request)
    requester = await require_user(request)
    body = await json_body(request)
    keys = cross_signing.parse_keys(requester.user_id, body)
    session_id = None
    if await cross_signing.requires_auth(hs, requester.user_id, keys):
        session_id = await uia.authenticate(
            hs, uia.Request("POST", "/keys/device_signing/upload", requester.user_id), body.get("auth"),
            SIGNING_KEYS_FLOWS,
        )
    await cross_signing.upload_keys(hs, requester.user_id, keys, authenticated=session_id is not None)
    if session_id is not None:
        await uia.finish(hs, session_id)
    return empty()


@routes.post(client_path("/keys/signatures/upload", "r0|v3|unstable"))
async def signatures_upload(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/keys/signatures/upload"""
    requester = await require_user(request)
    body = cross_signing.check_signatures_body(await json_body(request))
    failures = await cross_signing.upload_signatures(get_hs(request), requester.user_id, body)
    return json_response({"failures": failures})
