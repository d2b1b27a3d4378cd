"""Changing a user's push rules, pure (spec: pushrules.yaml): checking what clients send,
and placing a rule among the user's own rules with ``before`` and ``after``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from homeserver.events.push_rules import IGNORED_ACTIONS, KINDS, MAX_PATTERN_LENGTH, is_scalar


class RuleError(ValueError):
    """A rule or request the spec does not allow; ``errcode`` is the Matrix errcode."""

    def __init__(self, errcode: str, message: str) -> None:
        super().__init__(message)
        self.errcode = errcode


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise RuleError("M_INVALID_PARAM", f"Unknown push rule kind {kind!r}")


def check_new_rule_id(kind: str, rule_id: str) -> None:
    """A rule ID a client may create (pushrules.yaml "ruleId")."""
    if not rule_id:
        raise RuleError("M_INVALID_PARAM", "The rule ID must not be empty")
    if rule_id.startswith("."):
        raise RuleError("M_INVALID_PARAM", "Rule IDs starting with '.' are reserved for server-default rules")
    if "/" in rule_id or "\\" in rule_id:
        raise RuleError("M_INVALID_PARAM", "Rule IDs cannot contain '/' or '\\'")
    if "\x00" in rule_id or len(rule_id.encode()) > 1024:
        raise RuleError("M_INVALID_PARAM", "Invalid rule ID")
    if kind == "room" and not rule_id.startswith("!"):
        raise RuleError("M_INVALID_PARAM", "The rule ID of a room rule is the room ID")
    if kind == "sender" and not rule_id.startswith("@"):
        raise RuleError("M_INVALID_PARAM", "The rule ID of a sender rule is the user ID")


def parse_actions(value: Any) -> list[Any]:
    """A rule's ``actions``, checked, with historical actions stripped."""
    if not isinstance(value, list):
        raise RuleError("M_BAD_JSON", "'actions' must be an array")
    out: list[Any] = []
    for action in value:
        if isinstance(action, str):
            if action in IGNORED_ACTIONS:
                continue
            if action != "notify":
                raise RuleError("M_BAD_JSON", f"Unrecognised action {action!r}")
            out.append(action)
        elif isinstance(action, dict):
            if not isinstance(action.get("set_tweak"), str):
                raise RuleError("M_BAD_JSON", "An object action must have a string 'set_tweak'")
            _check_no_nul(action)
            out.append(action)
        else:
            raise RuleError("M_BAD_JSON", "Each action must be a string or an object")
    return out


_CONDITION_PARAMS: Final[Mapping[str, tuple[tuple[str, Callable[[Any], bool], str], ...]]] = {
    "event_match": (("key", lambda v: isinstance(v, str), "a string"),
                    ("pattern", lambda v: isinstance(v, str) and len(v) <= MAX_PATTERN_LENGTH,
                     f"a string of at most {MAX_PATTERN_LENGTH} characters")),
    "event_property_is": (("key", lambda v: isinstance(v, str), "a string"),
                          ("value", is_scalar, "a string, integer, boolean or null")),
    "event_property_contains": (("key", lambda v: isinstance(v, str), "a string"),
                                ("value", is_scalar, "a string, integer, boolean or null")),
    "room_member_count": (("is", lambda v: isinstance(v, str), "a string"),),
    "sender_notification_permission": (("key", lambda v: isinstance(v, str), "a string"),),
    "contains_display_name": (),
}


def parse_conditions(value: Any) -> list[dict[str, Any]]:
    """``conditions`` of an override or underride rule. Conditions of a kind this server
    does not know are kept: they never match (spec: "Unrecognised conditions MUST NOT
    match any events")."""
    if not isinstance(value, list):
        raise RuleError("M_BAD_JSON", "'conditions' must be an array")
    for condition in value:
        if not isinstance(condition, dict) or not isinstance(condition.get("kind"), str):
            raise RuleError("M_BAD_JSON", "Each condition must be an object with a string 'kind'")
        for name, valid, what in _CONDITION_PARAMS.get(condition["kind"], ()):
            if name not in condition:
                raise RuleError("M_BAD_JSON", f"A {condition['kind']} condition needs '{name}'")
            if not valid(condition[name]):
                raise RuleError("M_BAD_JSON", f"'{name}' of a {condition['kind']} condition must be {what}")
        _check_no_nul(condition)
    return value


def parse_rule_body(kind: str, rule_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of a user-defined rule from a PUT body."""
    if "actions" not in body:
        raise RuleError("M_MISSING_PARAM", "Missing parameter: actions")
    rule: dict[str, Any] = {"rule_id": rule_id, "enabled": True, "actions": parse_actions(body["actions"])}
    if kind in ("override", "underride"):
        rule["conditions"] = parse_conditions(body.get("conditions", []))
    elif kind == "content":
        pattern = body.get("pattern")
        if pattern is None:
            raise RuleError("M_MISSING_PARAM", "Missing parameter: pattern")
        if not isinstance(pattern, str) or "\x00" in pattern or len(pattern) > MAX_PATTERN_LENGTH:
            raise RuleError("M_BAD_JSON", f"'pattern' must be a string of at most {MAX_PATTERN_LENGTH} characters")
        rule["pattern"] = pattern
    return rule


def _check_no_nul(value: Any) -> None:
    # PostgreSQL jsonb cannot hold U+0000.
    if isinstance(value, str) and "\x00" in value:
        raise RuleError("M_BAD_JSON", "Push rules cannot contain NUL characters")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_no_nul(k)
            _check_no_nul(v)
    elif isinstance(value, list):
        for v in value:
            _check_no_nul(v)


def insert_rule(
    own: list[dict[str, Any]], rule: dict[str, Any], before: str | None, after: str | None
) -> list[dict[str, Any]]:
    """Place a new or updated rule among the user's own rules of its kind (pushrules.yaml
    PUT): next to ``before`` (more important) or ``after`` (less important); a new rule
    with neither goes first, an updated one keeps its place."""
    for anchor in (before, after):
        if anchor is not None and anchor.startswith("."):
            raise RuleError("M_INVALID_PARAM", "Rules cannot be placed relative to a server-default rule")
    index = next((i for i, r in enumerate(own) if r["rule_id"] == rule["rule_id"]), None)
    if index is not None:
        rule = {**rule, "enabled": own[index].get("enabled", True)}
    rest = [r for r in own if r["rule_id"] != rule["rule_id"]]
    anchor = before if before is not None else after
    if anchor is None:
        if index is None:
            return [rule, *rest]
        return [*rest[:index], rule, *rest[index:]]
    at = next((i for i, r in enumerate(rest) if r["rule_id"] == anchor), None)
    if at is None:
        raise RuleError("M_INVALID_PARAM", f"before/after rule not found: {anchor}")
    at = at if before is not None else at + 1
    return [*rest[:at], rule, *rest[at:]]
