"""Where ``sync_forever`` keeps its position (the last ``next_batch`` it finished with).

A store is anything with ``load()`` and ``save(token)``. The position is saved only after
the handlers of a batch have run, so a program that stops and starts again resumes after
the last batch it handled: no event handled twice, none skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

from clientapi.errors import ClientError


class SyncStore(Protocol):
    async def load(self) -> str | None: ...

    async def save(self, next_batch: str) -> None: ...


class MemoryStore:
    """A position that lasts as long as the process (and this object)."""

    def __init__(self, next_batch: str | None = None) -> None:
        self.next_batch = next_batch

    async def load(self) -> str | None:
        return self.next_batch

    async def save(self, next_batch: str) -> None:
        self.next_batch = next_batch


class FileStore:
    """A position in a small JSON file, replaced atomically on each save (a crash leaves
    the old position or the new one, never half a file). ``fsync``: also survive an OS
    crash or power loss, at the cost of a disk flush per batch."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync

    async def load(self) -> str | None:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            token = json.loads(raw).get("next_batch")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str):
            raise ClientError(f"{self.path}: not a sync position file; delete it to start afresh")
        return token

    async def save(self, next_batch: str) -> None:
        write_atomically(self.path, json.dumps({"next_batch": next_batch}), fsync=self.fsync)


def write_atomically(path: Path, text: str, *, fsync: bool = False) -> None:
    """Replace ``path`` with ``text`` so a reader (or a crash) sees the old or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as f:
        f.write(text)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(partial, path)
