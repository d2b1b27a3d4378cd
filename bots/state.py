"""A bot's own state in a JSON file beside its sync position (what it has already
done: the users it welcomed, the offences it counted), so a restart forgets nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clientapi.store import write_atomically


class JsonState:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        """The saved state, or {} before the first save."""
        try:
            value = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError as e:
            raise RuntimeError(f"{self.path}: not valid JSON ({e}); fix or delete it") from None
        if not isinstance(value, dict):
            raise RuntimeError(f"{self.path}: expected a JSON object")
        return value

    def save(self, value: dict[str, Any]) -> None:
        write_atomically(self.path, json.dumps(value, sort_keys=True))
