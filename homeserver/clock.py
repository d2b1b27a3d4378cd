"""Time, behind one small object so tests can move it forward."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Clock:
    offset_ms: int = 0

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms

    def advance(self, ms: int) -> None:
        self.offset_ms += ms
