"""URL previews: OpenGraph data from a real local web server, and every way of reaching
an address that is not public refused (loopback, private, link-local, by name, by IP
literal, through a redirect) unless the config allows its range."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import StartServer
from tests.helpers import TestServer
from tests.media.helpers import CLIENT_MEDIA, raw

PAGE = b"""<!doctype html><html><head>
<meta charset="utf-8"><title>Fallback title</title>
<meta property="og:title" content="Matrix &amp; friends">
<meta property="og:description" content="An open network for secure, decentralised communication.">
<meta property="og:type" content="website">
<meta property="og:image" content="http://169.254.169.254/latest/meta-data/">
<meta name="description" content="ignored: og:description wins">
</head><body>""" + b"<p>filler</p>" * 200_000 + b"</body></html>"


async def _site(host: str, routes: web.RouteTableDef) -> AsyncIterator[str]:
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://{host}:{port}"
    await runner.cleanup()


@pytest.fixture
async def site() -> AsyncIterator[str]:
    routes = web.RouteTableDef()

    @routes.get("/page")
    async def page(request: web.Request) -> web.Response:
        return web.Response(body=PAGE, content_type="text/html")

    @routes.get("/plain")
    async def plain(request: web.Request) -> web.Response:
        return web.Response(text="<meta property='og:title' content='not html'>", content_type="text/plain")

    @routes.get("/titled")
    async def titled(request: web.Request) -> web.Response:
        return web.Response(text="<html><head><title> Just a title </title><meta name='description' content='d'>",
                            content_type="text/html")

    @routes.get("/moved")
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/page")

    @routes.get("/missing")
    async def missing(request: web.Request) -> web.Response:
        raise web.HTTPNotFound()

    async for url in _site("127.0.0.1", routes):
        yield url


async def preview(server: TestServer, token: str, url: str | None, **params: str) -> Any:
    query = {"url": url, **params} if url is not None else params
    return await raw(server, "GET", f"{CLIENT_MEDIA}/preview_url", token=token, params=query)


def _config(*allowed: str) -> dict[str, Any]:
    return {"media": {"url_preview": {"enabled": True, "allowed_ip_ranges": list(allowed)}}}


async def test_open_graph_from_an_allowed_site(start_server: StartServer, site: str) -> None:
    server = await start_server(_config("127.0.0.1/32"))
    alice = await server.register("alice")
    resp = await preview(server, alice.access_token, f"{site}/page", ts="1510610716656")
    assert resp.status == 200, resp.body
    assert resp.json() == {
        "og:title": "Matrix & friends",
        "og:description": "An open network for secure, decentralised communication.",
        "og:type": "website",
    }, "no og:image: images are not fetched, and never passed through as http URLs"
    assert (await preview(server, alice.access_token, f"{site}/moved")).json()["og:title"] == "Matrix & friends"
    assert (await preview(server, alice.access_token, f"{site}/plain")).json() == {}
    assert (await preview(server, alice.access_token, f"{site}/titled")).json() == {
        "og:title": "Just a title", "og:description": "d"}
    resp = await preview(server, alice.access_token, f"{site}/missing")
    assert (resp.status, resp.errcode) == (502, "M_UNKNOWN")
    resp = await raw(server, "GET", "/_matrix/media/v3/preview_url", token=alice.access_token,
                     params={"url": f"{site}/page"})
    assert resp.json()["og:type"] == "website"


@pytest.mark.parametrize("target", [
    "{site}/page",                          # loopback by IP literal
    "http://localhost:{port}/page",         # loopback by name
    "http://[::1]:{port}/page",
    "http://[::ffff:127.0.0.1]:{port}/page",  # loopback hidden in an IPv4-mapped address
    "http://10.1.2.3/",                     # private
    "http://192.168.0.1/",
    "http://169.254.169.254/latest/meta-data/",  # link-local (cloud metadata)
    "http://0.0.0.0:{port}/",
    "http://[fe80::1]/",
])
async def test_addresses_that_are_not_public_are_refused(start_server: StartServer, site: str, target: str) -> None:
    server = await start_server(_config())
    alice = await server.register("alice")
    url = target.format(site=site, port=site.rsplit(":", 1)[1])
    resp = await preview(server, alice.access_token, url)
    assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN"), resp.body


async def test_a_redirect_cannot_reach_a_refused_address(start_server: StartServer, site: str) -> None:
    routes = web.RouteTableDef()

    @routes.get("/go")
    async def go(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{site}/page")  # from the allowed 127.0.0.2 to the refused 127.0.0.1

    async for allowed in _site("127.0.0.2", routes):
        server = await start_server(_config("127.0.0.2/32"))
        alice = await server.register("alice")
        resp = await preview(server, alice.access_token, f"{allowed}/go")
        assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN")


@pytest.mark.parametrize("url, errcode", [
    (None, "M_MISSING_PARAM"),
    ("file:///etc/passwd", "M_INVALID_PARAM"),
    ("gopher://example.org/", "M_INVALID_PARAM"),
    ("not a url", "M_INVALID_PARAM"),
    ("http://", "M_INVALID_PARAM"),
])
async def test_bad_urls_are_400(start_server: StartServer, url: str | None, errcode: str) -> None:
    server = await start_server(_config())
    alice = await server.register("alice")
    resp = await preview(server, alice.access_token, url)
    assert (resp.status, resp.errcode) == (400, errcode)
    resp = await preview(server, alice.access_token, "https://example.org/", ts="yesterday")
    assert (resp.status, resp.errcode) == (400, "M_INVALID_PARAM")
