"""Media quarantine for server admins, at Synapse's paths (its admin API, "Quarantine media").

Quarantined media answers 404 M_NOT_FOUND on every download and thumbnail endpoint.
"""

from __future__ import annotations

from aiohttp import web

from homeserver.api.auth import require_admin
from homeserver.api.context import get_hs
from homeserver.api.media.common import media_ref
from homeserver.api.responses import empty

routes = web.RouteTableDef()


@routes.post("/_synapse/admin/v1/media/quarantine/{server_name}/{media_id}")
async def quarantine(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v1/media/quarantine/{serverName}/{mediaId}"""
    admin = await require_admin(request)
    server_name, media_id = media_ref(request)
    await get_hs(request).media.set_quarantined(admin.user_id, server_name, media_id, True)
    return empty()


@routes.post("/_synapse/admin/v1/media/unquarantine/{server_name}/{media_id}")
async def unquarantine(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v1/media/unquarantine/{serverName}/{mediaId}"""
    admin = await require_admin(request)
    server_name, media_id = media_ref(request)
    await get_hs(request).media.set_quarantined(admin.user_id, server_name, media_id, False)
    return empty()
