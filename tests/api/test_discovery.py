from tests.helpers import TestServer


async def test_versions_lists_spec_versions(server: TestServer) -> None:
    resp = await server.request("GET", "/_matrix/client/versions")
    assert resp.status == 200
    assert "v1.1" in resp.body["versions"]


async def test_unknown_endpoint_is_unrecognized(server: TestServer) -> None:
    resp = await server.request("GET", "/_matrix/client/v3/no/such/thing")
    assert (resp.status, resp.errcode) == (404, "M_UNRECOGNIZED")


async def test_wrong_method_is_405_unrecognized(server: TestServer) -> None:
    resp = await server.request("DELETE", "/_matrix/client/versions")
    assert (resp.status, resp.errcode) == (405, "M_UNRECOGNIZED")


async def test_capabilities_needs_a_token(server: TestServer) -> None:
    resp = await server.request("GET", "capabilities")
    assert (resp.status, resp.errcode) == (401, "M_MISSING_TOKEN")
    resp = await server.request("GET", "capabilities", token="nonsense")
    assert (resp.status, resp.errcode) == (401, "M_UNKNOWN_TOKEN")


async def test_cors_preflight(server: TestServer) -> None:
    async with server.session.options(server.url + "/_matrix/client/v3/login") as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == "*"


async def test_metrics_count_requests_by_route_pattern(server: TestServer) -> None:
    await server.request("GET", "/_matrix/client/versions")
    await server.request("GET", "/_matrix/client/v3/profile/@someone:test.local")
    async with server.session.get(server.url + "/metrics") as resp:
        text = await resp.text()
    assert 'route="/_matrix/client/versions",status="200"' in text
    assert "@someone" not in text, "label values are route patterns, never user input"
