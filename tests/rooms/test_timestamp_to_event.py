"""Jumping to a date: GET /rooms/{roomId}/timestamp_to_event finds the closest event the
user may see, in either direction."""

from __future__ import annotations

from tests.helpers import TestServer

V1 = "/_matrix/client/v1"


async def test_closest_event_each_way_and_only_what_the_user_may_see(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = (await alice.post("createRoom", {"preset": "public_chat"})).body["room_id"]
    await alice.put(f"rooms/{room_id}/state/m.room.history_visibility", {"history_visibility": "joined"})
    sent = []
    for body in ("one", "two", "three"):
        resp = await alice.put(f"rooms/{room_id}/send/m.room.message/{body}", {"msgtype": "m.text", "body": body})
        event = (await alice.get(f"rooms/{room_id}/event/{resp.body['event_id']}")).body
        sent.append((event["event_id"], event["origin_server_ts"]))
    path = f"{V1}/rooms/{room_id}/timestamp_to_event"

    forwards = await alice.get(f"{path}?ts={sent[1][1]}&dir=f")
    assert forwards.status == 200 and forwards.body["origin_server_ts"] >= sent[1][1]
    assert forwards.body["event_id"] in {sent[1][0], sent[2][0]}
    backwards = await alice.get(f"{path}?ts={sent[2][1] + 10_000}&dir=b")
    assert backwards.body == {"event_id": sent[2][0], "origin_server_ts": sent[2][1]}
    assert (await alice.get(f"{path}?ts={sent[2][1] + 10_000}&dir=f")).errcode == "M_NOT_FOUND"

    # Bob joins later: with "joined" visibility the earlier history is not his to find.
    await bob.post(f"join/{room_id}")
    found = await bob.get(f"{path}?ts=0&dir=f")
    assert found.status == 200 and found.body["event_id"] not in {e for e, _ in sent}
    stranger = await server.register("carol")
    assert (await stranger.get(f"{path}?ts=0&dir=f")).status == 403

    for query, errcode in (("ts=1", "M_MISSING_PARAM"), ("dir=f", "M_MISSING_PARAM"),
                           ("ts=x&dir=f", "M_INVALID_PARAM"), ("ts=1&dir=up", "M_INVALID_PARAM")):
        assert (await alice.get(f"{path}?{query}")).errcode == errcode
