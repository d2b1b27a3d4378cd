"""Raw HTTP for media tests: bytes in, bytes and headers out (TestServer.request speaks JSON)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import orjson
from multidict import CIMultiDictProxy
from PIL import Image

from tests.helpers import TestServer, User

UPLOAD = "/_matrix/media/v3/upload"
CREATE = "/_matrix/media/v1/create"
CLIENT_MEDIA = "/_matrix/client/v1/media"
LEGACY_MEDIA = "/_matrix/media/v3"


@dataclass
class Raw:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def errcode(self) -> str | None:
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            return None
        return self.json().get("errcode")


async def raw(server: TestServer, method: str, path: str, *, token: str | None = None, data: Any = None,
              headers: dict[str, str] | None = None, params: dict[str, str] | None = None) -> Raw:
    headers = dict(headers or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with server.session.request(method, server.url + path, data=data, headers=headers, params=params) as resp:
        return Raw(resp.status, resp.headers, await resp.read())


async def upload(user: User, data: Any, content_type: str | None = "application/octet-stream",
                 filename: str | None = None) -> Raw:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    params = {"filename": filename} if filename is not None else None
    return await raw(user.server, "POST", UPLOAD, token=user.access_token, data=data, headers=headers, params=params)


async def upload_ok(user: User, data: Any, content_type: str = "application/octet-stream",
                    filename: str | None = None) -> str:
    """Upload and return the media ID."""
    resp = await upload(user, data, content_type, filename)
    assert resp.status == 200, (resp.status, resp.body)
    content_uri = resp.json()["content_uri"]
    assert content_uri.startswith(f"mxc://{user.server.server_name}/")
    return content_uri.rsplit("/", 1)[1]


async def download(user: User | None, server: TestServer, media_id: str, file_name: str | None = None,
                   *, legacy: bool = False, params: dict[str, str] | None = None) -> Raw:
    base = LEGACY_MEDIA if legacy else CLIENT_MEDIA
    path = f"{base}/download/{server.server_name}/{media_id}" + (f"/{file_name}" if file_name else "")
    return await raw(server, "GET", path, token=user.access_token if user else None, params=params)


async def thumbnail(user: User | None, server: TestServer, media_id: str, width: int, height: int,
                    method: str = "scale", *, legacy: bool = False, **extra: str) -> Raw:
    base = LEGACY_MEDIA if legacy else CLIENT_MEDIA
    params = {"width": str(width), "height": str(height), "method": method, **extra}
    return await raw(server, "GET", f"{base}/thumbnail/{server.server_name}/{media_id}",
                     token=user.access_token if user else None, params=params)


def image_bytes(width: int, height: int, fmt: str = "PNG", colour: tuple[int, int, int] = (200, 30, 60)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, fmt)
    return out.getvalue()


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as im:
        return im.size
