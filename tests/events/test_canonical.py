"""Canonical JSON and unpadded Base64 (appendices.md)."""

from __future__ import annotations

import canonicaljson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeserver.events.canonical import (
    check_canonical_json_values,
    decode_base64,
    decode_json,
    encode_base64,
    encode_canonical_json,
)
from homeserver.events.errors import EventFormatError

from ._support import load_fixture

CANONICAL = load_fixture("canonical_json.json")["cases"]


@pytest.mark.parametrize("case", CANONICAL, ids=[c["canonical"][:30] for c in CANONICAL])
def test_appendix_canonical_json_examples(case: dict[str, str]) -> None:
    assert encode_canonical_json(decode_json(case["input"])) == case["canonical"].encode("utf-8")


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(st.characters(exclude_categories=("Cs",))),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(st.characters(exclude_categories=("Cs",)), max_size=6), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_JSON_VALUES)
def test_encoding_is_byte_for_byte_the_canonicaljson_library(value: object) -> None:
    # encode_canonical_json uses orjson for speed; what it signs must not change.
    assert encode_canonical_json(value) == canonicaljson.encode_canonical_json(value)


def test_values_orjson_refuses_fall_back_to_canonicaljson() -> None:
    assert encode_canonical_json({"a": 2**70}) == b'{"a":1180591620717411303424}'
    with pytest.raises(EventFormatError):
        encode_canonical_json({"a": "\ud800"})


def test_canonical_json_escapes_control_characters_per_grammar() -> None:
    value = {"k": '\b\t\n\f\r"\\\x00\x1f\x7f/é'}
    assert (
        encode_canonical_json(value) == b'{"k":"\\b\\t\\n\\f\\r\\"\\\\\\u0000\\u001f\x7f/\xc3\xa9"}'
    )


def test_canonical_json_sorts_by_codepoint_including_astral_plane() -> None:
    # U+FF61 sorts before U+1F600 by codepoint, but after it in UTF-16 code units.
    assert (
        encode_canonical_json({"\U0001f600": 1, "\uff61": 2})
        == '{"\uff61":2,"\U0001f600":1}'.encode()
    )


@pytest.mark.parametrize(
    "text", ["NaN", "[Infinity]", '{"a": -Infinity}', '{"a": 1, "a": 2}', "{", b"\xff"]
)
def test_decode_json_refuses_non_json(text: str | bytes) -> None:
    with pytest.raises(EventFormatError):
        decode_json(text)


def test_decode_json_keeps_fractional_numbers_as_floats() -> None:
    assert decode_json('{"a": 1.5, "b": 2.0, "c": 5.114698E4}') == {"a": 1.5, "b": 2, "c": 51146.98}
    with pytest.raises(EventFormatError):
        decode_json("1e999999999")


@pytest.mark.parametrize(
    "value",
    [{"a": 1.5}, {"a": [2**53]}, {"a": {"b": -(2**53)}}, [0.0]],
    ids=["float", "too big", "too small", "zero float"],
)
def test_check_canonical_json_values_rejects(value: object) -> None:
    with pytest.raises(EventFormatError):
        check_canonical_json_values(value)


def test_check_canonical_json_values_accepts_range_limits() -> None:
    check_canonical_json_values({"a": [2**53 - 1, -(2**53) + 1, True, None, "x"]})


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        (b"", ""),
        (b"f", "Zg"),
        (b"fo", "Zm8"),
        (b"foo", "Zm9v"),
        (b"foob", "Zm9vYg"),
        (b"fooba", "Zm9vYmE"),
        (b"foobar", "Zm9vYmFy"),
    ],
)
def test_unpadded_base64_appendix_examples(raw: bytes, encoded: str) -> None:
    assert encode_base64(raw) == encoded
    assert decode_base64(encoded) == raw


def test_urlsafe_base64_uses_minus_and_underscore() -> None:
    data = bytes([0xFB, 0xFF, 0xBF])
    assert encode_base64(data) == "+/+/"
    assert encode_base64(data, urlsafe=True) == "-_-_"
    assert decode_base64("-_-_") == decode_base64("+/+/") == data


def test_decode_base64_accepts_padding_and_rejects_garbage() -> None:
    assert decode_base64("Zg==") == b"f"
    for bad in ("Z", "Zm9v!", "Zm 9v"):
        with pytest.raises(ValueError):
            decode_base64(bad)
