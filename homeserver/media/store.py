"""Where media bytes live: a small interface, and the content-addressed file store.

Content is addressed by its SHA-256, so the same bytes uploaded twice (or the same
thumbnail made for two uploads) are stored once. Which media IDs point at which content
is PostgreSQL's business (homeserver/storage/media.py); a store only knows hashes. An
S3-compatible store can implement ``MediaStore`` without the handlers changing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"[0-9a-f]{64}")
_WRITE_BUFFER = 1 << 20  # bytes gathered before one write (and hash update) in a thread
READ_CHUNK = 1 << 18
_STALE_TEMP_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class StoredBlob:
    sha256: str
    size: int


class MediaStore(Protocol):
    async def put(self, chunks: AsyncIterable[bytes]) -> StoredBlob:
        """Store a stream, hashing as it goes. If iterating ``chunks`` raises (too large, the
        client went away), the exception propagates and nothing is left behind."""
        ...

    async def exists(self, sha256: str) -> bool: ...

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes [start, end) of stored content, in chunks."""
        ...

    def local_path(self, sha256: str) -> Path | None:
        """A file holding the content, when the store is a local disk (for sendfile and
        for decoding images without a copy); None for remote stores."""
        ...

    async def delete(self, sha256: str) -> None:
        """Remove content no media row refers to any more (the caller checks that)."""
        ...


async def put_bytes(store: MediaStore, data: bytes) -> StoredBlob:
    async def one() -> AsyncIterator[bytes]:
        yield data

    return await store.put(one())


@dataclass(frozen=True)
class FileMediaStore:
    """Files under ``root/content/ab/cd/abcd…`` (fan-out by the hash's first two bytes).

    A write goes to ``root/tmp`` (same file system) and is fsynced and renamed into place
    atomically, so a reader never sees a partial file under a content address, and a
    crash leaves at most a stray temporary file (removed at start once a day old).
    """

    root: Path

    @classmethod
    def open(cls, root: Path) -> FileMediaStore:
        store = cls(root)
        (root / "content").mkdir(parents=True, exist_ok=True)
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        store._remove_stale_temp_files()
        return store

    def path(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / "content" / sha256[:2] / sha256[2:4] / sha256

    async def put(self, chunks: AsyncIterable[bytes]) -> StoredBlob:
        fd, temp_name = tempfile.mkstemp(dir=self.root / "tmp", prefix="upload-")
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as f:
                digest, size = await _write_all(f, chunks)
                await asyncio.to_thread(os.fsync, f.fileno())
            final = self.path(digest)
            await asyncio.to_thread(_move_into_place, temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return StoredBlob(digest, size)

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.path(sha256).is_file)

    async def read(self, sha256: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        f = await asyncio.to_thread(open, self.path(sha256), "rb")
        try:
            await asyncio.to_thread(f.seek, start)
            left = None if end is None else end - start
            while left is None or left > 0:
                chunk = await asyncio.to_thread(f.read, READ_CHUNK if left is None else min(READ_CHUNK, left))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            f.close()

    def local_path(self, sha256: str) -> Path | None:
        return self.path(sha256)

    async def delete(self, sha256: str) -> None:
        await asyncio.to_thread(self.path(sha256).unlink, missing_ok=True)

    def _remove_stale_temp_files(self) -> None:
        cutoff = time.time() - _STALE_TEMP_SECONDS
        for entry in (self.root / "tmp").iterdir():
            try:
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
            except OSError as e:  # another process got there first
                log.debug("stale temp file %s: %s", entry, e)


async def _write_all(f: BinaryIO, chunks: AsyncIterable[bytes]) -> tuple[str, int]:
    """Write and hash the stream in ~1 MiB slices, each in a thread: the event loop never
    waits on the disk, and memory stays bounded by one slice."""
    hasher = hashlib.sha256()
    size = 0
    pending: list[bytes] = []
    pending_size = 0
    async for chunk in chunks:
        pending.append(chunk)
        pending_size += len(chunk)
        if pending_size >= _WRITE_BUFFER:
            await asyncio.to_thread(_write_slice, f, hasher, b"".join(pending))
            size += pending_size
            pending, pending_size = [], 0
    if pending:
        await asyncio.to_thread(_write_slice, f, hasher, b"".join(pending))
        size += pending_size
    return hasher.hexdigest(), size


def _write_slice(f: BinaryIO, hasher: hashlib._Hash, data: bytes) -> None:
    hasher.update(data)
    f.write(data)


def _move_into_place(temp: Path, final: Path) -> None:
    if final.is_file():  # the same bytes are already stored
        temp.unlink()
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temp, final)
