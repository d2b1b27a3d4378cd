"""State resolution v2 and v12, on rooms built from real (hashed and signed) events.

Scenarios live in fixtures/state_res.json, each with its expected resolved state reasoned
from the spec's algorithm (the reasoning is in each scenario's description).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest

from homeserver.events.builder import build_event, select_auth_events
from homeserver.events.constants import StateKey
from homeserver.events.errors import UnsupportedRoomVersion
from homeserver.events.pdu import auth_event_ids_with_create, room_creators
from homeserver.events.room_versions import RoomVersion, get_room_version
from homeserver.events.state_res import (
    auth_difference,
    conflicted_state_subgraph,
    resolve_state,
    separate_state_sets,
)

from ._support import appendix_signing_key, expectation_for, fixture_versions, load_fixture

KEY = appendix_signing_key()
FIXTURE = load_fixture("state_res.json")


class BuiltRoom:
    """Builds named events in order; each one's auth_events come from the state after its
    single prev event. Before v11 the create event gets ``creator``; in v12 the creators
    are dropped from power levels ``users`` (they may not appear there).
    """

    def __init__(self, room_version: RoomVersion, specs: list[Mapping[str, Any]]):
        self.room_version = room_version
        self.ids: dict[str, str] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.state_after: dict[str, dict[StateKey, str]] = {}
        self.room_id: str | None = None if room_version.room_id_is_create_event_id else "!room:a"
        self._depth: dict[str, int] = {}
        self._creators: frozenset[str] = frozenset()
        for index, spec in enumerate(specs):
            self.add(spec, default_ts=10 * (index + 1))

    def add(self, spec: Mapping[str, Any], default_ts: int = 0) -> str:
        content = dict(spec["content"])
        if spec["type"] == "m.room.create" and not self.room_version.implicit_room_creator:
            content.setdefault("creator", spec["sender"])
        if spec["type"] == "m.room.power_levels" and self.room_version.creators_have_infinite_power:
            content["users"] = {
                u: v for u, v in content.get("users", {}).items() if u not in self._creators
            }
        prev: str | None = spec.get("prev")
        prev_state = self.state_after[prev] if prev else {}
        depth = self._depth[prev] + 1 if prev else 1
        state_key = spec.get("state_key")
        event_id, event = build_event(
            self.room_version,
            room_id=self.room_id,
            sender=spec["sender"],
            event_type=spec["type"],
            state_key=state_key,
            content=content,
            prev_events=[self.ids[prev]] if prev else [],
            auth_events=select_auth_events(
                self.room_version, spec["type"], state_key, spec["sender"], content, prev_state
            ),
            depth=depth,
            origin_server_ts=spec.get("ts") or default_ts,
            server_name="a",
            signing_key=KEY,
        )
        if spec["type"] == "m.room.create":
            self.room_id = self.room_id or "!" + event_id[1:]
            self._creators = room_creators(self.room_version, event)
        name = spec["name"]
        self.ids[name] = event_id
        self.events[event_id] = event
        self._depth[name] = depth
        self.state_after[name] = dict(prev_state)
        if state_key is not None:
            self.state_after[name][(spec["type"], state_key)] = event_id
        return event_id

    def key_of(self, name: str) -> StateKey:
        event = self.events[self.ids[name]]
        return (event["type"], event["state_key"])

    def state_of(self, names: list[str]) -> dict[StateKey, str]:
        return {self.key_of(name): self.ids[name] for name in names}

    def state_set(self, spec: str | list[str]) -> dict[StateKey, str]:
        return dict(self.state_after[spec]) if isinstance(spec, str) else self.state_of(spec)

    def fetch(self, event_id: str) -> dict[str, Any] | None:
        return self.events.get(event_id)

    def walked_auth_chain(self, event_id: str) -> set[str]:
        """An independent breadth-first auth chain, standing in for a storage index."""
        chain: set[str] = set()
        frontier = auth_event_ids_with_create(self.room_version, self.events[event_id])
        while frontier:
            chain.update(frontier)
            frontier = [
                a
                for e in frontier
                for a in auth_event_ids_with_create(self.room_version, self.events[e])
                if a not in chain
            ]
        return chain


def _scenario_params() -> list[Any]:
    return [
        pytest.param(version, scenario, id=f"{scenario['name']}-v{version}")
        for scenario in FIXTURE["scenarios"]
        for version in fixture_versions(FIXTURE)
    ]


def _build(version: str, scenario: Mapping[str, Any]) -> BuiltRoom:
    return BuiltRoom(get_room_version(version), [*FIXTURE["prelude"], *scenario["events"]])


@pytest.mark.parametrize(("version", "scenario"), _scenario_params())
def test_state_resolution_scenario(version: str, scenario: dict[str, Any]) -> None:
    room = _build(version, scenario)
    state_sets = [room.state_set(spec) for spec in scenario["state_sets"]]
    expected = room.state_of(expectation_for(scenario["expected"], version))
    assert resolve_state(room.room_version, state_sets, room.fetch) == expected
    # The same with auth chains supplied by a callback, and with the state sets reversed.
    with_index = resolve_state(
        room.room_version, state_sets[::-1], room.fetch, auth_chain=room.walked_auth_chain
    )
    assert with_index == expected


def test_unconflicted_states_need_no_events() -> None:
    def fetch(event_id: str) -> None:
        raise AssertionError("nothing should be fetched")

    state = {("m.room.create", ""): "$c", ("m.room.topic", ""): "$t"}
    assert resolve_state(get_room_version("11"), [state, dict(state)], fetch) == state
    assert resolve_state(get_room_version("11"), [], fetch) == {}


def test_room_version_1_state_resolution_is_not_implemented() -> None:
    with pytest.raises(UnsupportedRoomVersion):
        resolve_state(get_room_version("1"), [{}, {("m.room.topic", ""): "$t"}], lambda e: None)


def test_a_key_missing_from_one_state_set_is_conflicted() -> None:
    unconflicted, conflicted = separate_state_sets(
        [{("a", ""): "$1", ("b", ""): "$2"}, {("a", ""): "$1"}]
    )
    assert unconflicted == {("a", ""): "$1"}
    assert conflicted == {("b", ""): {"$2"}}


# A synthetic auth DAG: each event maps to its auth events. X -> Y/Z -> W is a diamond.
AUTH_EVENTS = {
    "A": ["B"], "B": ["C"], "C": ["D"], "D": [], "E": ["C"], "F": ["D"],
    "X": ["Y", "Z"], "Y": ["W"], "Z": ["W"], "W": ["V"], "V": [],
}  # fmt: skip


def _chain(event_id: str) -> set[str]:
    found: set[str] = set()
    stack = list(AUTH_EVENTS[event_id])
    while stack:
        parent = stack.pop()
        if parent not in found:
            found.add(parent)
            stack.extend(AUTH_EVENTS[parent])
    return found


def _subgraph(*conflicted: str) -> set[str]:
    return conflicted_state_subgraph(set(conflicted), _chain, AUTH_EVENTS.__getitem__)


def test_conflicted_state_subgraph_is_the_paths_between_conflicted_events() -> None:
    # A -> B -> C -> D: with A and C conflicted, B lies on the path; D and E do not.
    assert _subgraph("A", "C") == {"A", "B", "C"}
    assert _subgraph("A", "F") == set()  # no path between them
    assert _subgraph("E", "A", "D") == {"A", "B", "C", "D", "E"}
    assert _subgraph("X", "W") == {"X", "Y", "Z", "W"}  # both sides of the diamond, not V


def test_auth_difference() -> None:
    # S1 = {A}: chain {B, C, D}; S2 = {E}: chain {C, D}; S3 = {F}: chain {D}.
    assert auth_difference([{("x", ""): "A"}, {("x", ""): "E"}], _chain) == {"B"}
    states = [{("x", ""): "A"}, {("x", ""): "E"}, {("x", ""): "F"}]
    assert auth_difference(states, _chain) == {"B", "C"}


def _tie_room(version: str) -> BuiltRoom:
    events: list[dict[str, Any]] = [
        {
            "name": "PA",
            "sender": "@alice:a",
            "type": "m.room.power_levels",
            "state_key": "",
            "prev": "IMC",
            "content": {"users": {"@alice:a": 100, "@bob:a": 100, "@charlie:a": 100}},
        },
        {
            "name": "MB",
            "sender": "@bob:a",
            "type": "com.example.marker",
            "state_key": "@bob:a",
            "prev": "PA",
            "content": {},
        },
        {
            "name": "MC",
            "sender": "@charlie:a",
            "type": "com.example.marker",
            "state_key": "@charlie:a",
            "prev": "MB",
            "content": {},
        },
        {
            "name": "PB",
            "sender": "@charlie:a",
            "type": "m.room.power_levels",
            "state_key": "",
            "prev": "MC",
            "ts": 500,
            "content": {"users": {"@alice:a": 100, "@bob:a": 100, "@charlie:a": 100}, "ban": 60},
        },
        {
            "name": "PC",
            "sender": "@bob:a",
            "type": "m.room.power_levels",
            "state_key": "",
            "prev": "MC",
            "ts": 500,
            "content": {"users": {"@alice:a": 100, "@bob:a": 100, "@charlie:a": 100}, "kick": 60},
        },
    ]
    return BuiltRoom(get_room_version(version), [*FIXTURE["prelude"], *events])


@pytest.mark.parametrize("version", ["10", "12"])
def test_equal_power_and_timestamp_fall_back_to_event_id(version: str) -> None:
    room = _tie_room(version)
    resolved = resolve_state(
        room.room_version, [room.state_after["PB"], room.state_after["PC"]], room.fetch
    )
    # The smaller event_id is applied first, so the larger one ends up in the state.
    assert resolved[("m.room.power_levels", "")] == max(room.ids["PB"], room.ids["PC"])


def test_rejected_auth_events_are_not_used_in_iterative_auth_checks() -> None:
    scenario = next(
        s
        for s in FIXTURE["scenarios"]
        if s["name"] == "v12_iterative_auth_checks_start_from_empty_state"
    )
    room = _build("12", scenario)
    state_sets = [room.state_set(spec) for spec in scenario["state_sets"]]
    assert (
        resolve_state(room.room_version, state_sets, room.fetch)[room.key_of("KICK_C")]
        == room.ids["KICK_C"]
    )
    # With PA rejected, the kick's only power levels auth event is gone: Bob has level 0.
    resolved = resolve_state(
        room.room_version, state_sets, room.fetch, rejected_event_ids={room.ids["PA"]}
    )
    assert resolved[room.key_of("KICK_C")] == room.ids["IMC"]


def test_conflicted_events_that_cannot_be_fetched_are_left_out() -> None:
    scenario = next(
        s for s in FIXTURE["scenarios"] if s["name"] == "topic_race_latest_timestamp_wins"
    )
    room = _build("11", scenario)
    missing = room.ids["T1"]
    resolved = resolve_state(
        room.room_version,
        [room.state_after["T1"], room.state_after["T2"]],
        lambda event_id: None if event_id == missing else room.fetch(event_id),
    )
    assert resolved[("m.room.topic", "")] == room.ids["T2"]


@pytest.mark.parametrize("version", fixture_versions(FIXTURE))
def test_many_concurrent_joins_resolve_quickly(version: str) -> None:
    """60 joins on one branch against a topic change and a ban on the other."""
    rng = random.Random(7)
    room = BuiltRoom(get_room_version(version), list(FIXTURE["prelude"]))
    prev = "IMC"
    for i in range(60):
        name = f"J{i}"
        room.add(
            {
                "name": name,
                "sender": f"@u{i}:b",
                "type": "m.room.member",
                "state_key": f"@u{i}:b",
                "prev": prev,
                "ts": 1000 + rng.randrange(1000),
                "content": {"membership": "join"},
            }
        )
        prev = name
    room.add(
        {
            "name": "TOPIC",
            "sender": "@alice:a",
            "type": "m.room.topic",
            "state_key": "",
            "prev": "IMC",
            "ts": 5000,
            "content": {"topic": "t"},
        }
    )
    room.add(
        {
            "name": "BAN",
            "sender": "@alice:a",
            "type": "m.room.member",
            "state_key": "@u3:b",
            "prev": "TOPIC",
            "ts": 5001,
            "content": {"membership": "ban"},
        }
    )
    resolved = resolve_state(
        room.room_version, [room.state_after[prev], room.state_after["BAN"]], room.fetch
    )
    assert resolved[("m.room.topic", "")] == room.ids["TOPIC"]
    assert resolved[("m.room.member", "@u3:b")] == room.ids["BAN"]
    assert all(
        resolved[("m.room.member", f"@u{i}:b")] == room.ids[f"J{i}"] for i in range(60) if i != 3
    )
