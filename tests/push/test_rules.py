"""Push rules, pure: the predefined rules, conditions, globbing and ordering against
fixtures taken from the spec (client-server-api "Push Rules", appendices)."""

from __future__ import annotations

from typing import Any

import pytest

from homeserver.push import rule_edits
from homeserver.events import push_rules as rules
from homeserver.push.rule_edits import RuleError
from homeserver.events.push_rules import PushEvent

ALICE = "@alice:example.org"
BOB = "@bob:example.org"
ROOM = "!room:example.org"


def message(body: str = "hello", sender: str = BOB, **content: Any) -> dict[str, Any]:
    return {"type": "m.room.message", "sender": sender, "room_id": ROOM,
            "content": {"msgtype": "m.text", "body": body, **content}}


def outcome(
    event: dict[str, Any], *, members: int = 3, power: float = 0, levels: dict[str, int] | None = None,
    display_name: str | None = "Alice Liddell", stored: dict[str, Any] | None = None, user_id: str = ALICE,
) -> rules.Outcome | None:
    compiled = rules.compile_ruleset(rules.ruleset(user_id, stored))
    return rules.evaluate(compiled, PushEvent(event, members, power, levels or {}), display_name)


def rule_id(event: dict[str, Any], **kwargs: Any) -> str | None:
    result = outcome(event, **kwargs)
    return result.rule_id if result is not None else None


# --- the predefined rules ---------------------------------------------------------------


def test_default_ruleset_is_in_the_spec_order() -> None:
    ruleset = rules.ruleset(ALICE, None)
    assert [r["rule_id"] for r in ruleset["override"]] == [
        ".m.rule.master", ".m.rule.suppress_notices", ".m.rule.invite_for_me", ".m.rule.member_event",
        ".m.rule.is_user_mention", ".m.rule.contains_display_name", ".m.rule.is_room_mention",
        ".m.rule.roomnotif", ".m.rule.tombstone", ".m.rule.reaction", ".m.rule.room.server_acl",
        ".m.rule.suppress_edits",
    ]
    assert [r["rule_id"] for r in ruleset["content"]] == [".m.rule.contains_user_name"]
    assert ruleset["room"] == [] and ruleset["sender"] == []
    assert [r["rule_id"] for r in ruleset["underride"]] == [
        ".m.rule.call", ".m.rule.encrypted_room_one_to_one", ".m.rule.room_one_to_one", ".m.rule.message",
        ".m.rule.encrypted",
    ]
    assert all(r["default"] for kind in rules.KINDS for r in ruleset[kind])
    master = ruleset["override"][0]
    assert master == {"rule_id": ".m.rule.master", "default": True, "enabled": False, "conditions": [], "actions": []}


def test_default_rules_are_filled_in_for_the_user() -> None:
    ruleset = rules.ruleset(ALICE, None)
    invite = rules.find_rule(ruleset, "override", ".m.rule.invite_for_me")
    assert invite is not None and {"key": "state_key", "kind": "event_match", "pattern": ALICE} in invite["conditions"]
    mention = rules.find_rule(ruleset, "override", ".m.rule.is_user_mention")
    assert mention is not None and mention["conditions"] == [
        {"kind": "event_property_contains", "key": "content.m\\.mentions.user_ids", "value": ALICE}
    ]
    user_name = rules.find_rule(ruleset, "content", ".m.rule.contains_user_name")
    assert user_name is not None and user_name["pattern"] == "alice"


def test_plain_message_in_a_group_notifies_without_sound_or_highlight() -> None:
    result = outcome(message())
    assert result is not None and result.rule_id == ".m.rule.message"
    assert (result.notify, result.highlight, result.actions) == (True, False, ("notify",))


def test_one_to_one_room_notifies_with_sound() -> None:
    result = outcome(message(), members=2)
    assert result is not None and result.rule_id == ".m.rule.room_one_to_one"
    assert result.tweaks == {"sound": "default"} and not result.highlight


def test_encrypted_events_notify_in_dms_and_groups() -> None:
    encrypted = {"type": "m.room.encrypted", "sender": BOB, "room_id": ROOM, "content": {"ciphertext": "..."}}
    assert rule_id(encrypted, members=2) == ".m.rule.encrypted_room_one_to_one"
    assert rule_id(encrypted, members=5) == ".m.rule.encrypted"


