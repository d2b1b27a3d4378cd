"""Device-list changes reach exactly the users who share an encrypted room (spec:
"Tracking the device list for a user", "Extensions to /sync"), and wake their syncs."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.e2ee.keys import DeviceKeys
from tests.helpers import TestServer, User

ENCRYPTION = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}


class Syncer:
    """One client's incremental syncs: each call returns what changed since the last."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.token: str | None = None

    async def start(self) -> Syncer:
        self.token = (await self.user.get("sync")).body["next_batch"]
        return self

    async def next(self, timeout_ms: int = 0) -> dict[str, Any]:
        resp = await self.user.get(f"sync?since={self.token}&timeout={timeout_ms}")
        assert resp.status == 200, resp
        self.token = resp.body["next_batch"]
        return resp.body["device_lists"]


async def room(creator: User, *members: User, encrypted: bool) -> str:
    body: dict[str, Any] = {"invite": [m.user_id for m in members]}
    if encrypted:
        body["initial_state"] = [ENCRYPTION]
    room_id = (await creator.post("createRoom", body)).body["room_id"]
    for member in members:
        assert (await member.post(f"join/{room_id}")).status == 200
    return room_id


async def test_key_changes_reach_those_sharing_an_encrypted_room(server: TestServer) -> None:
    alice, bob, carol, dave = [await server.register(n) for n in ("alice", "bob", "carol", "dave")]
    await room(alice, bob, encrypted=True)
    await room(alice, carol, encrypted=False)
    syncs = {u.user_id: await Syncer(u).start() for u in (alice, bob, carol, dave)}

    parked = asyncio.create_task(syncs[bob.user_id].next(timeout_ms=10_000))
    await asyncio.sleep(0.2)
    assert (await DeviceKeys.of(alice).upload(alice, one_time=1)).status == 200
    woken = await asyncio.wait_for(parked, 5)
    assert woken == {"changed": [alice.user_id], "left": []}, "bob's long-poll wakes with alice's change"

    assert await syncs[alice.user_id].next() == {"changed": [alice.user_id], "left": []}  # her other devices
    assert await syncs[carol.user_id].next() == {"changed": [], "left": []}, "no encrypted room shared"
    assert await syncs[dave.user_id].next() == {"changed": [], "left": []}

    # Renaming a device with keys is one (others read its name in /keys/query).
    assert (await alice.put(f"devices/{alice.device_id}", {"display_name": "new name"})).status == 200
    assert await syncs[bob.user_id].next() == {"changed": [alice.user_id], "left": []}

    # Claims and uploads of one-time keys alone are not device-list changes.
    await bob.post("keys/claim", {"one_time_keys": {alice.user_id: {alice.device_id: "signed_curve25519"}}})
    assert await syncs[bob.user_id].next() == {"changed": [], "left": []}


async def test_joining_leaving_and_turning_encryption_on(server: TestServer) -> None:
    alice, bob, carol = [await server.register(n) for n in ("alice", "bob", "carol")]
    encrypted = await room(alice, bob, encrypted=True)
    plain = await room(alice, carol, encrypted=False)
    syncs = {u.user_id: await Syncer(u).start() for u in (alice, bob, carol)}

    await alice.post(f"rooms/{encrypted}/invite", {"user_id": carol.user_id})
    await carol.post(f"join/{encrypted}")
    assert await syncs[carol.user_id].next() == {"changed": [alice.user_id, bob.user_id], "left": []}
    assert await syncs[bob.user_id].next() == {"changed": [carol.user_id], "left": []}

    await carol.post(f"rooms/{encrypted}/leave")
    assert await syncs[bob.user_id].next() == {"changed": [], "left": [carol.user_id]}
    # Carol shares only an unencrypted room with alice now: she stops tracking both.
    assert await syncs[carol.user_id].next() == {"changed": [], "left": [alice.user_id, bob.user_id]}
    assert (await syncs[alice.user_id].next())["left"] == [carol.user_id]

    resp = await alice.put(f"rooms/{plain}/state/m.room.encryption", ENCRYPTION["content"])
    assert resp.status == 200, resp
    assert await syncs[carol.user_id].next() == {"changed": [alice.user_id], "left": []}
    assert await syncs[alice.user_id].next() == {"changed": [carol.user_id], "left": []}
    assert await syncs[bob.user_id].next() == {"changed": [], "left": []}


async def test_deleting_a_device_removes_its_keys_and_tells_room_mates(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    await room(alice, bob, encrypted=True)
    phone = await server.login("bob", bob.password, device_id="PHONE")
    bob_phone = User(server, bob.user_id, phone.body["access_token"], "PHONE", bob.password)
    await DeviceKeys.of(bob_phone).upload(bob_phone, one_time=3, fallback=True)
    since = (await alice.get("sync")).body["next_batch"]
    syncer = Syncer(alice)
    syncer.token = since

    resp = await bob.post("delete_devices", {"devices": ["PHONE"], "auth": {
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "bob"}, "password": bob.password}})
    assert resp.status == 200, resp
    assert await syncer.next() == {"changed": [bob.user_id], "left": []}
    found = await alice.post("keys/query", {"device_keys": {bob.user_id: []}})
    assert found.body["device_keys"] == {bob.user_id: {}}
    claimed = await alice.post("keys/claim", {"one_time_keys": {bob.user_id: {"PHONE": "signed_curve25519"}}})
    assert claimed.body["one_time_keys"] == {}

    # GET /keys/changes tells the same story between two sync tokens.
    changes = await alice.get(f"keys/changes?from={since}&to={syncer.token}")
    assert changes.status == 200 and changes.body == {"changed": [bob.user_id], "left": []}
    assert (await alice.get("keys/changes")).errcode == "M_MISSING_PARAM"
    assert (await alice.get("keys/changes?from=garbage")).errcode == "M_INVALID_PARAM"


async def test_logout_of_a_device_with_keys_is_a_change(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    await room(alice, bob, encrypted=True)
    await DeviceKeys.of(bob).upload(bob)
    syncer = await Syncer(alice).start()
    assert (await bob.post("logout")).status == 200
    assert await syncer.next() == {"changed": [bob.user_id], "left": []}
