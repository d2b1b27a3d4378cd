"""The built-in web chat client: the built files in ``homeserver/web/`` served at
``web_client.path`` (``/`` by default), under a strict Content-Security-Policy.

The client speaks only the public client-server API, so nothing here knows what it
does; this module only serves its files. They are built from ``webclient/`` by
``webclient/build.mjs`` and committed, so installing and running the server needs no
Node.js. Files are read and gzipped once, at start-up (about 100 KB).
"""

from __future__ import annotations

import gzip
import logging
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from homeserver.config import WebClientConfig

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parents[1] / "web"

# No inline script or style, no eval, nothing from another origin; trusted-types makes
# every HTML-string sink throw except the one policy the sanitiser parses through.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types matrix-html",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

# index.html is looked at on every visit; the assets are named by their content's hash.
INDEX_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes
    content_type: str
    cache_control: str

    def response(self, request: web.Request) -> web.Response:
        headers = {**SECURITY_HEADERS, "Cache-Control": self.cache_control, "Vary": "Accept-Encoding"}
        body = self.body
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            body = self.gzipped
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers, content_type=self.content_type,
                            charset="utf-8" if self.content_type.startswith("text/") or "javascript" in self.content_type else None)


def load_assets(directory: Path) -> dict[str, Asset]:
    """Every built file by its path under ``directory`` ("index.html", "assets/main-X.js")."""
    assets: dict[str, Asset] = {}
    for path in sorted(directory.rglob("*")):
        name = path.relative_to(directory).as_posix()
        if not path.is_file() or not (name == "index.html" or name.startswith("assets/")):
            continue
        body = path.read_bytes()
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        cache = INDEX_CACHE if name == "index.html" else ASSET_CACHE
        assets[name] = Asset(body, gzip.compress(body, 9, mtime=0), content_type, cache)
    return assets


def routes(config: WebClientConfig, directory: Path = WEB_DIR) -> list[web.RouteDef]:
    """The web client's routes, or none when it is turned off or not built."""
    if not config.enabled:
        return []
    assets = load_assets(directory)
    if "index.html" not in assets:
        log.warning("web client not served: %s has no index.html (build it with webclient/build.mjs)", directory)
        return []
    prefix = config.path if config.path.endswith("/") else config.path + "/"
    index = assets["index.html"]

    async def get_index(request: web.Request) -> web.Response:
        return index.response(request)

    async def get_asset(request: web.Request) -> web.Response:
        asset = assets.get("assets/" + request.match_info["name"])
        if asset is None:
            raise web.HTTPNotFound()
        return asset.response(request)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPPermanentRedirect(prefix)

    table = [web.get(prefix, get_index), web.get(prefix + "assets/{name}", get_asset)]
    if prefix != "/":
        table.append(web.get(prefix.rstrip("/"), redirect))
    return table