def test_call_invite_rings() -> None:
    result = outcome({"type": "m.call.invite", "sender": BOB, "room_id": ROOM, "content": {}})
    assert result is not None and result.rule_id == ".m.rule.call" and result.tweaks == {"sound": "ring"}


def test_notices_are_suppressed() -> None:
    result = outcome(message(msgtype="m.notice"), members=2)
    assert result is not None and result.rule_id == ".m.rule.suppress_notices"
    assert not result.notify and not result.highlight


def test_invite_for_me_but_not_for_others() -> None:
    def invite(target: str) -> dict[str, Any]:
        return {"type": "m.room.member", "sender": BOB, "room_id": ROOM, "state_key": target,
                "content": {"membership": "invite"}}

    result = outcome(invite(ALICE))
    assert result is not None and result.rule_id == ".m.rule.invite_for_me" and result.notify
    assert rule_id(invite("@carol:example.org")) == ".m.rule.member_event"
    assert not outcome(invite("@carol:example.org")).notify  # type: ignore[union-attr]


def test_user_mention_through_m_mentions_highlights() -> None:
    result = outcome(message("hey", **{"m.mentions": {"user_ids": [ALICE]}}))
    assert result is not None and result.rule_id == ".m.rule.is_user_mention"
    assert result.notify and result.highlight and result.tweaks == {"sound": "default", "highlight": True}
    other = outcome(message("hey", **{"m.mentions": {"user_ids": ["@carol:example.org"]}}))
    assert other is not None and other.rule_id == ".m.rule.message" and not other.highlight


def test_room_mention_needs_the_notification_power_level() -> None:
    event = message("hey everyone", **{"m.mentions": {"room": True}})
    assert rule_id(event, power=50) == ".m.rule.is_room_mention"
    assert outcome(event, power=50).highlight  # type: ignore[union-attr]
    assert rule_id(event, power=49) == ".m.rule.message"
    assert rule_id(event, power=10, levels={"room": 10}) == ".m.rule.is_room_mention"
    assert rule_id(event, power=float("inf")) == ".m.rule.is_room_mention"  # a v12 room creator


def test_tombstone_highlights_only_as_state() -> None:
    tombstone = {"type": "m.room.tombstone", "sender": BOB, "room_id": ROOM, "state_key": "",
                 "content": {"body": "moved", "replacement_room": "!new:example.org"}}
    result = outcome(tombstone)
    assert result is not None and result.rule_id == ".m.rule.tombstone" and result.highlight
    not_state = {k: v for k, v in tombstone.items() if k != "state_key"}
    assert rule_id(not_state) is None


@pytest.mark.parametrize(("event", "expected"), [
    ({"type": "m.reaction", "sender": BOB, "room_id": ROOM,
      "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$x", "key": "👍"}}}, ".m.rule.reaction"),
    ({"type": "m.room.server_acl", "sender": BOB, "room_id": ROOM, "state_key": "", "content": {"allow": ["*"]}},
     ".m.rule.room.server_acl"),
    (message("* fixed", **{"m.new_content": {"body": "fixed"}, "m.relates_to": {"rel_type": "m.replace",
                                                                                  "event_id": "$x"}}),
     ".m.rule.suppress_edits"),
    ({"type": "m.room.member", "sender": BOB, "room_id": ROOM, "state_key": BOB, "content": {"membership": "join"}},
     ".m.rule.member_event"),
])
def test_suppressing_rules(event: dict[str, Any], expected: str) -> None:
    result = outcome(event, members=2)
    assert result is not None and result.rule_id == expected
    assert result.actions == () and not result.notify


def test_state_events_without_a_rule_do_not_notify() -> None:
    assert outcome({"type": "m.room.topic", "sender": BOB, "room_id": ROOM, "state_key": "",
                    "content": {"topic": "lunch"}}) is None


def test_historical_actions_are_ignored() -> None:
    assert rules.outcome_of("x", ["dont_notify"]) == rules.Outcome("x", (), False, False)
    assert rules.outcome_of("x", ["notify", "coalesce"]).actions == ("notify",)
    assert rule_edits.parse_actions(["dont_notify", "notify", "coalesce"]) == ["notify"]


