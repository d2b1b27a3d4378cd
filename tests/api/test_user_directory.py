"""The user directory over real HTTP: POST /user_directory/search."""

from __future__ import annotations

from typing import Any

import pytest

from homeserver.storage import users as user_store
from homeserver.storage.users import Profile
from homeserver.users import directory
from homeserver.users.sessions import create_session
from tests.conftest import StartServer
from tests.helpers import Response, TestServer, User

SEARCH = "user_directory/search"


async def seed(server: TestServer, localpart: str, displayname: str | None = None, avatar_url: str | None = None) -> User:
    """A user straight in the database, as registration and a profile change would leave it."""
    hs = server.hs
    user_id = f"@{localpart}:{hs.server_name}"
    async with hs.db.transaction() as conn:
        assert await user_store.insert_user(conn, user_id, localpart, None, hs.clock.now_ms())
        await user_store.insert_profile(conn, user_id, displayname)
        await directory.on_user_registered(conn, user_id, localpart, displayname)
        if avatar_url is not None:
            await directory.on_profile_changed(conn, user_id, displayname, avatar_url)
        session = await create_session(hs, conn, user_id, None, None, False)
    return User(server, user_id, session.access_token, session.device_id, "")


async def search(user: User, term: Any, **body: Any) -> Response:
    return await user.post(SEARCH, {"search_term": term, **body})


async def found(user: User, term: str, **body: Any) -> list[str]:
    """The localparts found, in order."""
    resp = await search(user, term, **body)
    assert resp.status == 200, resp
    return [r["user_id"][1:].split(":")[0] for r in resp.body["results"]]


@pytest.fixture
async def searcher(server: TestServer) -> User:
    return await seed(server, "searcher", "Searcher")


async def test_finds_by_prefix_and_substring_of_localpart_and_display_name(
    server: TestServer, searcher: User
) -> None:
    await seed(server, "alice", "Wonderland Liddell")
    await seed(server, "bob", "Robert")
    assert await found(searcher, "al") == ["alice"]           # localpart prefix
    assert await found(searcher, "lid") == ["alice"]          # display name word prefix
    assert await found(searcher, "ddel") == ["alice"]         # display name substring
    assert await found(searcher, "lic") == ["alice"]          # localpart substring
    assert await found(searcher, "rob") == ["bob"]
    assert await found(searcher, "zzz") == []


async def test_search_ignores_case(server: TestServer, searcher: User) -> None:
    await seed(server, "alice", "Alice Liddell")
    for term in ("ALICE", "aLiCe", "LIDDELL", "Liddell"):
        assert await found(searcher, term) == ["alice"], term


@pytest.mark.parametrize(("term", "expected"), [
    ("leon", "leon"), ("Léon", "leon"), ("LÉON", "leon"), ("ｌｅｏｎ", "leon"),
    ("angstrom", "anders"), ("Ångström", "anders"), ("ÅNGSTRÖM", "anders"),
    ("李", "xiaoming"), ("小明", "xiaoming"), ("明", "xiaoming"), ("李小明", "xiaoming"),
    ("nguyen", "an"), ("Nguyễn", "an"), ("nguyễn văn", "an"), ("van an", "an"), ("Văn", "an"),
    ("dang", "ha"), ("Đặng", "ha"), ("thi ha", "ha"),
    ("lukasz", "lukasz"), ("soren", "soren"), ("strasse", "strasse"), ("oeuvre", "oeuvre"),
    ("민준", "minjun"), ("김", "minjun"), ("太郎", "taro"), ("山田", "taro"), ("がくせい", "gakusei"),
])
async def test_unicode_folding(server: TestServer, searcher: User, term: str, expected: str) -> None:
    for localpart, name in [
        ("leon", "Léon Dubois"), ("anders", "Anders Ångström"), ("xiaoming", "李小明"),
        ("an", "Nguyễn Văn An"), ("ha", "Đặng Thị Hà"), ("lukasz", "Łukasz Wiśniewski"),
        ("soren", "Søren Kierkegaard"), ("strasse", "Hans Straße"), ("oeuvre", "Œuvre Complète"),
        ("minjun", "김민준"), ("taro", "山田 太郎"), ("gakusei", "ガクセイ がくせい"),
    ]:
        await seed(server, localpart, name)
    assert await found(searcher, term) == [expected]


