"""Device management (spec: client-server-api "Device Management")."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.context import get_hs
from homeserver.api.params import client_path, get_str, get_str_list, json_body
from homeserver.api.responses import empty, json_response
from homeserver.storage.devices import Device
from homeserver.users import devices, profile, uia
from homeserver.requester import Requester

routes = web.RouteTableDef()

DELETE_FLOWS = ((uia.PASSWORD,),)


@routes.get(client_path("/devices"))
async def get_devices(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/devices"""
    requester = await require_user(request)
    found = await devices.list_devices(get_hs(request), requester.user_id)
    return json_response({"devices": [_device_json(d) for d in found]})


@routes.get(client_path("/devices/{device_id}"))
async def get_device(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/devices/{deviceId}"""
    requester = await require_user(request)
    device = await devices.get_device(get_hs(request), requester.user_id, _device_id(request))
    return json_response(_device_json(device))


@routes.put(client_path("/devices/{device_id}"))
async def put_device(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/devices/{deviceId}

    Renames one of the user's devices; only application services may create devices.
    """
    requester = await require_user(request)
    device_id = _device_id(request)
    body = await json_body(request)
    display_name = get_str(body, "display_name", None, max_length=devices.MAX_DISPLAY_NAME_LENGTH)
    profile.check_display_name("display_name", display_name)
    await devices.rename_device(get_hs(request), requester.user_id, device_id, display_name)
    return empty()


@routes.delete(client_path("/devices/{device_id}"))
async def delete_device(request: web.Request) -> web.Response:
    """DELETE /_matrix/client/v3/devices/{deviceId}

    Answers 200 for a device that is already gone, as the spec asks.
    """
    requester = await require_user(request)
    device_id = _device_id(request)
    body = await json_body(request, allow_empty=True)
    # The UIA session is bound to this path: it cannot be used to delete another device.
    await _delete(request, requester, f"/devices/{device_id}", body, [device_id])
    return empty()


@routes.post(client_path("/delete_devices"))
async def delete_devices(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/delete_devices"""
    requester = await require_user(request)
    body = await json_body(request)
    device_ids = get_str_list(body, "devices")
    await _delete(request, requester, "/delete_devices", body, device_ids)
    return empty()


async def _delete(
    request: web.Request, requester: Requester, path: str, body: dict[str, Any], device_ids: list[str]
) -> None:
    """Re-authenticate with the password (user-interactive auth), then delete."""
    hs = get_hs(request)
    session_id = await uia.authenticate(
        hs, uia.Request(request.method, path, requester.user_id), body.get("auth"), DELETE_FLOWS
    )
    await devices.delete_devices(hs, requester.user_id, device_ids)
    await uia.finish(hs, session_id)


def _device_id(request: web.Request) -> str:
    device_id = request.match_info["device_id"]
    devices.check_device_id(device_id)
    return device_id


def _device_json(device: Device) -> dict[str, Any]:
    fields = {
        "device_id": device.device_id,
        "display_name": device.display_name,
        "last_seen_ip": device.last_seen_ip,
        "last_seen_ts": device.last_seen_ts,
    }
    return {k: v for k, v in fields.items() if v is not None}