def test_highlight_tweak_false_does_not_highlight() -> None:
    assert not rules.outcome_of("x", ["notify", {"set_tweak": "highlight", "value": False}]).highlight
    assert rules.outcome_of("x", ["notify", {"set_tweak": "highlight"}]).highlight


# --- legacy body mentions ---------------------------------------------------------------


def test_display_name_in_the_body_highlights_a_legacy_message() -> None:
    result = outcome(message("Are you there, lewis carroll?"), display_name="Lewis Carroll")
    assert result is not None and result.rule_id == ".m.rule.contains_display_name" and result.highlight
    assert rule_id(message("Lewis Carrollish"), display_name="Lewis Carroll") == ".m.rule.message", (
        "the name must end at a word boundary"
    )
    assert rule_id(message("Lewis Carroll"), display_name=None) == ".m.rule.message"


def test_user_name_in_the_body_highlights() -> None:
    result = outcome(message("ping ALICE: lunch?"), display_name=None)
    assert result is not None and result.rule_id == ".m.rule.contains_user_name" and result.highlight
    assert rule_id(message("malice aforethought"), display_name=None) == ".m.rule.message"


def test_at_room_in_the_body_needs_power() -> None:
    assert rule_id(message("@room lunch!"), power=50) == ".m.rule.roomnotif"
    assert rule_id(message("@room lunch!"), power=0) == ".m.rule.message"


def test_m_mentions_turns_the_legacy_body_rules_off() -> None:
    event = message("alice, @room: Alice Liddell", **{"m.mentions": {}})
    assert rule_id(event, power=100) == ".m.rule.message"


# --- conditions -------------------------------------------------------------------------


@pytest.mark.parametrize(("topic", "matches"), [
    ("Lunch plans", True), ("LUNCH", True), (" lunch", False), ("lunc", False), (None, False),
])
def test_event_match_spec_example(topic: Any, matches: bool) -> None:
    stored = {"rules": {"override": [{"rule_id": "topic", "enabled": True, "actions": ["notify"],
                                      "conditions": [rules._match("content.topic", "lunc?*")]}]}, "defaults": {}}
    event = {"type": "m.room.topic", "sender": BOB, "room_id": ROOM, "state_key": "", "content": {"topic": topic}}
    assert (rule_id(event, stored=stored) == "topic") is matches


@pytest.mark.parametrize(("body", "matches"), [
    ("An example event.", True), ("exple", True), ("An exciting triple-whammy", True),
    ("Anexample", False), ("examples", False), ("ex amplesauce", False),
])
def test_body_glob_matches_at_word_boundaries(body: str, matches: bool) -> None:
    matcher = rules.glob_matcher("ex*ple", word_boundary=True)
    assert matcher(body) is matches


@pytest.mark.parametrize(("pattern", "value", "matches"), [
    ("cake", "I like cake.", True), ("cake", "cakes", False), ("cake", "pancake", False),
    ("c?ke", "coke_", False), ("c?ke", "a coke!", True), ("cake*lie", "the cake is a lie", True),
    ("cake*lie", "the cake is a lie detector", True), ("cake*lie", "the cake is a lier", False),
    ("*", "", True), ("*", "anything", True), ("a*b*c", "a b c", True), ("a*b*c", "a c b", False),
    ("caf\u00e9", "un CAF\u00c9 noir", True), ("[a]", "x [a] y", True), ("a.b", "axb", False),
])
def test_glob_in_body(pattern: str, value: str, matches: bool) -> None:
    assert rules.glob_matcher(pattern, word_boundary=True)(value) is matches


@pytest.mark.parametrize(("pattern", "value", "matches"), [
    ("m.room.message", "M.ROOM.MESSAGE", True), ("m.room.*", "m.room.member", True), ("m.room.*", "m.roomx", False),
    ("*.member", "m.room.member", True), ("m.room.?ember", "m.room.member", True), ("", "", True), ("", "x", False),
    ("a*a*a*a*a*a*a*b", "a" * 5000, False),
])
def test_glob_whole_value(pattern: str, value: str, matches: bool) -> None:
    assert rules.glob_matcher(pattern, word_boundary=False)(value) is matches


