"""Push rules, pure (spec: client-server-api "Push Rules", "Predefined Rules";
appendices "Glob-style matching", "Dot-separated property paths").

A user's ruleset is the server-default rules, with the user's enabled/actions overrides,
merged with the rules the user defined: ``.m.rule.master`` first, then the user's rules of
each kind ahead of the server defaults of that kind (spec: "Predefined Rules"). Rules are
checked kind by kind (override, content, room, sender, underride); the first enabled rule
whose conditions all hold gives the actions.

No database and no HTTP here: ``compile_ruleset`` turns a ruleset's JSON into matchers
once, and ``evaluate`` runs them against one event for one user.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import re2

KINDS: Final = ("override", "content", "room", "sender", "underride")
MASTER: Final = ".m.rule.master"

# Deprecated in v1.7 and removed from the spec's list in v1.17; still served as
# server-default rules so that clients which never set ``m.mentions`` can mention by
# display name, user name or "@room". They apply only to events without ``m.mentions``
# (spec v1.7: "should only be enabled if the event does not have an m.mentions property").
LEGACY_MENTION_RULES: Final = frozenset(
    {".m.rule.contains_display_name", ".m.rule.contains_user_name", ".m.rule.roomnotif"}
)

# Historical actions: "Clients and homeservers MUST ignore these actions".
IGNORED_ACTIONS: Final = frozenset({"dont_notify", "coalesce"})
# The notification power level when power levels name none (m.room.power_levels:
# "notifications.room ... Defaults to 50").
DEFAULT_NOTIFICATION_LEVEL: Final = 50
# canonical JSON integers: [-(2**53)+1, (2**53)-1].
_MAX_SAFE_INT: Final = 2**53 - 1

USER_ID: Final = "[the user's Matrix ID]"
LOCALPART: Final = "[the local part of the user's Matrix ID]"

_SOUND_DEFAULT: Final = {"set_tweak": "sound", "value": "default"}
_HIGHLIGHT: Final = {"set_tweak": "highlight"}


def _match(key: str, pattern: str) -> dict[str, str]:
    return {"kind": "event_match", "key": key, "pattern": pattern}


# The server-default rules, in the spec's order, as the spec writes them (placeholders
# are replaced per user by ``default_rules``).
_DEFAULTS: Final[Mapping[str, Sequence[Mapping[str, Any]]]] = {
    "override": (
        {"rule_id": MASTER, "enabled": False, "conditions": [], "actions": []},
        {"rule_id": ".m.rule.suppress_notices", "conditions": [_match("content.msgtype", "m.notice")],
         "actions": []},
        {"rule_id": ".m.rule.invite_for_me",
         "conditions": [_match("type", "m.room.member"), _match("content.membership", "invite"),
                        _match("state_key", USER_ID)],
         "actions": ["notify", _SOUND_DEFAULT]},
        {"rule_id": ".m.rule.member_event", "conditions": [_match("type", "m.room.member")], "actions": []},
        {"rule_id": ".m.rule.is_user_mention",
         "conditions": [{"kind": "event_property_contains", "key": "content.m\\.mentions.user_ids",
                         "value": USER_ID}],
         "actions": ["notify", _SOUND_DEFAULT, _HIGHLIGHT]},
        {"rule_id": ".m.rule.contains_display_name", "conditions": [{"kind": "contains_display_name"}],
         "actions": ["notify", _SOUND_DEFAULT, _HIGHLIGHT]},
        {"rule_id": ".m.rule.is_room_mention",
         "conditions": [{"kind": "event_property_is", "key": "content.m\\.mentions.room", "value": True},
                        {"kind": "sender_notification_permission", "key": "room"}],
         "actions": ["notify", _HIGHLIGHT]},
        {"rule_id": ".m.rule.roomnotif",
         "conditions": [_match("content.body", "@room"), {"kind": "sender_notification_permission", "key": "room"}],
         "actions": ["notify", _HIGHLIGHT]},
        {"rule_id": ".m.rule.tombstone",
         "conditions": [_match("type", "m.room.tombstone"), _match("state_key", "")],
         "actions": ["notify", _HIGHLIGHT]},
        {"rule_id": ".m.rule.reaction", "conditions": [_match("type", "m.reaction")], "actions": []},
        {"rule_id": ".m.rule.room.server_acl",
         "conditions": [_match("type", "m.room.server_acl"), _match("state_key", "")], "actions": []},
        {"rule_id": ".m.rule.suppress_edits",
         "conditions": [{"kind": "event_property_is", "key": "content.m\\.relates_to.rel_type", "value": "m.replace"}],
         "actions": []},
    ),
    "content": (
        {"rule_id": ".m.rule.contains_user_name", "pattern": LOCALPART,
         "actions": ["notify", _SOUND_DEFAULT, _HIGHLIGHT]},
    ),
    "room": (),
    "sender": (),
    "underride": (
        {"rule_id": ".m.rule.call", "conditions": [_match("type", "m.call.invite")],
         "actions": ["notify", {"set_tweak": "sound", "value": "ring"}]},
        {"rule_id": ".m.rule.encrypted_room_one_to_one",
         "conditions": [{"kind": "room_member_count", "is": "2"}, _match("type", "m.room.encrypted")],
         "actions": ["notify", _SOUND_DEFAULT]},
        {"rule_id": ".m.rule.room_one_to_one",
         "conditions": [{"kind": "room_member_count", "is": "2"}, _match("type", "m.room.message")],
         "actions": ["notify", _SOUND_DEFAULT]},
        {"rule_id": ".m.rule.message", "conditions": [_match("type", "m.room.message")], "actions": ["notify"]},
        {"rule_id": ".m.rule.encrypted", "conditions": [_match("type", "m.room.encrypted")], "actions": ["notify"]},
    ),
}


# --- the ruleset as JSON --------------------------------------------------------------


def _fill(value: Any, user_id: str) -> Any:
    if value == USER_ID:
        return user_id
    if value == LOCALPART:
        return user_id[1:].split(":", 1)[0]
    if isinstance(value, dict):
        return {k: _fill(v, user_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, user_id) for v in value]
    return value


def default_rules(user_id: str) -> dict[str, list[dict[str, Any]]]:
    """The server-default rules for one user, by kind, in priority order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        out[kind] = [{"default": True, "enabled": True, **_fill(rule, user_id)} for rule in _DEFAULTS[kind]]
    return out


