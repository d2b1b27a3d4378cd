"""The /sync token: ``s<events>_<receipts>_<typing>_<account_data>_<to_device>_<presence>_<device_lists>``.

Each part is the position of one stream (homeserver/streams) the response covered, in
the order of ``Stream``'s values. The to-device part is the last message handed to the
device rather than the stream's readable position, so that a message is deleted only
once a later /sync proves the client stored the response that carried it. /messages
accepts the token too: its first part is a room-stream position.

Tokens of the single-position format this server used before (``s<position>_<typing
serial>_<to_device>``) are still understood: the position stands for every stream but
typing, whose old serials meant something else (the current typers are sent again).
"""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.errors import MatrixError
from homeserver.streams import ALL_STREAMS, Stream


@dataclass(frozen=True, slots=True)
class SyncToken:
    positions: tuple[int, ...]

    def __getitem__(self, stream: Stream) -> int:
        return self.positions[stream]

    def __str__(self) -> str:
        return "s" + "_".join(str(p) for p in self.positions)

    @property
    def to_device(self) -> int:
        return self.positions[Stream.TO_DEVICE]

    def replace(self, stream: Stream, position: int) -> SyncToken:
        positions = list(self.positions)
        positions[stream] = position
        return SyncToken(tuple(positions))

    @classmethod
    def parse(cls, raw: str) -> SyncToken:
        parts = raw[1:].split("_") if raw.startswith("s") else []
        if not all(p.isdigit() and len(p) < 19 for p in parts) or len(parts) not in (1, 2, 3, len(ALL_STREAMS)):
            raise MatrixError(400, "M_INVALID_PARAM", f"Invalid sync token {raw!r}")
        values = [int(p) for p in parts]
        if len(values) == len(ALL_STREAMS):
            return cls(tuple(values))
        position = values[0]
        legacy = [position] * len(ALL_STREAMS)
        legacy[Stream.TYPING] = 0
        legacy[Stream.TO_DEVICE] = values[2] if len(values) == 3 else 0
        return cls(tuple(legacy))
