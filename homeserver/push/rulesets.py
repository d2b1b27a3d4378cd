"""A user's push rules through the API (spec: pushrules.yaml) and as ``m.push_rules``
account data (push.md "Push Rules: Events").

Every change is one transaction: lock the user's row, apply the change to their stored
rules (their own rules by kind, and their enabled/actions changes to the server-default
rules), write it back at a fresh stream position, then wake their /syncs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeserver.errors import MatrixError, not_found
from homeserver.push import rule_edits
from homeserver.events import push_rules as rules
from homeserver.push.rule_edits import RuleError
from homeserver.server import ROOM_HEADS, HomeServer
from homeserver.storage import push as store
from homeserver.streams import Stream
from homeserver.timeline.push import push_rules_content

Stored = dict[str, Any]  # {"rules": {kind: [rule]}, "defaults": {"kind/rule_id": {...}}}


def _error(e: RuleError) -> MatrixError:
    return MatrixError(404 if e.errcode == "M_NOT_FOUND" else 400, e.errcode, str(e))


async def get_rule(hs: HomeServer, user_id: str, kind: str, rule_id: str) -> dict[str, Any]:
    _check_kind(kind)
    content = await push_rules_content(hs.db.pool, user_id)
    rule = rules.find_rule(content["global"], kind, rule_id)
    if rule is None:
        raise not_found("The push rule was not found.")
    return rule


async def put_rule(
    hs: HomeServer, user_id: str, kind: str, rule_id: str, body: dict[str, Any], before: str | None, after: str | None
) -> None:
    _check_kind(kind)
    try:
        rule_edits.check_new_rule_id(kind, rule_id)
        rule = rule_edits.parse_rule_body(kind, rule_id, body)
    except RuleError as e:
        raise _error(e) from None

    def change(stored: Stored) -> None:
        own = stored["rules"].setdefault(kind, [])
        stored["rules"][kind] = rule_edits.insert_rule(own, rule, before, after)

    await _change(hs, user_id, change)


async def delete_rule(hs: HomeServer, user_id: str, kind: str, rule_id: str) -> None:
    _check_kind(kind)
    if rules.is_default_rule(kind, rule_id):
        raise MatrixError(400, "M_INVALID_PARAM", "Server-default rules cannot be deleted; disable them instead")

    def change(stored: Stored) -> None:
        own = stored["rules"].get(kind, [])
        if not any(r["rule_id"] == rule_id for r in own):
            raise RuleError("M_NOT_FOUND", "The push rule was not found.")
        stored["rules"][kind] = [r for r in own if r["rule_id"] != rule_id]

    await _change(hs, user_id, change)


async def set_attribute(hs: HomeServer, user_id: str, kind: str, rule_id: str, attribute: str, value: Any) -> None:
    """PUT .../enabled or .../actions, of a user-defined or a server-default rule."""
    _check_kind(kind)
    if attribute == "actions":
        try:
            value = rule_edits.parse_actions(value)
        except RuleError as e:
            raise _error(e) from None

    def change(stored: Stored) -> None:
        if rules.is_default_rule(kind, rule_id):
            stored["defaults"].setdefault(f"{kind}/{rule_id}", {})[attribute] = value
            return
        rule = next((r for r in stored["rules"].get(kind, []) if r["rule_id"] == rule_id), None)
        if rule is None:
            raise RuleError("M_NOT_FOUND", "The push rule was not found.")
        rule[attribute] = value

    await _change(hs, user_id, change)


async def _change(hs: HomeServer, user_id: str, change: Callable[[Stored], None]) -> None:
    async with hs.feed.writing(Stream.ACCOUNT_DATA) as writer, hs.db.transaction() as conn:
        row = await store.lock_push_rules(conn, user_id, rules.empty_stored()["rules"])
        stored: Stored = {"rules": row.rules, "defaults": row.defaults}
        try:
            change(stored)
        except RuleError as e:
            raise _error(e) from None
        [position] = await writer.next(conn, Stream.ACCOUNT_DATA)
        await store.put_push_rules(conn, user_id, stored["rules"], stored["defaults"], position)
        writer.touch(users=[user_id])
        writer.invalidate(ROOM_HEADS, user_id)  # they hold each member's push rules version


def _check_kind(kind: str) -> None:
    try:
        rule_edits.check_kind(kind)
    except RuleError as e:
        raise _error(e) from None