def is_default_rule(kind: str, rule_id: str) -> bool:
    return any(rule["rule_id"] == rule_id for rule in _DEFAULTS.get(kind, ()))


def empty_stored() -> dict[str, Any]:
    """What a user who never changed a rule has stored: ``rules`` (their own rules by
    kind) and ``defaults`` (``"kind/rule_id"`` -> enabled and/or actions overrides)."""
    return {"rules": {kind: [] for kind in KINDS}, "defaults": {}}


def ruleset(user_id: str, stored: Mapping[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """The user's whole ruleset as the API and ``m.push_rules`` serve it."""
    stored = stored or empty_stored()
    overrides = stored.get("defaults", {})
    defaults = default_rules(user_id)
    for kind, rules in defaults.items():
        for rule in rules:
            rule.update(copy.deepcopy(overrides.get(f"{kind}/{rule['rule_id']}", {})))
    out: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        own = [{**copy.deepcopy(rule), "default": False} for rule in stored.get("rules", {}).get(kind, [])]
        if kind == "override":
            master, rest = defaults[kind][:1], defaults[kind][1:]
            out[kind] = master + own + rest
        else:
            out[kind] = own + defaults[kind]
    return out


def find_rule(rules: Mapping[str, list[dict[str, Any]]], kind: str, rule_id: str) -> dict[str, Any] | None:
    return next((rule for rule in rules.get(kind, []) if rule["rule_id"] == rule_id), None)


# --- dot-separated property paths ------------------------------------------------------


def split_path(key: str) -> tuple[str, ...]:
    """``content.m\\.relates_to`` -> ("content", "m.relates_to"). A backslash escapes a
    dot or a backslash; any other backslash is literal."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(key):
        char = key[i]
        if char == "\\" and i + 1 < len(key) and key[i + 1] in ".\\":
            current.append(key[i + 1])
            i += 2
            continue
        if char == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return tuple(parts)


_ABSENT: Final = object()


def lookup(event: Mapping[str, Any], path: Sequence[str]) -> Any:
    """The property at a split path, or ``_ABSENT``."""
    value: Any = event
    for part in path:
        if not isinstance(value, dict):
            return _ABSENT
        value = value.get(part, _ABSENT)
        if value is _ABSENT:
            return _ABSENT
    return value


# --- glob-style matching ---------------------------------------------------------------

# Matching runs on RE2 (google-re2), whose time is linear in the value for any pattern:
# a user's pattern (or display name) is matched against every message of their rooms, up
# to 64 KiB each, inside the send. Python's re needs time ~ value x pattern length for a
# case-insensitive literal (60 ms for 255 letters over 64 KiB), and far more with '*'.
# Word characters; a word boundary is the start or end of the value, or any other character.
_BEFORE_WORD: Final = r"(?:\A|[^A-Za-z0-9_])"
_AFTER_WORD: Final = r"(?:[^A-Za-z0-9_]|\z)"
# Longer glob patterns are refused by the push rules API and never match: RE2's automaton
# for 255 characters of '*' and '?' still scans 64 KiB in ~3 ms, at 1,024 in ~20 ms.
MAX_PATTERN_LENGTH: Final = 255
_RE2_OPTIONS: Final = re2.Options()
_RE2_OPTIONS.case_sensitive = False
_RE2_OPTIONS.dot_nl = True
_RE2_OPTIONS.log_errors = False


def _glob_regex(pattern: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re2.escape(c) for c in pattern)


def _searcher(regex: str) -> Callable[[str], bool]:
    try:
        compiled = re2.compile(regex, _RE2_OPTIONS)
    except re2.error:  # past RE2's memory budget (a pattern of many kilobytes): never matches
        return lambda value: False
    return lambda value: compiled.search(value) is not None


def glob_matcher(pattern: str, *, word_boundary: bool) -> Callable[[str], bool]:
    """Case-insensitive glob match: of the whole value, or (``word_boundary``) of any
    substring that starts and ends at a word boundary."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return lambda value: False
    if not word_boundary and "*" not in pattern and "?" not in pattern:
        folded = pattern.casefold()
        return lambda value: value.casefold() == folded
    if word_boundary:
        return _searcher(_BEFORE_WORD + _glob_regex(pattern) + _AFTER_WORD)
    return _searcher(r"\A" + _glob_regex(pattern) + r"\z")


def is_scalar(value: Any) -> bool:
    """A non-compound canonical JSON value: string, integer in range, boolean or null."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    return isinstance(value, int) and -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT


def _same_scalar(a: Any, b: Any) -> bool:
    # Exact: no casts between types (true is not 1), and only non-compound values.
    return type(a) is type(b) and is_scalar(a) and a == b


# --- evaluation ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PushEvent:
    """What the rules see of one event, shared by every user it is evaluated for."""

    event: Mapping[str, Any]  # type, content, sender, room_id, state_key, ...
    member_count: int
    sender_power_level: float
    notification_levels: Mapping[str, int] = field(default_factory=dict)

    @property
    def content(self) -> Mapping[str, Any]:
        content = self.event.get("content")
        return content if isinstance(content, dict) else {}

    @property
    def has_mentions(self) -> bool:
        return "m.mentions" in self.content


Condition = Callable[[PushEvent, "str | None"], bool]


def _never(event: PushEvent, display_name: str | None) -> bool:
    return False


def _event_match(condition: Mapping[str, Any]) -> Condition:
    key, pattern = condition.get("key"), condition.get("pattern")
    if not isinstance(key, str) or not isinstance(pattern, str):
        return _never
    path = split_path(key)
    matches = glob_matcher(pattern, word_boundary=path == ("content", "body"))

    def check(event: PushEvent, display_name: str | None) -> bool:
        value = lookup(event.event, path)
        return isinstance(value, str) and matches(value)

    return check


def _property_is(condition: Mapping[str, Any]) -> Condition:
    key, expected = condition.get("key"), condition.get("value", _ABSENT)
    if not isinstance(key, str) or not is_scalar(expected):
        return _never
    path = split_path(key)
    return lambda event, display_name: _same_scalar(lookup(event.event, path), expected)


def _property_contains(condition: Mapping[str, Any]) -> Condition:
    key, expected = condition.get("key"), condition.get("value", _ABSENT)
    if not isinstance(key, str) or not is_scalar(expected):
        return _never
    path = split_path(key)

    def check(event: PushEvent, display_name: str | None) -> bool:
        values = lookup(event.event, path)
        return isinstance(values, list) and any(_same_scalar(v, expected) for v in values)

    return check


_MEMBER_COUNT = re.compile(r"(==|<=|>=|<|>)?([0-9]+)")
_COMPARE: Final[Mapping[str, Callable[[int, int], bool]]] = {
    "==": lambda a, b: a == b, "<": lambda a, b: a < b, ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b,
}


def _member_count(condition: Mapping[str, Any]) -> Condition:
    spec = condition.get("is")
    m = _MEMBER_COUNT.fullmatch(spec) if isinstance(spec, str) else None
    if m is None:
        return _never
    compare, number = _COMPARE[m[1] or "=="], int(m[2])
    return lambda event, display_name: compare(event.member_count, number)


def _sender_permission(condition: Mapping[str, Any]) -> Condition:
    key = condition.get("key")
    if not isinstance(key, str):
        return _never

    def check(event: PushEvent, display_name: str | None) -> bool:
        required = event.notification_levels.get(key, DEFAULT_NOTIFICATION_LEVEL)
        return event.sender_power_level >= required

    return check


def _contains_display_name(condition: Mapping[str, Any]) -> Condition:
    def check(event: PushEvent, display_name: str | None) -> bool:
        body = event.content.get("body")
        if not display_name or not isinstance(body, str):
            return False
        return _searcher(_BEFORE_WORD + re2.escape(display_name) + _AFTER_WORD)(body)

    return check


_CONDITIONS: Final[Mapping[str, Callable[[Mapping[str, Any]], Condition]]] = {
    "event_match": _event_match,
    "event_property_is": _property_is,
    "event_property_contains": _property_contains,
    "room_member_count": _member_count,
    "sender_notification_permission": _sender_permission,
    "contains_display_name": _contains_display_name,
}


def _compile_condition(condition: Any) -> Condition:
    if not isinstance(condition, dict):
        return _never
    factory = _CONDITIONS.get(condition.get("kind"))  # type: ignore[arg-type]
    return factory(condition) if factory is not None else _never


@dataclass(frozen=True, slots=True)
class Outcome:
    """The actions of the rule that matched, and what they mean for counts."""

    rule_id: str
    actions: tuple[Any, ...]
    notify: bool
    highlight: bool

    @property
    def tweaks(self) -> dict[str, Any]:
        return tweaks_of(self.actions)


def tweaks_of(actions: Sequence[Any]) -> dict[str, Any]:
    tweaks: dict[str, Any] = {}
    for action in actions:
        if isinstance(action, dict) and isinstance(action.get("set_tweak"), str):
            name = action["set_tweak"]
            # "If a highlight tweak is given with no value, its value is defined to be true."
            tweaks[name] = action.get("value", True) if name == "highlight" else action.get("value")
    return tweaks


def outcome_of(rule_id: str, actions: Sequence[Any]) -> Outcome:
    kept = tuple(a for a in actions if not (isinstance(a, str) and a in IGNORED_ACTIONS))
    tweaks = tweaks_of(kept)
    return Outcome(rule_id, kept, "notify" in kept, tweaks.get("highlight") is True)


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule_id: str
    legacy_mention: bool
    conditions: tuple[Condition, ...]
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class CompiledRuleset:
    rules: tuple[_Compiled, ...]
    # Whether any enabled rule reads the user's display name (the caller may skip
    # fetching it otherwise).
    needs_display_name: bool


def compile_ruleset(rules: Mapping[str, Sequence[Mapping[str, Any]]]) -> CompiledRuleset:
    """Turn a ruleset (as ``ruleset`` returns it) into matchers, in priority order,
    keeping enabled rules only ("Disabled rules never match")."""
    compiled = []
    for kind in KINDS:
        for rule in rules.get(kind, ()):
            if not rule.get("enabled", True):
                continue
            rule_id = rule["rule_id"]
            conditions: tuple[Condition, ...]
            if kind in ("override", "underride"):
                conditions = tuple(_compile_condition(c) for c in rule.get("conditions") or ())
            elif kind == "content":
                pattern = rule.get("pattern")
                conditions = (_event_match({"key": "content.body", "pattern": pattern}),)
            elif kind == "room":
                conditions = (_property_is({"key": "room_id", "value": rule_id}),)
            else:
                conditions = (_property_is({"key": "sender", "value": rule_id}),)
            compiled.append(_Compiled(
                rule_id, rule.get("default", False) and rule_id in LEGACY_MENTION_RULES, conditions,
                outcome_of(rule_id, rule.get("actions") or ()),
            ))
    needs = any(
        c.get("kind") == "contains_display_name"
        for kind in ("override", "underride") for rule in rules.get(kind, ()) if rule.get("enabled", True)
        for c in rule.get("conditions") or () if isinstance(c, dict)
    )
    return CompiledRuleset(tuple(compiled), needs)


def evaluate(ruleset: CompiledRuleset, event: PushEvent, display_name: str | None = None) -> Outcome | None:
    """The outcome of the first matching rule, or None when no rule matches."""
    has_mentions = event.has_mentions
    for rule in ruleset.rules:
        if rule.legacy_mention and has_mentions:
            continue
        if all(condition(event, display_name) for condition in rule.conditions):
            return rule.outcome
    return None
