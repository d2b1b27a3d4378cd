"""The notifier: told of every new event after it commits.

/sync's long-poll waiters hang off it (DESIGN.md "The event graph and streams"); until
/sync lands it records the highest stream position it has been told of.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Notifier:
    room_stream_position: int = 0

    async def on_event(self, sent: Any) -> None:
        self.room_stream_position = max(self.room_stream_position, sent.stream_ordering)
