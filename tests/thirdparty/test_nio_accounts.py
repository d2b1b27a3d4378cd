"""matrix-nio, a third-party Matrix client, drives sign-up, login, profile and directory
search: the server is checked against someone else's reading of the spec, not ours."""

from __future__ import annotations

import json

from nio import (
    AsyncClient,
    AsyncClientConfig,
    LoginResponse,
    ProfileGetResponse,
    ProfileSetDisplayNameResponse,
    RegisterResponse,
    WhoamiResponse,
)

from tests.helpers import TestServer


def _client(server: TestServer, user: str) -> AsyncClient:
    return AsyncClient(server.url, user, config=AsyncClientConfig(store_sync_tokens=False, encryption_enabled=False))


async def test_nio_signup_login_profile_and_directory(server: TestServer) -> None:
    leon = _client(server, "leon")
    other = _client(server, "mia")
    try:
        registered = await leon.register("leon", "correct horse battery", device_name="nio test")
        assert isinstance(registered, RegisterResponse), registered
        assert registered.user_id == "@leon:test.local"

        assert isinstance(await leon.set_displayname("Léon Ångström"), ProfileSetDisplayNameResponse)
        whoami = await leon.whoami()
        assert isinstance(whoami, WhoamiResponse) and whoami.user_id == "@leon:test.local"

        assert isinstance(await other.register("mia", "another good password"), RegisterResponse)
        await other.logout()
        logged_in = await other.login("another good password", device_name="second login")
        assert isinstance(logged_in, LoginResponse), logged_in

        profile = await other.get_profile("@leon:test.local")
        assert isinstance(profile, ProfileGetResponse) and profile.displayname == "Léon Ångström"

        # matrix-nio has no directory call; its own transport sends the request.
        resp = await other.send(
            "POST", "/_matrix/client/v3/user_directory/search",
            json.dumps({"search_term": "angstrom"}),
            headers={"Authorization": f"Bearer {other.access_token}", "Content-Type": "application/json"},
        )
        found = await resp.json()
        assert resp.status == 200
        assert [r["user_id"] for r in found["results"]] == ["@leon:test.local"]
        assert found["results"][0]["display_name"] == "Léon Ångström"
    finally:
        await leon.close()
        await other.close()
