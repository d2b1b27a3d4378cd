"""A minimal HTTP/1.1 keep-alive client for load generation.

The load generator shares the machine's two cores with the server and PostgreSQL, so its
own cost per request matters: aiohttp's client spends about 0.4 ms of CPU on a request,
this one a small fraction of that (like wrk, it does only what a benchmark needs: one
request at a time per connection, Content-Length bodies).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson


class RawConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self._reader, self._writer, self._host = reader, writer, host

    @classmethod
    async def open(cls, url: str) -> RawConnection:
        host, _, port = url.removeprefix("http://").partition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer, f"{host}:{port}")

    async def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        payload = orjson.dumps(body) if body is not None else b""
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self._writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: {self._host}\r\n{auth}"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload
        )
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        data = await self._reader.readexactly(length) if length else b""
        return status, orjson.loads(data) if data else None

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()