async def test_ranks_exact_then_prefix_then_substring(server: TestServer, searcher: User) -> None:
    # Seeded out of order, so insertion order cannot pass for ranking.
    await seed(server, "joanna", "Joanna Smith")                  # substring
    await seed(server, "mary", "Mary Annson")                     # a display name word starts with it
    await seed(server, "zed", "Ann")                              # exact display name
    await seed(server, "annabel", "Annabel Lee")                  # localpart and display name prefix
    await seed(server, "ann", None)                               # exact localpart, no display name
    await seed(server, "marie", "Ann-Marie Duval")                # first display name word
    await seed(server, "hannah", "Hannah")                        # substring
    assert await found(searcher, "ann") == [
        "ann", "zed",                        # exact: same sort name "ann", then by user ID
        "marie", "annabel", "mary",          # prefix: "ann marie duval" < "annabel lee" < "mary annson"
        "hannah", "joanna",                  # substring: "hannah" < "joanna smith"
    ]


async def test_limit_and_limited(start_server: StartServer) -> None:
    server = await start_server({"user_directory": {"max_limit": 12}})
    searcher = await seed(server, "searcher")
    for i in range(12):
        await seed(server, f"pat{i:02}", f"Pat {i:02}")

    async def page(**body: Any) -> tuple[int, bool]:
        resp = await search(searcher, "pat", **body)
        assert resp.status == 200, resp
        return len(resp.body["results"]), resp.body["limited"]

    assert await page() == (10, True)                 # the spec's default limit
    assert await page(limit=5) == (5, True)
    assert await page(limit=11) == (11, True)
    assert await page(limit=12) == (12, False)        # exactly all of them: nothing left out
    assert await page(limit=1000) == (12, False)      # capped at user_directory.max_limit
    assert await page(limit=0) == (0, True)
    assert await found(searcher, "pat", limit=3) == ["pat00", "pat01", "pat02"]


async def test_limit_is_capped_by_config(start_server: StartServer) -> None:
    server = await start_server({"user_directory": {"max_limit": 3}})
    searcher = await seed(server, "searcher")
    for i in range(5):
        await seed(server, f"kim{i}")
    resp = await search(searcher, "kim", limit=50)
    assert (len(resp.body["results"]), resp.body["limited"]) == (3, True)


async def test_limited_counts_every_rank(server: TestServer, searcher: User) -> None:
    for localpart in ("rosa", "rosalind", "ambrose", "primrose"):  # 2 prefix, 2 substring matches
        await seed(server, localpart)
    assert await found(searcher, "ros", limit=3) == ["rosa", "rosalind", "ambrose"]
    resp = await search(searcher, "ros", limit=3)
    assert resp.body["limited"] is True
    resp = await search(searcher, "ros", limit=4)
    assert (len(resp.body["results"]), resp.body["limited"]) == (4, False)


async def test_results_carry_profile_and_omit_what_is_unset(server: TestServer, searcher: User) -> None:
    await seed(server, "quinn", "Quinn Q", avatar_url="mxc://test.local/quinn")
    await seed(server, "quill")
    resp = await search(searcher, "qui")
    assert resp.body == {
        "results": [
            {"user_id": "@quill:test.local"},
            {"user_id": "@quinn:test.local", "display_name": "Quinn Q", "avatar_url": "mxc://test.local/quinn"},
        ],
        "limited": False,
    }


async def test_deactivated_users_are_never_found(server: TestServer, searcher: User) -> None:
    carol = await seed(server, "carol", "Carol Danvers")
    assert await found(searcher, "carol") == ["carol"]
    async with server.hs.db.transaction() as conn:
        await user_store.mark_deactivated(conn, carol.user_id)
        await directory.on_user_deactivated(conn, carol.user_id)
    assert await found(searcher, "carol") == []
    assert await found(searcher, "danvers") == []
    # A later profile write (an admin's, say) does not bring the entry back.
    async with server.hs.db.transaction() as conn:
        await directory.on_profile_changed(conn, carol.user_id, "Carol D", None)
    assert await found(searcher, "carol") == []


