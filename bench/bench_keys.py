"""End-to-end encryption key lookups, over HTTP against a real server process.

    python bench/bench_keys.py [--database-url URL] [--count 300]

100 users with 5 devices each upload signed device keys, 50 signed one-time keys and a
fallback key per device. Then, one request after another (after 30 unmeasured):

1. /keys/query for all 100 users (500 devices' keys, with display names and signatures);
2. /keys/claim of one one-time key from each of 50 devices (10 users' 5 devices, a
   different 10 users each time; each claim takes a one-time key, never the fallback).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import nacl.signing

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._http import RawConnection  # noqa: E402
from bench._server import Server, running_server, summary  # noqa: E402
from homeserver.events.canonical import encode_base64  # noqa: E402
from homeserver.events.signing import SigningKey, sign_json  # noqa: E402

# Cheap hashing, and no lockout of the one address 500 logins come from.
CONFIG = {"auth": {"password_hash": {"time_cost": 1, "memory_cost_kib": 64, "parallelism": 1},
                   "lockout_after_failures": 100_000}}
USERS, DEVICES, ONE_TIME_KEYS = 100, 5, 50
PASSWORD = "benchmark password"


def _keys_upload(user_id: str, device_id: str) -> dict[str, Any]:
    key = SigningKey(f"ed25519:{device_id}", nacl.signing.SigningKey.generate())
    device_keys = sign_json({
        "user_id": user_id, "device_id": device_id,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {f"curve25519:{device_id}": encode_base64(os.urandom(32)), f"ed25519:{device_id}": key.public_key_base64},
    }, user_id, key)
    one_time = {f"signed_curve25519:K{i:04d}": sign_json({"key": encode_base64(os.urandom(32))}, user_id, key)
                for i in range(ONE_TIME_KEYS)}
    fallback = {"signed_curve25519:F0000": sign_json({"key": encode_base64(os.urandom(32)), "fallback": True},
                                                     user_id, key)}
    return {"device_keys": device_keys, "one_time_keys": one_time, "fallback_keys": fallback}


async def _user(server: Server, index: int) -> tuple[str, list[str]]:
    localpart = f"keys{index}"
    await server.register(localpart, PASSWORD)
    devices = []
    for d in range(DEVICES):
        login = await server.call("POST", "/_matrix/client/v3/login", {
            "type": "m.login.password", "identifier": {"type": "m.id.user", "user": localpart},
            "password": PASSWORD, "device_id": f"DEVICE{d}"})
        await server.call("POST", "/_matrix/client/v3/keys/upload",
                          _keys_upload(login["user_id"], login["device_id"]), login["access_token"])
        devices.append(login["device_id"])
    return login["user_id"], devices


async def _timed(connection: RawConnection, token: str, path: str, bodies: list[Any], check: Any) -> list[float]:
    samples = []
    for body in bodies:
        started = time.perf_counter()
        status, answer = await connection.request("POST", path, body, token)
        samples.append((time.perf_counter() - started) * 1000)
        if status != 200 or not check(answer):
            raise RuntimeError(f"{path}: {status} {str(answer)[:300]}")
    return samples


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    async with running_server(args.database_url, CONFIG) as server:
        users: list[tuple[str, list[str]]] = []
        for start in range(0, USERS, 10):
            users += await asyncio.gather(*(_user(server, i) for i in range(start, start + 10)))
        token = await server.register("reader", PASSWORD)
        connection = await RawConnection.open(server.url)

        query = {"device_keys": {user_id: [] for user_id, _ in users}}
        everyone = lambda answer: sum(len(d) for d in answer["device_keys"].values()) == USERS * DEVICES  # noqa: E731
        await _timed(connection, token, "/_matrix/client/v3/keys/query", [query] * 30, everyone)
        print(summary(f"/keys/query {USERS} users x {DEVICES} devices",
                      await _timed(connection, token, "/_matrix/client/v3/keys/query", [query] * args.count, everyone)))

        groups = [{"one_time_keys": {u: {d: "signed_curve25519" for d in devices} for u, devices in users[i:i + 10]}}
                  for i in range(0, USERS, 10)]

        def fifty_one_time_keys(answer: Any) -> bool:
            keys = [k for devices in answer["one_time_keys"].values() for d in devices.values() for k in d]
            return len(keys) == 50 and not any(k.endswith("F0000") for k in keys)

        # Each device holds ONE_TIME_KEYS: claim no more than that from any.
        count = min(args.count, len(groups) * ONE_TIME_KEYS - 30)
        claims = [groups[i % len(groups)] for i in range(30 + count)]
        await _timed(connection, token, "/_matrix/client/v3/keys/claim", claims[:30], fifty_one_time_keys)
        print(summary("/keys/claim 50 devices",
                      await _timed(connection, token, "/_matrix/client/v3/keys/claim", claims[30:], fifty_one_time_keys)))
        await connection.close()


if __name__ == "__main__":
    import uvloop  # the load generator shares the two cores: keep its own cost low

    uvloop.run(main())
