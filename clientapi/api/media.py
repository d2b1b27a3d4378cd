"""Request builders: the content repository, over the authenticated endpoints of spec
v1.11 (client-server API "Content repository")."""

from __future__ import annotations

from clientapi.api.request import CLIENT_V1, MEDIA_V3, Request, path, query


def parse_mxc(uri: str) -> tuple[str, str]:
    """``mxc://server/media_id`` into (server name, media ID); ValueError if it is not one."""
    rest = uri.removeprefix("mxc://") if isinstance(uri, str) else ""
    server_name, _, media_id = rest.partition("/")
    if not uri.startswith("mxc://") or not server_name or not media_id or "/" in media_id:
        raise ValueError(f"not a Matrix content URI: {uri!r}")
    return server_name, media_id


def upload(data: bytes, content_type: str, filename: str | None = None) -> Request:
    """POST /_matrix/media/v3/upload (not idempotent: a retry stores a second copy)."""
    return Request("POST", MEDIA_V3 + "/upload", query=query(filename=filename), data=data,
                   content_type=content_type, idempotent=False, timeout=300.0, limit_key="media_upload")


def download(mxc: str, filename: str | None = None) -> Request:
    """GET /_matrix/client/v1/media/download/{serverName}/{mediaId}[/{fileName}]"""
    server_name, media_id = parse_mxc(mxc)
    template = CLIENT_V1 + "/media/download/{}/{}" + ("/{}" if filename else "")
    segments = (server_name, media_id) + ((filename,) if filename else ())
    return Request("GET", path(template, *segments), binary=True, timeout=300.0)


def thumbnail(mxc: str, width: int, height: int, method: str = "scale", animated: bool | None = None) -> Request:
    """GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}"""
    server_name, media_id = parse_mxc(mxc)
    return Request("GET", path(CLIENT_V1 + "/media/thumbnail/{}/{}", server_name, media_id),
                   query=query(width=width, height=height, method=method, animated=animated), binary=True)


def media_config() -> Request:
    """GET /_matrix/client/v1/media/config"""
    return Request("GET", CLIENT_V1 + "/media/config")