async def test_deactivation_over_http_removes_the_entry(server: TestServer, searcher: User) -> None:
    dora = await server.register("dora")
    assert await found(searcher, "dora") == ["dora"]
    session = (await dora.post("account/deactivate", {})).body["session"]
    auth = {"type": "m.login.password", "user": "dora", "password": dora.password, "session": session}
    assert (await dora.post("account/deactivate", {"auth": auth})).status == 200
    assert await found(searcher, "dora") == []


async def test_profile_changes_over_http_are_searchable(server: TestServer, searcher: User) -> None:
    erin = await server.register("erin")
    assert await found(searcher, "erin") == ["erin"]  # registration names the user after the localpart
    resp = await erin.put(f"profile/{erin.user_id}/displayname", {"displayname": "Éowyn Shieldmaiden"})
    assert resp.status == 200
    assert await found(searcher, "eowyn") == ["erin"]
    assert await found(searcher, "shield") == ["erin"]
    assert await found(searcher, "erin") == ["erin"]   # the localpart still matches
    avatar = (await erin.post("/_matrix/media/v3/upload", data=b"GIF89a", headers={"Content-Type": "image/gif"}))
    resp = await erin.put(f"profile/{erin.user_id}/avatar_url", {"avatar_url": avatar.body["content_uri"]})
    assert resp.status == 200
    result = (await search(searcher, "eowyn")).body["results"]
    assert result == [{"user_id": erin.user_id, "display_name": "Éowyn Shieldmaiden",
                       "avatar_url": avatar.body["content_uri"]}]


async def test_hidden_users_are_found_only_by_themselves(server: TestServer, searcher: User) -> None:
    frank = await seed(server, "frank", "Frank Hidden")
    setting = f"user/{frank.user_id}/account_data/{directory.SETTING_TYPE}"
    # Only this type hides; and the setting must say false.
    assert (await frank.put(f"user/{frank.user_id}/account_data/org.example", {"searchable": False})).status == 200
    assert (await frank.put(setting, {"searchable": "no"})).status == 200
    assert await found(searcher, "frank") == ["frank"]
    assert (await frank.put(setting, {"searchable": False})).status == 200
    assert await found(searcher, "frank") == []
    assert (await frank.put(f"user/{frank.user_id}/account_data/org.example", {})).status == 200
    assert await found(searcher, "frank") == []
    assert await found(searcher, f"@frank:{server.server_name}") == []
    assert await found(frank, "frank") == ["frank"]
    # The setting outlives profile changes.
    assert (await frank.put(f"profile/{frank.user_id}/displayname", {"displayname": "Frank Still"})).status == 200
    assert await found(searcher, "still") == []
    assert (await frank.put(setting, {"searchable": True})).status == 200
    assert await found(searcher, "frank") == ["frank"]


async def test_search_all_users_false_finds_only_room_mates(start_server: StartServer) -> None:
    server = await start_server({"user_directory": {"search_all_users": False}})
    gina = await seed(server, "gina", "Gina")
    await seed(server, "gideon", "Gideon")
    gilda = await seed(server, "gilda", "Gilda")
    # No shared rooms: only the searcher themself is visible.
    assert await found(gina, "gi") == ["gina"]
    assert await found(gina, "gideon") == []
    room = await gina.post("createRoom", {"preset": "private_chat", "invite": [gilda.user_id]})
    assert (await gilda.post(f"join/{room.body['room_id']}")).status == 200
    assert await found(gina, "gi") == ["gilda", "gina"], "a room-mate can be found"
    public = await gilda.post("createRoom", {"preset": "public_chat", "visibility": "public"})
    assert public.status == 200
    assert await found(await seed(server, "gus", "Gus"), "gil") == ["gilda"], "so can anyone in a public room"