def test_glob_does_not_backtrack_for_ever() -> None:
    import time

    matcher = rules.glob_matcher("*a*a*a*a*a*a*a*a*a*c", word_boundary=True)
    started = time.perf_counter()
    assert not matcher("a" * 60_000)
    assert time.perf_counter() - started < 0.5


def test_event_property_is_matches_exact_types() -> None:
    def rule(value: Any) -> dict[str, Any]:
        return {"rules": {"override": [{"rule_id": "fed", "enabled": True, "actions": ["notify"], "conditions": [
            {"kind": "event_property_is", "key": "content.m\\.federate", "value": value}]}]}, "defaults": {}}

    create = {"type": "m.room.create", "sender": BOB, "room_id": ROOM, "state_key": "",
              "content": {"m.federate": True, "nothing": None}}
    assert rule_id(create, stored=rule(True)) == "fed"
    assert rule_id(create, stored=rule("true")) is None
    assert rule_id(create, stored=rule(1)) is None
    null = {"rules": {"override": [{"rule_id": "null", "enabled": True, "actions": ["notify"], "conditions": [
        {"kind": "event_property_is", "key": "content.nothing", "value": None}]}]}, "defaults": {}}
    assert rule_id(create, stored=null) == "null"
    absent = {"rules": {"override": [{"rule_id": "absent", "enabled": True, "actions": ["notify"], "conditions": [
        {"kind": "event_property_is", "key": "content.missing", "value": None}]}]}, "defaults": {}}
    assert rule_id(create, stored=absent) is None


def test_event_property_contains() -> None:
    stored = {"rules": {"override": [{"rule_id": "alias", "enabled": True, "actions": ["notify"], "conditions": [
        {"kind": "event_property_contains", "key": "content.alt_aliases", "value": "#myroom:example.com"}]}]},
        "defaults": {}}

    def aliases(values: Any) -> dict[str, Any]:
        return {"type": "m.room.canonical_alias", "sender": BOB, "room_id": ROOM, "state_key": "",
                "content": {"alias": "#somewhere:localhost", "alt_aliases": values}}

    assert rule_id(aliases(["#somewhere:example.org", "#myroom:example.com"]), stored=stored) == "alias"
    assert rule_id(aliases([":example.com"]), stored=stored) is None
    assert rule_id(aliases("#myroom:example.com"), stored=stored) is None


def test_dotted_paths_with_escapes() -> None:
    assert rules.split_path("content.m\\.relates_to.rel_type") == ("content", "m.relates_to", "rel_type")
    assert rules.split_path("content.m\\\\foo") == ("content", "m\\foo")
    assert rules.split_path("content.a\\x") == ("content", "a\\x")
    event = {"content": {"m\\foo": "bar", "a\\x": 1, "m.relates_to": {"rel_type": "m.thread"}}}
    assert rules.lookup(event, rules.split_path("content.m\\\\foo")) == "bar"
    assert rules.lookup(event, rules.split_path("content.a\\x")) == 1
    assert rules.lookup(event, rules.split_path("content.m\\.relates_to.rel_type")) == "m.thread"
    assert rules.lookup(event, rules.split_path("content.m.relates_to")) is rules._ABSENT


@pytest.mark.parametrize(("spec", "count", "matches"), [
    ("2", 2, True), ("==2", 3, False), ("<10", 9, True), ("<10", 10, False), ("<=10", 10, True),
    (">5", 6, True), (">=5", 4, False), ("x5", 5, False), ("", 0, False),
])
def test_room_member_count(spec: str, count: int, matches: bool) -> None:
    stored = {"rules": {"override": [{"rule_id": "count", "enabled": True, "actions": ["notify"],
                                      "conditions": [{"kind": "room_member_count", "is": spec}]}]}, "defaults": {}}
    assert (rule_id(message(), members=count, stored=stored) == "count") is matches


def test_unknown_conditions_never_match() -> None:
    stored = {"rules": {"override": [{"rule_id": "odd", "enabled": True, "actions": ["notify"],
                                      "conditions": [{"kind": "org.example.future"}]}]}, "defaults": {}}
    assert rule_id(message(), stored=stored) == ".m.rule.message"


