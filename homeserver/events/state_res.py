"""State resolution v2 (rooms/fragments/v2-state-res.md) and its room version 12 iteration
(rooms/v12.md "State resolution": start from an empty state map, add the conflicted state
subgraph to the full conflicted set).

Pure: events come from a ``fetch_event(event_id)`` callback. Auth chains are computed by
walking ``auth_events`` unless an ``auth_chain(event_id)`` callback (for example backed by
an auth chain index in storage) is given.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet

from .auth_rules import check_auth
from .builder import auth_types_for_pdu
from .constants import BAN, JOIN_RULES, LEAVE, MEMBER, POWER_LEVELS, POWER_LEVELS_KEY, StateKey
from .errors import AuthError, EventError, UnsupportedRoomVersion
from .pdu import Event, auth_event_ids_with_create, is_state_event, membership_of, state_key_of
from .power_levels import PowerLevel, user_power_level
from .room_versions import RoomVersion, StateResVersion

FetchEvent = Callable[[str], "Event | None"]
AuthChainLookup = Callable[[str], AbstractSet[str]]
StateMap = Mapping[StateKey, str]


class _AuthGraph:
    """Per-call view of the auth DAG: fetched events and auth chains, memoised."""

    def __init__(
        self, room_version: RoomVersion, fetch_event: FetchEvent, auth_chain: AuthChainLookup | None
    ):
        self.room_version = room_version
        self._fetch_event = fetch_event
        self._auth_chain = auth_chain
        self._events: dict[str, Event | None] = {}
        self._chains: dict[str, frozenset[str]] = {}

    def event(self, event_id: str) -> Event | None:
        if event_id not in self._events:
            self._events[event_id] = self._fetch_event(event_id)
        return self._events[event_id]

    def auth_ids(self, event_id: str) -> list[str]:
        event = self.event(event_id)
        return [] if event is None else auth_event_ids_with_create(self.room_version, event)

    def chain(self, event_id: str) -> frozenset[str]:
        """The auth chain: every event reachable through auth_events, not the event itself."""
        if event_id not in self._chains:
            if self._auth_chain is not None:
                self._chains[event_id] = frozenset(self._auth_chain(event_id))
            else:
                self._walk_chain(event_id)
        return self._chains[event_id]

    def _walk_chain(self, start: str) -> None:
        # Iterative post-order DFS; an event met again while in progress (a cycle, only
        # possible with the sender-chosen IDs of rooms 1-2) is treated as a leaf.
        in_progress: set[str] = set()
        stack = [(start, False)]
        while stack:
            event_id, children_done = stack.pop()
            if event_id in self._chains:
                continue
            parents = self.auth_ids(event_id)
            if children_done:
                chain = set(parents)
                for parent in parents:
                    chain |= self._chains.get(parent, frozenset())
                self._chains[event_id] = frozenset(chain)
                in_progress.discard(event_id)
            elif event_id not in in_progress:
                in_progress.add(event_id)
                stack.append((event_id, True))
                stack.extend(
                    (p, False) for p in parents if p not in self._chains and p not in in_progress
                )

    def power_levels_auth_event(self, event_id: str) -> str | None:
        for auth_id in self.auth_ids(event_id):
            auth_event = self.event(auth_id)
            if auth_event is not None and _key(auth_event) == POWER_LEVELS_KEY:
                return auth_id
        return None

    def origin_server_ts(self, event_id: str) -> int:
        ts = (self.event(event_id) or {}).get("origin_server_ts")
        return ts if isinstance(ts, int) else 0


def _key(event: Event) -> StateKey | None:
    return state_key_of(event) if is_state_event(event) else None


def resolve_state(
    room_version: RoomVersion,
    state_sets: Sequence[StateMap],
    fetch_event: FetchEvent,
    *,
    auth_chain: AuthChainLookup | None = None,
    rejected_event_ids: AbstractSet[str] = frozenset(),
) -> dict[StateKey, str]:
    """The resolution of ``state_sets`` (each ``{(type, state_key): event_id}``).

    ``rejected_event_ids``: events rejected by the checks on receipt of a PDU; they are never
    used as auth events in the iterative auth checks ("Rejected events"). Conflicted events
    that ``fetch_event`` cannot supply are left out.
    """
    if room_version.state_res is StateResVersion.V1:
        raise UnsupportedRoomVersion("state resolution v1 (room version 1) is not implemented")
    unconflicted, conflicted = separate_state_sets(state_sets)
    if not conflicted:
        return dict(unconflicted)
    graph = _AuthGraph(room_version, fetch_event, auth_chain)
    conflicted_ids = set().union(*conflicted.values())
    full_conflicted_set = conflicted_ids | auth_difference(state_sets, graph.chain)
    if room_version.state_res is StateResVersion.V2_1:
        full_conflicted_set |= conflicted_state_subgraph(
            conflicted_ids, graph.chain, graph.auth_ids
        )
    full_conflicted_set = {e for e in full_conflicted_set if graph.event(e) is not None}

    # 1. Power events of the full conflicted set with their auth chains in it, sorted.
    power_events = {e for e in full_conflicted_set if is_power_event(graph.event(e) or {})}
    for event_id in list(power_events):
        power_events |= graph.chain(event_id) & full_conflicted_set
    # 2. Iterative auth checks from the unconflicted state map, or (v12) an empty one.
    base_state = {} if room_version.state_res is StateResVersion.V2_1 else dict(unconflicted)
    resolved = _iterative_auth_checks(
        graph, _reverse_topological_power_order(graph, power_events), base_state, rejected_event_ids
    )
    # 3. The other events, in mainline order of the partially resolved power levels.
    others = full_conflicted_set - power_events
    ordered = _mainline_order(graph, others, resolved.get(POWER_LEVELS_KEY))
    # 4. Iterative auth checks again, on the partially resolved state.
    resolved = _iterative_auth_checks(graph, ordered, resolved, rejected_event_ids)
    # 5. The unconflicted state map wins.
    resolved.update(unconflicted)
    return resolved


def separate_state_sets(
    state_sets: Sequence[StateMap],
) -> tuple[dict[StateKey, str], dict[StateKey, set[str]]]:
    """The unconflicted state map and, per key, the conflicted event IDs.

    A key missing from some state set is conflicted ("present in every S_i with the same
    value" is what makes a pair unconflicted).
    """
    unconflicted: dict[StateKey, str] = {}
    conflicted: dict[StateKey, set[str]] = {}
    for key in set().union(*state_sets):
        values = {state_set.get(key) for state_set in state_sets}
        present = {v for v in values if v is not None}
        if len(values) == 1 and present:
            unconflicted[key] = present.pop()
        else:
            conflicted[key] = present
    return unconflicted, conflicted


def auth_difference(
    state_sets: Sequence[StateMap], chain: Callable[[str], AbstractSet[str]]
) -> set[str]:
    """The union minus the intersection of the C_i, C_i being the full auth chain of S_i
    (the union of the auth chains of its events)."""
    full_chains = [set().union(*(chain(e) for e in state_set.values())) for state_set in state_sets]
    if not full_chains:
        return set()
    return set().union(*full_chains) - full_chains[0].intersection(*full_chains[1:])


def conflicted_state_subgraph(
    conflicted: AbstractSet[str],
    chain: Callable[[str], AbstractSet[str]],
    auth_ids: Callable[[str], Iterable[str]],
) -> set[str]:
    """rooms/v12.md: every event on an auth_events path between two conflicted events,
    endpoints included.

    Such paths end at conflicted events found in another conflicted event's auth chain;
    walking back up from those ends, through the events of those auth chains, visits
    exactly the events of the paths.
    """
    ancestors: set[str] = set().union(*(chain(e) for e in conflicted)) if conflicted else set()
    candidates = ancestors | set(conflicted)
    children: dict[str, list[str]] = {}
    for event_id in candidates:
        for parent in auth_ids(event_id):
            if parent in candidates:
                children.setdefault(parent, []).append(event_id)
    on_paths = set(conflicted & ancestors)
    frontier = list(on_paths)
    while frontier:
        for child in children.get(frontier.pop(), ()):
            if child not in on_paths:
                on_paths.add(child)
                frontier.append(child)
    return on_paths


def is_power_event(event: Event) -> bool:
    """A power levels or join rules state event, or a kick or ban (v2-state-res.md)."""
    if not is_state_event(event):
        return False
    if event.get("type") in (POWER_LEVELS, JOIN_RULES):
        return True
    return (
        event.get("type") == MEMBER
        and membership_of(event) in (LEAVE, BAN)
        and event.get("sender") != event.get("state_key")
    )


def _auth_state_from_auth_events(
    graph: _AuthGraph, event_id: str, rejected: AbstractSet[str] = frozenset()
) -> dict[StateKey, Event]:
    auth_state = {}
    for auth_id in graph.auth_ids(event_id):
        auth_event = graph.event(auth_id)
        if auth_event is not None and auth_id not in rejected and is_state_event(auth_event):
            auth_state[state_key_of(auth_event)] = auth_event
    return auth_state


def _sender_power_level(graph: _AuthGraph, event_id: str) -> PowerLevel:
    """The sender's power level according to the event's own auth_events."""
    event = graph.event(event_id) or {}
    try:
        auth_state = _auth_state_from_auth_events(graph, event_id)
        return user_power_level(graph.room_version, event.get("sender", ""), auth_state)
    except AuthError:  # an unreadable power levels event grants nothing
        return 0


def _reverse_topological_power_order(graph: _AuthGraph, event_ids: AbstractSet[str]) -> list[str]:
    """Kahn's algorithm over the auth DAG restricted to ``event_ids``, taking at each step
    the candidate with the highest sender power level, then the lowest origin_server_ts,
    then the lowest event_id.
    """
    ancestors = {e: graph.chain(e) & event_ids for e in event_ids}
    dependents: dict[str, list[str]] = {e: [] for e in event_ids}
    for event_id, event_ancestors in ancestors.items():
        for ancestor in event_ancestors:
            dependents[ancestor].append(event_id)
    waiting = {e: len(a) for e, a in ancestors.items()}

    def sort_key(event_id: str) -> tuple[PowerLevel, int, str]:
        return (-_sender_power_level(graph, event_id), graph.origin_server_ts(event_id), event_id)

    heap = [sort_key(e) for e, count in waiting.items() if count == 0]
    heapq.heapify(heap)
    ordered = []
    while heap:
        event_id = heapq.heappop(heap)[2]
        ordered.append(event_id)
        for dependent in dependents[event_id]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(heap, sort_key(dependent))
    return ordered


def _mainline_order(
    graph: _AuthGraph, event_ids: Iterable[str], power_levels_id: str | None
) -> list[str]:
    """Sort by mainline position based on ``power_levels_id`` (greater position first),
    then origin_server_ts, then event_id.
    """
    index: dict[str, int] = {}  # the mainline: P_0 (power_levels_id), P_1, ... -> i
    current = power_levels_id
    while current is not None and current not in index:
        index[current] = len(index)
        current = graph.power_levels_auth_event(current)

    def position(event_id: str) -> float:
        seen = set()
        current = graph.power_levels_auth_event(event_id)  # e_1: e_0 itself is not included
        while current is not None and current not in seen:
            if current in index:
                return index[current]
            seen.add(current)
            current = graph.power_levels_auth_event(current)
        return math.inf

    return sorted(event_ids, key=lambda e: (-position(e), graph.origin_server_ts(e), e))


def _iterative_auth_checks(
    graph: _AuthGraph,
    event_ids: Sequence[str],
    state: Mapping[StateKey, str],
    rejected: AbstractSet[str],
) -> dict[StateKey, str]:
    """Apply each event that the auth rules allow, in order, to a copy of ``state``.

    Auth state: the resolved state for the keys the event's auth rules need, falling back
    to the event's own (not rejected) auth events.
    """
    resolved = dict(state)
    room_version = graph.room_version
    for event_id in event_ids:
        event = graph.event(event_id)
        if event is None or not is_state_event(event):
            continue
        auth_state = _auth_state_from_auth_events(graph, event_id, rejected)
        for key in auth_types_for_pdu(room_version, event):
            state_event = graph.event(resolved[key]) if key in resolved else None
            if state_event is not None:
                auth_state[key] = state_event
        try:
            check_auth(room_version, event, auth_state)
        except EventError:
            continue
        resolved[state_key_of(event)] = event_id
    return resolved
