"""Shared helpers for the homeserver.events tests: fixture loading, version expectations,
and completing the abbreviated events that fixtures are written with.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from homeserver.events.canonical import decode_base64
from homeserver.events.constants import CREATE
from homeserver.events.hashing import compute_event_id, room_id_for_create_event
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion
from homeserver.events.signing import SigningKey, signing_key_from_seed

FIXTURES = Path(__file__).parent / "fixtures"
ALL_VERSIONS = tuple(KNOWN_ROOM_VERSIONS)
ROOM_ID_BEFORE_V12 = "!room:a"
# appendices.md "Cryptographic Test Vectors": SIGNING_KEY_SEED, KEY_ID "ed25519:1".
APPENDIX_SEED = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"


def appendix_signing_key() -> SigningKey:
    return signing_key_from_seed("1", decode_base64(APPENDIX_SEED))


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def fixture_names(directory: str) -> list[str]:
    return sorted(f"{directory}/{p.name}" for p in (FIXTURES / directory).glob("*.json"))


def versions_in(spec: str) -> set[str]:
    """``"12"``, ``"7-9"``, ``"10+"`` or a comma-separated list of those."""
    versions: set[str] = set()
    for part in spec.split(","):
        part = part.strip()
        if part.endswith("+"):
            versions.update(v for v in ALL_VERSIONS if int(v) >= int(part[:-1]))
        elif "-" in part:
            low, high = (int(x) for x in part.split("-"))
            versions.update(v for v in ALL_VERSIONS if low <= int(v) <= high)
        else:
            versions.add(part)
    return versions


def expectation_for(expectation: Any, version: str) -> Any:
    """A fixture expectation: a plain value, or ``{version spec: value}`` covering ``version``."""
    if not isinstance(expectation, Mapping):
        return expectation
    matches = [value for spec, value in expectation.items() if version in versions_in(spec)]
    assert len(matches) == 1, f"expectation {expectation} must cover version {version} once"
    return matches[0]


def fixture_versions(fixture: Mapping[str, Any]) -> list[str]:
    return sorted(versions_in(fixture.get("room_versions", "1+")), key=int)


def substitute(value: Any, replacements: Mapping[str, str]) -> Any:
    """Replace placeholder strings such as ``"$CREATE"`` anywhere in a JSON value."""
    if isinstance(value, str):
        return replacements.get(value, value)
    if isinstance(value, list):
        return [substitute(v, replacements) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, replacements) for k, v in value.items()}
    return value


class AbbreviatedRoom:
    """Completes the short events of auth-rule fixtures into PDUs of one room version.

    The first state event must be the m.room.create; before v11 it gets ``creator`` = its
    sender. Other events get this room's ``room_id`` (v12: derived from the create event)
    and default ``prev_events``, ``auth_events``, ``depth``, ``hashes`` and ``signatures``.
    In fixture events, ``"$CREATE"`` stands for the create event's ID. Events of rooms 1-2
    also get an ``event_id`` and [event_id, hashes] references.
    """

    def __init__(self, room_version: RoomVersion, create: Mapping[str, Any]):
        self.room_version = room_version
        create = copy.deepcopy(dict(create))
        if not room_version.implicit_room_creator:
            create["content"].setdefault("creator", create["sender"])
        self.create = self._complete(create, index=0, room_id=None)
        self.create_event_id = compute_event_id(room_version, self.create)
        if room_version.room_id_is_create_event_id:
            self.room_id = room_id_for_create_event(room_version, self.create)
        else:
            self.room_id = ROOM_ID_BEFORE_V12

    def _complete(
        self, partial: Mapping[str, Any], *, index: int, room_id: str | None
    ) -> dict[str, Any]:
        is_create = partial.get("type") == CREATE
        event: dict[str, Any] = {
            "prev_events": [] if is_create else ["$CREATE"],
            "auth_events": [],
            "depth": 1 if is_create else 10,
            "origin_server_ts": 1_000 + index,
            "hashes": {"sha256": "AAAA"},
            "signatures": {},
        }
        if not (is_create and self.room_version.room_id_is_create_event_id):
            event["room_id"] = room_id or ROOM_ID_BEFORE_V12
        event.update(copy.deepcopy(dict(partial)))
        if self.room_version.has_domain_event_ids:
            event.setdefault("event_id", "$create:a" if is_create else f"$e{index}:a")
            for key in ("prev_events", "auth_events"):
                event[key] = [[e, {"sha256": "AAAA"}] for e in event[key]]
        return event

    def complete(self, partial: Mapping[str, Any], index: int = 1) -> dict[str, Any]:
        replacements = {"$CREATE": self.create_event_id}
        if self.room_version.has_domain_event_ids:
            replacements = {"$CREATE": "$create:a"}
        event = self._complete(partial, index=index, room_id=self.room_id)
        return substitute(event, replacements)

    def state(self, events: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The auth state of the create event plus ``events`` (later entries win)."""
        state = {(CREATE, ""): self.create}
        for index, partial in enumerate(events, start=1):
            event = self.complete(partial, index=100 + index)
            state[(event["type"], event["state_key"])] = event
        return state