def test_spec_beer_example() -> None:
    stored = {"rules": {"override": [{"rule_id": "beer", "enabled": True,
                                      "actions": ["notify", {"set_tweak": "sound", "value": "beeroclock.wav"}],
                                      "conditions": [rules._match("content.body", "beer"),
                                                     {"kind": "room_member_count", "is": "<=10"}]}]}, "defaults": {}}
    result = outcome(message("Beer time?"), members=8, stored=stored)
    assert result is not None and result.rule_id == "beer" and result.tweaks == {"sound": "beeroclock.wav"}
    assert rule_id(message("Beer time?"), members=11, stored=stored) == ".m.rule.message"


# --- user rules: kinds, enabling, ordering -----------------------------------------------


def test_room_and_sender_rules() -> None:
    stored = {"rules": {"room": [{"rule_id": ROOM, "enabled": True, "actions": []}],
                        "sender": [{"rule_id": "@spambot:example.org", "enabled": True, "actions": []}]},
              "defaults": {}}
    assert rule_id(message(), stored=stored) == ROOM
    assert not outcome(message(), stored=stored).notify  # type: ignore[union-attr]
    other_room = {**message(sender="@spambot:example.org"), "room_id": "!other:example.org"}
    assert rule_id(other_room, stored=stored) == "@spambot:example.org"
    assert rule_id({**message(), "room_id": "!other:example.org"}, stored=stored) == ".m.rule.message"


def test_user_content_rule_beats_the_defaults_of_lower_kinds_but_not_overrides() -> None:
    stored = {"rules": {"content": [{"rule_id": "cake", "enabled": True, "pattern": "cake",
                                     "actions": ["notify", {"set_tweak": "sound", "value": "cakealarm.wav"}]}]},
              "defaults": {}}
    assert rule_id(message("cake please"), stored=stored) == "cake"
    assert rule_id(message("cake please", msgtype="m.notice"), stored=stored) == ".m.rule.suppress_notices"


def test_master_rule_enabled_silences_everything() -> None:
    stored = {"rules": {"override": [{"rule_id": "loud", "enabled": True, "actions": ["notify"], "conditions": []}]},
              "defaults": {"override/.m.rule.master": {"enabled": True}}}
    result = outcome(message(**{"m.mentions": {"user_ids": [ALICE]}}), stored=stored)
    assert result is not None and result.rule_id == ".m.rule.master" and not result.notify
    ruleset = rules.ruleset(ALICE, stored)
    assert [r["rule_id"] for r in ruleset["override"][:2]] == [".m.rule.master", "loud"]


def test_disabled_rules_never_match() -> None:
    stored = {"rules": {}, "defaults": {"underride/.m.rule.message": {"enabled": False}}}
    assert outcome(message(), stored=stored) is None
    mine = {"rules": {"content": [{"rule_id": "cake", "enabled": False, "pattern": "cake", "actions": ["notify"]}]},
            "defaults": {}}
    assert rule_id(message("cake"), stored=mine) == ".m.rule.message"


def test_changed_default_actions_apply() -> None:
    stored = {"rules": {}, "defaults": {"underride/.m.rule.message": {"actions": ["notify", {"set_tweak": "highlight"}]}}}
    result = outcome(message(), stored=stored)
    assert result is not None and result.highlight
    served = rules.find_rule(rules.ruleset(ALICE, stored), "underride", ".m.rule.message")
    assert served is not None and served["default"] and served["actions"] == ["notify", {"set_tweak": "highlight"}]


def _ids(own: list[dict[str, Any]]) -> list[str]:
    return [r["rule_id"] for r in own]


def _new(rule_id: str) -> dict[str, Any]:
    return {"rule_id": rule_id, "enabled": True, "actions": ["notify"], "pattern": rule_id}


