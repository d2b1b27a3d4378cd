"""Canonical JSON and unpadded Base64 (appendices.md "Canonical JSON", "Unpadded Base64")."""

from __future__ import annotations

import base64
import binascii
import json
from decimal import Decimal, InvalidOperation
from typing import Any

import canonicaljson
import orjson

from .constants import CANONICALJSON_MAX_INT, CANONICALJSON_MIN_INT
from .errors import EventFormatError

_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")
# Fraction/exponent literals of 1e20 and more are refused rather than expanded (1e999999999).
_MAX_NON_INTEGER_EXPONENT = 20


def encode_canonical_json(value: Any) -> bytes:
    """The shortest UTF-8 JSON encoding with keys sorted by codepoint.

    orjson with sorted keys writes the same bytes as the ``canonicaljson`` library (what
    Synapse signs and hashes; tests/events compares the two) ten times faster; what orjson
    refuses (integers beyond 64 bits, non-string keys) goes to ``canonicaljson``. Neither
    polices the value space (floats, big integers); see ``check_canonical_json_values``.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        pass
    try:
        return canonicaljson.encode_canonical_json(value)
    except (TypeError, ValueError) as e:  # UnicodeEncodeError (lone surrogates) is a ValueError
        raise EventFormatError(f"value cannot be encoded as canonical JSON: {e}") from None


def decode_json(data: str | bytes) -> Any:
    """Parse JSON strictly, as a PDU or request body must be parsed before it is hashed.

    ``NaN``/``Infinity`` and duplicate object keys are refused. A number written with a
    fraction or exponent that denotes an integer becomes that integer, as in the appendix
    example ``{"a": -0, "b": 1e10}`` -> ``{"a":0,"b":10000000000}``. Other fractional numbers
    stay floats, which only room versions 1-5 tolerate (``check_canonical_json_values``).
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(
            text,
            parse_float=_parse_float,
            parse_constant=_refuse_constant,
            object_pairs_hook=_object_without_duplicate_keys,
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise EventFormatError(f"invalid JSON: {e}") from None


def check_canonical_json_values(value: Any, path: str = "") -> None:
    """Raise ``EventFormatError`` unless every number is an integer in the canonical range."""
    if _plainly_canonical(value):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EventFormatError(f"non-string object key at {path or '<root>'}")
            check_canonical_json_values(item, f"{path}.{key}" if path else key)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_canonical_json_values(item, f"{path}[{index}]")
    elif isinstance(value, float):
        raise EventFormatError(f"float value at {path or '<root>'} is not canonical JSON")
    elif isinstance(value, int) and not CANONICALJSON_MIN_INT <= value <= CANONICALJSON_MAX_INT:
        raise EventFormatError(f"integer at {path or '<root>'} is out of range")


def _plainly_canonical(value: Any) -> bool:
    """A fast pass over what JSON decoding produces (exact dict, list, str, int, bool,
    None): True when every number is an integer in range. False sends the caller to the
    full check, which names the offending path (and handles other types)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not CANONICALJSON_MIN_INT <= item <= CANONICALJSON_MAX_INT:
                return False
        elif kind is dict:
            for key in item:
                if type(key) is not str:
                    return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        else:
            return False
    return True


def encode_base64(data: bytes, *, urlsafe: bool = False) -> str:
    """Unpadded Base64; with ``urlsafe`` the RFC 4648 section 5 alphabet (``-`` and ``_``)."""
    encoded = base64.urlsafe_b64encode(data) if urlsafe else base64.b64encode(data)
    return encoded.rstrip(b"=").decode("ascii")


def decode_base64(data: str) -> bytes:
    """Decode standard or URL-safe Base64, with or without padding (appendices.md: SHOULD)."""
    if not isinstance(data, str):
        raise ValueError("Base64 data must be a string")
    stripped = data.rstrip("=").translate(_URLSAFE_TO_STANDARD)
    if len(stripped) % 4 == 1:
        raise ValueError("invalid Base64 length")
    try:
        return base64.b64decode(stripped + "=" * (-len(stripped) % 4), validate=True)
    except binascii.Error as e:
        raise ValueError(f"invalid Base64: {e}") from None


def _parse_float(literal: str) -> int | float:
    try:
        number = Decimal(literal)
    except InvalidOperation:  # pragma: no cover - json only hands us valid literals
        raise EventFormatError(f"invalid number {literal!r}") from None
    if not number.is_finite() or number.adjusted() >= _MAX_NON_INTEGER_EXPONENT:
        raise EventFormatError(f"number {literal!r} is out of range")
    if number == number.to_integral_value():
        return int(number)
    return float(literal)


def _refuse_constant(name: str) -> Any:
    raise EventFormatError(f"{name} is not valid JSON")


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise EventFormatError("JSON object has duplicate keys")
    return result
