"""The web client is served at web_client.path from the package's files, under a strict
Content-Security-Policy, small enough to load fast, and can be moved or turned off."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import aiohttp
import pytest

from homeserver.config import ConfigError, parse_config
from tests.conftest import StartServer
from tests.helpers import TestServer

BUILT = Path(__file__).resolve().parents[2] / "homeserver" / "web"
FIRST_LOAD_BUDGET = 300 * 1024  # compressed bytes for the sign-in screen (issue 15)


def _assets() -> list[str]:
    return re.findall(r'(?:src|href)="(assets/[^"]+)"', (BUILT / "index.html").read_text())


async def _get(url: str, gzip_ok: bool = True) -> tuple[int, dict[str, str], bytes]:
    headers = {"Accept-Encoding": "gzip" if gzip_ok else "identity"}
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async with session.get(url, headers=headers, allow_redirects=False) as resp:
            return resp.status, dict(resp.headers), await resp.read()


async def test_the_page_is_served_at_the_root_with_a_strict_csp(server: TestServer) -> None:
    status, headers, body = await _get(server.url + "/", gzip_ok=False)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'<div id="app">' in body
    csp = dict(d.strip().split(" ", 1) for d in headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'", "no inline script or style, no eval"
    assert csp["connect-src"] == "'self'" and csp["frame-ancestors"] == "'none'"
    assert csp["require-trusted-types-for"] == "'script'"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-cache"


async def test_assets_are_gzipped_and_cached_forever(server: TestServer) -> None:
    for asset in _assets():
        status, headers, body = await _get(f"{server.url}/{asset}")
        assert status == 200, asset
        assert headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(body) == (BUILT / asset).read_bytes()
        assert "immutable" in headers["Cache-Control"]
        assert headers["Content-Security-Policy"]
    status, headers, body = await _get(f"{server.url}/{_assets()[0]}", gzip_ok=False)
    assert status == 200 and "Content-Encoding" not in headers


async def test_the_sign_in_screen_loads_under_300_kb_compressed(server: TestServer) -> None:
    total = 0
    for path in ["", *_assets()]:
        status, _, body = await _get(f"{server.url}/{path}")
        assert status == 200
        total += len(body)
    assert total < FIRST_LOAD_BUDGET, f"first load is {total} bytes compressed"


async def test_unknown_assets_and_paths_are_404_unrecognized(server: TestServer) -> None:
    for path in ("/assets/nope.js", "/assets/../build-info.json", "/build-info.json", "/index.html.bak"):
        resp = await server.request("GET", path)
        assert resp.status == 404 and resp.errcode == "M_UNRECOGNIZED", path
    # The APIs beside it are untouched.
    assert (await server.request("GET", "/_matrix/client/versions")).status == 200


async def test_a_configured_path_serves_it_there_only(start_server: StartServer) -> None:
    server = await start_server({"web_client": {"path": "/chat/"}})
    status, _, body = await _get(server.url + "/chat/", gzip_ok=False)
    assert status == 200 and b'<div id="app">' in body
    status, headers, _ = await _get(server.url + "/chat")
    assert status == 308 and headers["Location"] == "/chat/"
    status, _, _ = await _get(f"{server.url}/chat/{_assets()[0]}")
    assert status == 200
    assert (await server.request("GET", "/")).errcode == "M_UNRECOGNIZED"


async def test_turned_off_the_root_is_unrecognized(start_server: StartServer) -> None:
    server = await start_server({"web_client": {"enabled": False}})
    resp = await server.request("GET", "/")
    assert resp.status == 404 and resp.errcode == "M_UNRECOGNIZED"
    assert (await server.request("GET", f"/{_assets()[0]}")).status == 404


@pytest.mark.parametrize("path", ["chat", "/_matrix/", "/_matrix", "/.well-known/x", "/metrics", "/a/../b", "/a b/"])
def test_bad_paths_are_refused_at_start(path: str) -> None:
    with pytest.raises(ConfigError, match="web_client.path"):
        parse_config({"web_client": {"path": path}})