def test_ordering_with_before_and_after() -> None:
    own: list[dict[str, Any]] = []
    own = rule_edits.insert_rule(own, _new("a"), None, None)
    own = rule_edits.insert_rule(own, _new("b"), None, None)
    assert _ids(own) == ["b", "a"], "a new rule without before/after is the most important"
    own = rule_edits.insert_rule(own, _new("c"), None, "a")
    assert _ids(own) == ["b", "a", "c"]
    own = rule_edits.insert_rule(own, _new("d"), "a", None)
    assert _ids(own) == ["b", "d", "a", "c"]
    own = rule_edits.insert_rule(own, _new("d"), None, None)
    assert _ids(own) == ["b", "d", "a", "c"], "an update without before/after keeps its place"
    own = rule_edits.insert_rule(own, _new("b"), None, "c")
    assert _ids(own) == ["d", "a", "c", "b"], "an update with after moves"
    own = rule_edits.insert_rule(own, _new("e"), "c", "a")
    assert _ids(own) == ["d", "a", "e", "c", "b"], "with both, before wins"
    with pytest.raises(RuleError) as e:
        rule_edits.insert_rule(own, _new("f"), "missing", None)
    assert e.value.errcode == "M_INVALID_PARAM"
    with pytest.raises(RuleError):
        rule_edits.insert_rule(own, _new("f"), ".m.rule.message", None)


def test_order_decides_between_matching_rules() -> None:
    tea = {"rule_id": "tea", "enabled": True, "pattern": "tea", "actions": ["notify", {"set_tweak": "sound", "value": "tea"}]}
    time = {"rule_id": "time", "enabled": True, "pattern": "time",
            "actions": ["notify", {"set_tweak": "sound", "value": "time"}]}
    stored = {"rules": {"content": rule_edits.insert_rule(rule_edits.insert_rule([], tea, None, None), time, None, "tea")},
              "defaults": {}}
    assert rule_id(message("It's time for tea"), stored=stored) == "tea"
    stored["rules"]["content"] = rule_edits.insert_rule(stored["rules"]["content"], time, "tea", None)
    assert rule_id(message("It's time for tea"), stored=stored) == "time"


# --- validating client input --------------------------------------------------------------


@pytest.mark.parametrize(("kind", "rule_id_"), [
    ("override", ".mine"), ("override", "a/b"), ("override", "a\\b"), ("override", ""),
    ("room", "not-a-room"), ("sender", "not-a-user"),
])
def test_invalid_rule_ids(kind: str, rule_id_: str) -> None:
    with pytest.raises(RuleError) as e:
        rule_edits.check_new_rule_id(kind, rule_id_)
    assert e.value.errcode == "M_INVALID_PARAM"


@pytest.mark.parametrize(("kind", "body", "errcode"), [
    ("override", {}, "M_MISSING_PARAM"),
    ("override", {"actions": "notify"}, "M_BAD_JSON"),
    ("override", {"actions": ["shout"]}, "M_BAD_JSON"),
    ("override", {"actions": [{"value": 1}]}, "M_BAD_JSON"),
    ("override", {"actions": [], "conditions": {}}, "M_BAD_JSON"),
    ("override", {"actions": [], "conditions": [{"key": "type"}]}, "M_BAD_JSON"),
    ("override", {"actions": [], "conditions": [{"kind": "event_match", "key": "type"}]}, "M_BAD_JSON"),
    ("override", {"actions": [], "conditions": [{"kind": "event_property_is", "key": "x", "value": [1]}]},
     "M_BAD_JSON"),
    ("override", {"actions": [], "conditions": [{"kind": "event_property_is", "key": "x", "value": 2**60}]},
     "M_BAD_JSON"),
    ("content", {"actions": []}, "M_MISSING_PARAM"),
    ("content", {"actions": [], "pattern": 5}, "M_BAD_JSON"),
])
def test_invalid_rule_bodies(kind: str, body: dict[str, Any], errcode: str) -> None:
    with pytest.raises(RuleError) as e:
        rule_edits.parse_rule_body(kind, "mine", body)
    assert e.value.errcode == errcode


def test_valid_rule_body_is_stored_enabled() -> None:
    body = {"actions": ["notify"], "conditions": [{"kind": "org.example.future", "x": 1}], "pattern": "ignored"}
    assert rule_edits.parse_rule_body("underride", "mine", body) == {
        "rule_id": "mine", "enabled": True, "actions": ["notify"], "conditions": [{"kind": "org.example.future", "x": 1}]
    }
