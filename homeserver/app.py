"""The aiohttp application: middleware, every route module, and the HomeServer lifecycle."""

from __future__ import annotations

import asyncio
import gc
import logging
import ssl

from aiohttp import web

from homeserver.api import middleware
from homeserver.api.connections import Runner
from homeserver.api.admin import ROUTES as ADMIN_ROUTES
from homeserver.api.client import ROUTES as CLIENT_ROUTES
from homeserver.api.context import HOMESERVER
from homeserver.api.media import ROUTES as MEDIA_ROUTES
from homeserver.api.metrics import routes as METRICS_ROUTES
from homeserver.api.params import static_version_routes
from homeserver.api.web_client import routes as web_client_routes
from homeserver.config import Config, ListenerConfig
from homeserver.server import HomeServer

log = logging.getLogger(__name__)

def build_app(hs: HomeServer) -> web.Application:
    app = web.Application(
        middlewares=[middleware.cors, middleware.metrics, middleware.errors],
        client_max_size=hs.config.server.max_request_body_bytes,
    )
    app[HOMESERVER] = hs

    async def wake_long_polls(app: web.Application) -> None:
        hs.feed.close()

    app.on_shutdown.append(wake_long_polls)
    for routes in (*CLIENT_ROUTES, *MEDIA_ROUTES, *ADMIN_ROUTES, METRICS_ROUTES):
        app.add_routes(static_version_routes(routes))
    app.add_routes(web_client_routes(hs.config.web_client))
    return app


async def serve(config: Config) -> None:
    """Run until cancelled: start the HomeServer, listen on every configured listener."""
    hs = await HomeServer.start(config)
    # What start-up built lives as long as the process: keep it out of the cyclic garbage
    # collector's full passes, which otherwise stall a request now and then (a /keys/query
    # of 500 devices went from p99 4 ms to 28 ms; bench/bench_keys.py).
    gc.collect()
    gc.freeze()
    runner = Runner(build_app(hs), config.server)
    try:
        await runner.setup()
        for listener in config.server.listeners:
            site = web.TCPSite(runner, listener.bind, listener.port, ssl_context=_tls(config, listener))
            await site.start()
            log.info("listening on %s:%d", listener.bind, listener.port)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await hs.close()


def _tls(config: Config, listener: ListenerConfig) -> ssl.SSLContext | None:
    if listener.tls_certificate_path is None or listener.tls_private_key_path is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(
        config.path(listener.tls_certificate_path), config.path(listener.tls_private_key_path)
    )
    return context

