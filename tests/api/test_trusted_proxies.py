"""Behind a reverse proxy (server.trusted_proxies): limits, lockout and devices' last-seen
address follow the client's address in X-Forwarded-For, not the proxy's."""

from __future__ import annotations

from typing import Any

from tests.conftest import StartServer
from tests.helpers import Response, TestServer

PROXIED = {"server": {"trusted_proxies": ["127.0.0.0/8"]}, "auth": {"lockout_after_failures": 3}}


async def _login(server: TestServer, localpart: str, password: str, forwarded_for: str | None) -> Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    body: dict[str, Any] = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": localpart},
                            "password": password}
    return await server.request("POST", "login", body, headers=headers)


async def test_one_clients_failures_lock_out_that_client_only(start_server: StartServer) -> None:
    server = await start_server(PROXIED)
    ann = await server.register("ann")
    ben = await server.register("ben")
    for localpart in ("x1", "x2", "x3"):  # three unknown accounts from one client
        assert (await _login(server, localpart, "wrong password!", "203.0.113.5")).status == 403
    # That client is locked out, whatever account it tries; everyone else behind the proxy is not.
    assert (await _login(server, "ann", ann.password, "203.0.113.5")).status == 429
    assert (await _login(server, "ben", ben.password, "198.51.100.7")).status == 200
    # What the client writes itself (left of what the proxy appended) is never believed.
    assert (await _login(server, "ann", ann.password, "198.51.100.9, 203.0.113.5")).status == 429


async def test_without_trusted_proxies_the_header_is_ignored(start_server: StartServer) -> None:
    server = await start_server({"auth": {"lockout_after_failures": 3}})
    ann = await server.register("ann")
    for i in range(3):
        # A client cannot dodge its address's lockout by inventing addresses.
        assert (await _login(server, f"x{i}", "wrong password!", f"203.0.113.{i}")).status == 403
    assert (await _login(server, "ann", ann.password, "198.51.100.7")).status == 429


async def test_rate_limits_and_last_seen_use_the_forwarded_address(start_server: StartServer) -> None:
    server = await start_server({**PROXIED, "rate_limits": {"enabled": True, "login": {"per_second": 0.01, "burst": 2}}})
    cat = await server.register("cat")
    assert [(await _login(server, "cat", cat.password, "203.0.113.5")).status for _ in range(3)] == [200, 200, 429]
    assert (await _login(server, "cat", cat.password, "203.0.113.6")).status == 200

    resp = await server.request("GET", "devices", token=cat.access_token, headers={"X-Forwarded-For": "2001:db8::1"})
    assert resp.status == 200
    device = next(d for d in resp.body["devices"] if d["device_id"] == cat.device_id)
    assert device["last_seen_ip"] == "2001:db8::1"