async def test_room_mates_rank_first_within_a_rank(server: TestServer) -> None:
    me = await seed(server, "me", "Me")
    for i in range(12):
        await seed(server, f"sam{i:02d}", f"Sam {i:02d}")
    mate = await seed(server, "samzz", "Sam ZZ")  # last by name
    room = await me.post("createRoom", {"preset": "private_chat", "invite": [mate.user_id]})
    await mate.post(f"join/{room.body['room_id']}")
    results = await found(me, "sam", limit=5)
    assert results[0] == "samzz", "a room-mate comes first, even from the end of the name order"
    assert results[1:] == ["sam00", "sam01", "sam02", "sam03"]


async def test_full_user_id(server: TestServer, searcher: User) -> None:
    await seed(server, "alice", "Alice")
    await seed(server, "alicia", "Alicia")
    await seed(server, "local", "Test Local")  # every word of the server name, but not the ID
    assert await found(searcher, "@alice:test.local") == ["alice"]
    # Another server's user cannot be looked up until federation fills in the lookup.
    assert await found(searcher, "@bob:other.example") == []


class FakeProfiles:
    def __init__(self, profiles: dict[str, Profile]) -> None:
        self.profiles = profiles
        self.asked: list[str] = []

    async def fetch_profile(self, user_id: str) -> Profile | None:
        self.asked.append(user_id)
        return self.profiles.get(user_id)


async def test_remote_user_id_is_found_through_the_profile_lookup(server: TestServer, searcher: User) -> None:
    await seed(server, "bob", "Bob Local")
    profiles = FakeProfiles({"@bob:other.example": Profile("Bob Remote", "mxc://other.example/bob")})
    result = await directory.search(server.hs, searcher.user_id, "@bob:other.example", 10, profiles)
    assert [(m.user_id, m.displayname) for m in result.results] == [("@bob:other.example", "Bob Remote")]
    assert not result.limited
    result = await directory.search(server.hs, searcher.user_id, "@nobody:other.example", 10, profiles)
    assert result.results == ()
    # Local user IDs and plain terms never go to the lookup.
    await directory.search(server.hs, searcher.user_id, "@bob:test.local", 10, profiles)
    await directory.search(server.hs, searcher.user_id, "bob", 10, profiles)
    assert profiles.asked == ["@bob:other.example", "@nobody:other.example"]


async def test_terms_without_letters_or_digits_find_nobody(server: TestServer, searcher: User) -> None:
    await seed(server, "alice", "Alice")
    for term in ("", "   ", "!?", "%", "_"):
        resp = await search(searcher, term)
        assert (resp.status, resp.body) == (200, {"results": [], "limited": False}), term


@pytest.mark.parametrize(("body", "errcode"), [
    ({}, "M_MISSING_PARAM"),
    ({"search_term": None}, "M_MISSING_PARAM"),
    ({"search_term": 5}, "M_BAD_JSON"),
    ({"search_term": "a" * 513}, "M_BAD_JSON"),
    ({"search_term": "a", "limit": "5"}, "M_BAD_JSON"),
    ({"search_term": "a", "limit": 2.5}, "M_BAD_JSON"),
    ({"search_term": "a", "limit": True}, "M_BAD_JSON"),
    ({"search_term": "a", "limit": -1}, "M_INVALID_PARAM"),
    (["search_term"], "M_BAD_JSON"),
])
async def test_bad_input_is_a_precise_400(searcher: User, body: Any, errcode: str) -> None:
    resp = await searcher.post(SEARCH, body)
    assert (resp.status, resp.errcode) == (400, errcode)


async def test_non_json_body_is_m_not_json(searcher: User) -> None:
    resp = await searcher.request("POST", SEARCH, data=b"{not json", headers={"Content-Type": "application/json"})
    assert (resp.status, resp.errcode) == (400, "M_NOT_JSON")


async def test_search_needs_an_access_token(server: TestServer) -> None:
    resp = await server.request("POST", SEARCH, {"search_term": "a"})
    assert (resp.status, resp.errcode) == (401, "M_MISSING_TOKEN")
    resp = await server.request("POST", SEARCH, {"search_term": "a"}, token="nonsense")
    assert (resp.status, resp.errcode) == (401, "M_UNKNOWN_TOKEN")
