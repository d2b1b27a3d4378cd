"""The /sync token: ``s<position>_<typing>_<to_device>``.

``position`` is the stream position (homeserver/sync/streams.py) every persisted change
is read up to; ``typing`` the typing serial of this process; ``to_device`` the last
to-device message handed to the device, so that a message is deleted only once a later
/sync proves the client stored the response that carried it. /messages accepts the token
too: its first part is a room-stream position.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.errors import MatrixError


@dataclass(frozen=True, slots=True)
class SyncToken:
    position: int
    typing: int = 0
    to_device: int = 0

    def __str__(self) -> str:
        return f"s{self.position}_{self.typing}_{self.to_device}"

    @classmethod
    def parse(cls, raw: str) -> SyncToken:
        parts = raw[1:].split("_") if raw.startswith("s") else []
        if not 1 <= len(parts) <= 3 or not all(p.isdigit() and len(p) < 19 for p in parts):
            raise MatrixError(400, "M_INVALID_PARAM", f"Invalid sync token {raw!r}")
        return cls(*(int(p) for p in parts))
