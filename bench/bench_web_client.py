"""The web client in Debian's Chromium against a real `homeserver run`:

1. page to room list: a signed-in user with 100 rooms opens the page (a fresh browser
   context each time, so the assets are fetched too); the time until all 100 rooms are
   listed. Repeated --loads times.
2. send to shown: Alice presses Enter in her browser, Bob's browser shows the message;
   timed inside both pages (the same machine's clock), --messages messages one after
   another.

    python bench/bench_web_client.py [--database-url URL] [--loads 10] [--messages 50]

Needs Node.js with tests/web's packages (`npm ci` in tests/web) and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._server import ROOT, running_server, summary  # noqa: E402
from bench.bench_user_directory import fresh_database  # noqa: E402

SCRIPT = Path(__file__).resolve().parent / "web_client.mjs"
ROOMS = 100


async def seed(server, password: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Alice in 100 rooms, each with Bob and three messages; a DM between them last."""
    alice = await server.register("alice", password)
    bob = await server.register("bob", password)
    client = "/_matrix/client/v3"
    for i in range(ROOMS - 1):
        room = (await server.call("POST", f"{client}/createRoom",
                                  {"name": f"Room {i:03d}", "invite": ["@bob:bench.local"]}, alice))["room_id"]
        await server.call("POST", f"{client}/join/{room}", {}, bob)
        for n in range(3):
            await server.call("PUT", f"{client}/rooms/{room}/send/m.room.message/s{i}-{n}",
                              {"msgtype": "m.text", "body": f"message {n} in room {i}"}, alice if n % 2 else bob)
    dm = (await server.call("POST", f"{client}/createRoom",
                            {"preset": "trusted_private_chat", "is_direct": True, "invite": ["@bob:bench.local"]}, alice))["room_id"]
    await server.call("POST", f"{client}/join/{dm}", {}, bob)
    await server.call("PUT", f"{client}/rooms/{dm}/send/m.room.message/dm0", {"msgtype": "m.text", "body": "hi"}, alice)
    return {"dm": dm}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--loads", type=int, default=10)
    parser.add_argument("--messages", type=int, default=50)
    args = parser.parse_args()
    password = "benchmark password"
    async with fresh_database(args.database_url) as url, running_server(url) as server:
        seeded = await seed(server, password)
        env = {**os.environ, "CHROMIUM": os.environ.get("CHROMIUM", "/usr/bin/chromium")}
        done = subprocess.run(
            ["node", str(SCRIPT), server.url, password, seeded["dm"], str(args.loads), str(args.messages), str(ROOMS)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
        )
        if done.returncode != 0:
            raise SystemExit(f"web_client.mjs failed ({done.returncode}):\n{done.stderr}\n{done.stdout}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
    print(summary(f"page to room list ({ROOMS} rooms, fresh context)", result["loads_ms"]))
    print(summary("send to shown on the other screen", result["send_ms"]))
    print(f"first load: {result['first_load_bytes']} bytes over the wire")


if __name__ == "__main__":
    asyncio.run(main())
