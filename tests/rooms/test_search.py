"""Server-side search over real HTTP: words and prefixes in any language, ranking and
recency, filters, context, groups, pagination, and never an event the searcher may not see."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from homeserver.storage import search as search_store
from homeserver.storage.search import searchable_text
from tests.helpers import Response, TestServer, User
from tests.rooms.test_rooms import create_room, send_text


def _criteria(term: str, **extra: Any) -> dict[str, Any]:
    return {"search_categories": {"room_events": {"search_term": term, **extra}}}


async def _search(user: User, term: str, next_batch: str | None = None, **extra: Any) -> dict[str, Any]:
    params = {"next_batch": next_batch} if next_batch is not None else None
    resp = await user.post("search", _criteria(term, **extra), params=params)
    assert resp.status == 200, resp
    return resp.body["search_categories"]["room_events"]


def _bodies(found: dict[str, Any]) -> list[str]:
    return [r["result"]["content"].get("body") for r in found["results"]]


async def _room_with(owner: User, visibility: str) -> str:
    room_id = await create_room(owner, preset="public_chat")
    resp = await owner.put(f"rooms/{room_id}/state/m.room.history_visibility", {"history_visibility": visibility})
    assert resp.status == 200, resp
    return room_id


async def test_words_and_the_last_words_prefix_are_found(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice)
    fox = await send_text(alice, room_id, "The quick brown fox")
    quickly = await send_text(alice, room_id, "Quickly now, please")
    await send_text(alice, room_id, "a lazy dog")

    found = await _search(alice, "quick")
    assert {r["result"]["event_id"] for r in found["results"]} == {fox, quickly}
    assert found["count"] == 2
    assert "quickly" in found["highlights"] and "quick" in found["highlights"]
    result = found["results"][0]["result"]
    assert result["room_id"] == room_id and result["sender"] == alice.user_id and result["type"] == "m.room.message"

    assert _bodies(await _search(alice, "brown fo")) == ["The quick brown fox"], "last word as a prefix"
    assert _bodies(await _search(alice, "bro fox")) == [], "only the last word is a prefix"
    assert _bodies(await _search(alice, "QUICK BROWN")) == ["The quick brown fox"], "case-insensitive"
    assert _bodies(await _search(alice, "fox cat")) == [], "every word must match"
    await send_text(alice, room_id, "say hello-world to alice@example.com")
    for term in ("hello-wor", "hello-world", "hello wor", "world", "alice@exa", "alice@example.com", "example",
                 "example.com", "exam", "ALICE@EXAMPLE.COM"):
        assert _bodies(await _search(alice, term)) == ["say hello-world to alice@example.com"], term
    assert (await _search(alice, "!!! ???"))["results"] == [], "no words, no results"


async def test_links_and_paths_are_found_by_their_words(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice)
    await send_text(alice, room_id, "read https://spec.matrix.org/v1.19/client-server-api/?x=1 and ~/notes/todo.txt")
    await send_text(alice, room_id, "mail ops@foo-bar.com")
    for term in ("matrix", "spec.matrix.org", "client-server", "client-server-api", "v1.19", "todo.txt", "notes/to",
                 "https://spec.matrix.org"):
        assert len((await _search(alice, term))["results"]) == 1, term
    for term in ("foo-bar.com", "foo", "ops@foo-bar", "bar.co"):
        assert _bodies(await _search(alice, term)) == ["mail ops@foo-bar.com"], term


async def test_any_language_is_found_by_its_words(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice)
    for body in ["Привет, мир", "Café au lait", "Die Straße ist lang", "Γειά σου κόσμε", "running runs ran"]:
        await send_text(alice, room_id, body)
    assert _bodies(await _search(alice, "мир")) == ["Привет, мир"]
    assert _bodies(await _search(alice, "ПРИВЕТ")) == ["Привет, мир"], "Cyrillic case folds"
    assert _bodies(await _search(alice, "CAFÉ")) == ["Café au lait"]
    assert _bodies(await _search(alice, "straße")) == ["Die Straße ist lang"]
    assert _bodies(await _search(alice, "κόσμε")) == ["Γειά σου κόσμε"]
    # The 'simple' configuration neither stems nor strips accents: "ran" is not "run",
    # and "cafe" is another word than "café" (as the words are written).
    assert _bodies(await _search(alice, "cafe")) == []
    assert _bodies(await _search(alice, "run")) == ["running runs ran"], "a prefix of running and runs"
    assert _bodies(await _search(alice, "ran")) == ["running runs ran"]
    assert _bodies(await _search(alice, "the")) == [], "'the' is a prefix of nothing here"
    assert _bodies(await _search(alice, "die")) == ["Die Straße ist lang"], "no stop words: 'die' is a word"


async def test_names_and_topics_are_searched_by_key(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice, name="Project Apollo", topic="Moon landing plans")
    await send_text(alice, room_id, "apollo is a greek god")
    await alice.put(f"rooms/{room_id}/state/m.room.topic",
                    {"topic": "old", "m.topic": {"m.text": [{"body": "Saturn rockets"},
                                                            {"mimetype": "text/html", "body": "<b>hidden</b>"}]}})

    found = await _search(alice, "apollo")
    assert sorted(r["result"]["type"] for r in found["results"]) == ["m.room.message", "m.room.name"]
    names = await _search(alice, "apollo", keys=["content.name"])
    assert [r["result"]["content"]["name"] for r in names["results"]] == ["Project Apollo"]
    assert [r["result"]["type"] for r in (await _search(alice, "moon", keys=["content.topic"]))["results"]] == [
        "m.room.topic"
    ]
    assert (await _search(alice, "moon", keys=["content.body"]))["results"] == []
    assert len((await _search(alice, "saturn"))["results"]) == 1, "m.topic's text/plain body"
    assert (await _search(alice, "hidden"))["results"] == [], "only text/plain representations"


async def test_rank_and_recent_orders(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice)
    once = await send_text(alice, room_id, "apple and some other fruit, mostly pears")
    thrice = await send_text(alice, room_id, "apple apple apple")
    latest = await send_text(alice, room_id, "an apple a day")

    ranked = await _search(alice, "apple")
    ranks = [r["rank"] for r in ranked["results"]]
    assert ranked["results"][0]["result"]["event_id"] == thrice, "the most relevant first"
    assert ranks == sorted(ranks, reverse=True) and ranks[0] > ranks[-1]

    recent = await _search(alice, "apple", order_by="recent")
    assert [r["result"]["event_id"] for r in recent["results"]] == [latest, thrice, once]


async def test_filter_narrows_rooms_senders_types_and_limit(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_a = await create_room(alice, preset="public_chat", name="meeting room")
    room_b = await create_room(alice, preset="public_chat")
    for room_id in (room_a, room_b):
        assert (await bob.post(f"join/{room_id}")).status == 200
    await send_text(alice, room_a, "meeting at noon")
    await send_text(bob, room_a, "meeting moved")
    await send_text(alice, room_b, "meeting notes")

    def rooms_of(found: dict[str, Any]) -> set[str]:
        return {r["result"]["room_id"] for r in found["results"]}

    assert rooms_of(await _search(bob, "meeting", filter={"rooms": [room_b]})) == {room_b}
    assert rooms_of(await _search(bob, "meeting", filter={"not_rooms": [room_a]})) == {room_b}
    senders = await _search(bob, "meeting", filter={"senders": [bob.user_id]})
    assert _bodies(senders) == ["meeting moved"]
    not_senders = await _search(bob, "meeting", filter={"not_senders": [bob.user_id], "types": ["m.room.message"]})
    assert sorted(_bodies(not_senders)) == ["meeting at noon", "meeting notes"]
    names = await _search(bob, "meeting", filter={"types": ["m.room.n*"]})
    assert [r["result"]["type"] for r in names["results"]] == ["m.room.name"]
    limited = await _search(bob, "meeting", filter={"limit": 2})
    assert len(limited["results"]) == 2 and "next_batch" in limited and limited["count"] == 4
    nothing = await _search(bob, "meeting", filter={"rooms": ["!elsewhere:test.local"]})
    assert nothing["results"] == [] and nothing["count"] == 0


async def test_event_context_with_profiles(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    await alice.put(f"profile/{alice.user_id}/displayname", {"displayname": "Alice A."})
    room_id = await create_room(alice, preset="public_chat")
    await bob.post(f"join/{room_id}")
    for i in range(4):
        await send_text(alice, room_id, f"before {i}")
    hit = await send_text(bob, room_id, "the needle")
    for i in range(3):
        await send_text(alice, room_id, f"after {i}")

    found = await _search(alice, "needle", event_context={"before_limit": 2, "after_limit": 1,
                                                          "include_profile": True})
    [result] = found["results"]
    assert result["result"]["event_id"] == hit
    context = result["context"]
    assert [e["content"]["body"] for e in context["events_before"]] == ["before 3", "before 2"]
    assert [e["content"]["body"] for e in context["events_after"]] == ["after 0"]
    assert context["profile_info"][alice.user_id] == {"displayname": "Alice A."}
    assert context["profile_info"][bob.user_id] == {"displayname": "bob"}
    # The tokens page on from the context with /messages.
    page = await alice.get(f"rooms/{room_id}/messages", params={"from": context["end"], "dir": "f", "limit": "1"})
    assert [e["content"]["body"] for e in page.body["chunk"]] == ["after 1"]

    bare = await _search(alice, "needle")
    assert "context" not in bare["results"][0]
    default = await _search(alice, "needle", event_context={})
    assert len(default["results"][0]["context"]["events_before"]) == 5
    assert "profile_info" not in default["results"][0]["context"]


async def test_groups_and_include_state(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_a = await create_room(alice, preset="public_chat", name="Alpha")
    room_b = await create_room(alice, preset="public_chat", name="Beta")
    await bob.post(f"join/{room_a}")
    a1 = await send_text(alice, room_a, "rocket one")
    a2 = await send_text(bob, room_a, "rocket two")
    b1 = await send_text(alice, room_b, "rocket three")

    found = await _search(alice, "rocket", order_by="recent", include_state=True,
                          groupings={"group_by": [{"key": "room_id"}, {"key": "sender"}]})
    groups = found["groups"]
    assert groups["room_id"][room_b]["results"] == [b1]
    assert groups["room_id"][room_a]["results"] == [a2, a1]
    assert {g["order"] for g in groups["room_id"].values()} == {1, 2}
    assert groups["sender"][alice.user_id]["results"] == [b1, a1]
    assert groups["sender"][bob.user_id]["results"] == [a2]
    assert all("next_batch" not in g for g in groups["room_id"].values()), "nothing more to fetch"
    names = {room_id: [e["content"].get("name") for e in events if e["type"] == "m.room.name"]
             for room_id, events in found["state"].items()}
    assert names == {room_a: ["Alpha"], room_b: ["Beta"]}


@pytest.mark.parametrize("order_by", ["rank", "recent"])
async def test_pagination_visits_every_result_once(server: TestServer, order_by: str) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice)
    sent = {await send_text(alice, room_id, f"page test {'word ' * (i % 3)}{i}") for i in range(7)}

    seen: list[str] = []
    next_batch = None
    pages = 0
    while True:
        found = await _search(alice, "page test", next_batch, order_by=order_by, filter={"limit": 3})
        seen += [r["result"]["event_id"] for r in found["results"]]
        pages += 1
        next_batch = found.get("next_batch")
        if next_batch is None:
            break
        assert len(found["results"]) == 3
    assert sorted(seen) == sorted(sent) and len(seen) == len(set(seen))
    assert pages == 3

    other = await _search(alice, "page test", order_by=order_by, filter={"limit": 3})
    mismatch = await alice.post("search", _criteria("page test", order_by="recent" if order_by == "rank" else "rank"),
                                params={"next_batch": other["next_batch"]})
    assert (mismatch.status, mismatch.errcode) == (400, "M_INVALID_PARAM")


async def test_a_groups_next_batch_continues_within_the_group(server: TestServer) -> None:
    alice = await server.register("alice")
    room_a, room_b = await create_room(alice), await create_room(alice)
    in_a = [await send_text(alice, room_a, f"comet a{i}") for i in range(3)]
    in_b = [await send_text(alice, room_b, f"comet b{i}") for i in range(3)]
    group_by = {"group_by": [{"key": "room_id"}]}
    first = await _search(alice, "comet", order_by="recent", filter={"limit": 2}, groupings=group_by)
    assert [r["result"]["event_id"] for r in first["results"]] == [in_b[2], in_b[1]]
    token = first["groups"]["room_id"][room_b]["next_batch"]
    rest = await _search(alice, "comet", token, order_by="recent", filter={"limit": 10}, groupings=group_by)
    assert [r["result"]["event_id"] for r in rest["results"]] == [in_b[0]], "only room B's remaining result"
    assert "next_batch" not in rest
    everything = await _search(alice, "comet", first["next_batch"], order_by="recent", filter={"limit": 10})
    assert [r["result"]["event_id"] for r in everything["results"]] == [in_b[0], *reversed(in_a)]


async def test_joined_visibility_room_joined_late_hides_the_past(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await _room_with(alice, "joined")
    for i in range(3):
        await send_text(alice, room_id, f"secret plan {i}")
    await bob.post(f"join/{room_id}")
    after = await send_text(alice, room_id, "secret revealed")

    found = await _search(bob, "secret")
    assert [r["result"]["event_id"] for r in found["results"]] == [after]
    assert found["count"] == 1, "the count does not reveal hidden matches"
    assert len((await _search(alice, "secret"))["results"]) == 4
    context = (await _search(bob, "revealed", event_context={"before_limit": 10}))["results"][0]["context"]
    assert all("secret plan" not in e["content"].get("body", "") for e in context["events_before"])


async def test_a_room_left_shows_only_what_came_before_the_leave(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await _room_with(alice, "shared")
    await bob.post(f"join/{room_id}")
    before = await send_text(alice, room_id, "banana bread recipe")
    assert (await bob.post(f"rooms/{room_id}/leave")).status == 200
    await send_text(alice, room_id, "banana split after bob left")

    assert [r["result"]["event_id"] for r in (await _search(bob, "banana"))["results"]] == [before]
    assert (await bob.post(f"rooms/{room_id}/forget")).status == 200
    assert (await _search(bob, "banana"))["results"] == [], "a forgotten room is not searched"


async def test_outsiders_and_redactions_find_nothing(server: TestServer) -> None:
    alice, eve = await server.register("alice"), await server.register("eve")
    room_id = await create_room(alice, preset="private_chat")
    secret = await send_text(alice, room_id, "password hunter2")
    kept = await send_text(alice, room_id, "password policy")
    assert (await _search(eve, "password"))["results"] == []
    assert (await _search(eve, "password"))["count"] == 0

    assert (await alice.put(f"rooms/{room_id}/redact/{secret}/r1", {})).status == 200
    found = await _search(alice, "password")
    assert [r["result"]["event_id"] for r in found["results"]] == [kept]
    assert (await _search(alice, "hunter2"))["results"] == []


async def test_odd_content_is_sent_and_skipped(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice)
    for txn, content in [("n", {"msgtype": "m.text", "body": 5}), ("l", {"body": ["list", "words"]})]:
        resp = await alice.put(f"rooms/{room_id}/send/m.room.message/{txn}", content)
        assert resp.status == 200, resp
    resp = await alice.put(f"rooms/{room_id}/state/m.room.topic", {"topic": {"not": "text"}, "m.topic": "odd"})
    assert resp.status == 200, resp
    assert (await _search(alice, "list"))["results"] == []


def test_text_postgres_cannot_hold_is_indexed_without_it() -> None:
    # Federation may bring what the client API refuses: NUL, and (from JSON escapes) lone surrogates.
    pdu = {"type": "m.room.message", "content": {"body": "zero\u0000byte \ud800 inside"}}
    assert searchable_text(pdu) == ("content.body", "zero byte ? inside")
    link = {"type": "m.room.message", "content": {"body": "see https://matrix.org/docs and a.b"}}
    assert searchable_text(link) == ("content.body", "see https://matrix.org/docs and a.b https matrix org docs a b")
    dashed = {"type": "m.room.message", "content": {"body": "foo-bar.com"}}
    assert searchable_text(dashed) == ("content.body", "foo-bar.com foo bar com")
    assert searchable_text({"type": "m.room.message", "state_key": "", "content": {"body": "x"}}) is None
    assert searchable_text({"type": "m.room.name", "content": {"name": "no state key"}}) is None
    assert searchable_text({"type": "m.room.name", "state_key": "", "content": {"name": ""}}) is None


async def test_the_search_query_can_use_the_index(server: TestServer) -> None:
    """The words are matched in a form the GIN index serves (on a table big enough for the
    planner to prefer it; here the small table is taken out of the running)."""
    query = search_store.SearchQuery("'word':*", ["!r:test.local"], search_store.KEYS, order_by_rank=True)
    async with server.hs.db.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        rows = await conn.fetch("EXPLAIN " + search_store._MATCHES, *search_store._args(query))
    plan = "\n".join(r[0] for r in rows)
    assert "Bitmap Index Scan on event_search_vector" in plan, plan


BAD_REQUESTS: list[tuple[Any, str]] = [
    ({}, "M_MISSING_PARAM"),
    ({"search_categories": []}, "M_BAD_JSON"),
    ({"search_categories": {"room_events": {}}}, "M_MISSING_PARAM"),
    ({"search_categories": {"room_events": None}}, "M_MISSING_PARAM"),
    ({"search_categories": {"room_events": {"search_term": 5}}}, "M_BAD_JSON"),
    ({"search_categories": {"room_events": {"search_term": "x" * 1001}}}, "M_BAD_JSON"),
    ({"search_categories": {"people": {"search_term": "x"}}}, "M_BAD_JSON"),
    (_criteria("x", keys=["content.url"]), "M_BAD_JSON"),
    (_criteria("x", keys=[]), "M_BAD_JSON"),
    (_criteria("x", keys="content.body"), "M_BAD_JSON"),
    (_criteria("x", order_by="oldest"), "M_BAD_JSON"),
    (_criteria("x", filter={"limit": 0}), "M_BAD_JSON"),
    (_criteria("x", filter={"rooms": "!a:b"}), "M_BAD_JSON"),
    (_criteria("x", filter={"not_rooms": [None]}), "M_BAD_JSON"),
    (_criteria("x", filter={"senders": [1]}), "M_BAD_JSON"),
    (_criteria("x", filter={"contains_url": "yes"}), "M_BAD_JSON"),
    (_criteria("x", filter=[]), "M_BAD_JSON"),
    (_criteria("x", event_context={"before_limit": -1}), "M_BAD_JSON"),
    (_criteria("x", event_context={"after_limit": "5"}), "M_BAD_JSON"),
    (_criteria("x", event_context={"include_profile": 1}), "M_BAD_JSON"),
    (_criteria("x", event_context=True), "M_BAD_JSON"),
    (_criteria("x", groupings={"group_by": [{"key": "type"}]}), "M_BAD_JSON"),
    (_criteria("x", groupings={"group_by": ["room_id"]}), "M_BAD_JSON"),
    (_criteria("x", groupings={"group_by": {"key": "room_id"}}), "M_BAD_JSON"),
    (_criteria("x", include_state="true"), "M_BAD_JSON"),
]


def _token(value: Any) -> str:
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BAD_TOKENS = [
    "garbage!", "", "ü", _token({}), _token("abcdef"), _token([1, "rank", 0.1, 1, "type", "!r"]),
    _token([2, "rank", 0.1, 1, None, None]), _token([1, "rank", 0.1, 2**63, None, None]),
    _token([1, "rank", 1e300, 1, None, None]), _token([1, "rank", True, 1, None, None]),
    _token([1, "recent", 0, -1, None, None]), _token(b'[1, "rank", 0, 1180591620717411303424, null, null]'), _token([1, "rank", 0.1, 1, "room_id", None]),
]


async def test_bad_requests_get_precise_errors(server: TestServer) -> None:
    alice = await server.register("alice")
    for body, errcode in BAD_REQUESTS:
        resp = await alice.post("search", body)
        assert (resp.status, resp.errcode) == (400, errcode), (body, resp)
    for token in BAD_TOKENS:
        resp = await alice.post("search", _criteria("x"), params={"next_batch": token})
        assert (resp.status, resp.errcode) == (400, "M_INVALID_PARAM"), (token, resp)
    good = _token([1, "rank", 0.5, 10, None, None])
    assert (await alice.post("search", _criteria("x"), params={"next_batch": good})).status == 200


async def test_not_json_and_no_token(server: TestServer) -> None:
    alice = await server.register("alice")
    resp: Response = await alice.post("search", data=b"{nope", headers={"Content-Type": "application/json"})
    assert (resp.status, resp.errcode) == (400, "M_NOT_JSON")
    resp = await server.request("POST", "search", _criteria("x"))
    assert (resp.status, resp.errcode) == (401, "M_MISSING_TOKEN")
    assert (await alice.post("search", {"search_categories": {}})).body == {"search_categories": {}}
