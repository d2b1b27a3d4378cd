"""Checking uploaded keys before anything is stored: their shape, their size, and the
signatures the spec requires (appendices "Signing JSON"; client-server-api "Device
keys", "One-time and fallback keys", "Cross-signing").

Every check raises a ``MatrixError`` with the spec's errcode: ``M_BAD_JSON`` for a wrong
shape, ``M_INVALID_PARAM`` for keys of another user or device, ``M_INVALID_SIGNATURE``
for a missing or bad signature, 413 ``M_TOO_LARGE`` past the limits below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeserver.errors import MatrixError, bad_json, invalid_param
from homeserver.events.canonical import decode_base64, encode_canonical_json
from homeserver.events.errors import SignatureError
from homeserver.events.signing import ED25519, verify_signed_json

# Far above what clients send (a device's keys are ~600 bytes, a signed one-time key
# ~250), low enough that no upload costs much to check or store.
MAX_DEVICE_KEYS_BYTES = 16_384
MAX_KEY_BYTES = 2_048
MAX_NAME_LENGTH = 255
MAX_ALGORITHMS = 32
MAX_SIGNATURES = 64


def too_large(message: str) -> MatrixError:
    return MatrixError(413, "M_TOO_LARGE", message)


def invalid_signature(message: str) -> MatrixError:
    return MatrixError(400, "M_INVALID_SIGNATURE", message)


def check_size(value: Any, limit: int, what: str) -> None:
    if len(encode_canonical_json(value)) > limit:
        raise too_large(f"{what} is larger than {limit} bytes")


def ed25519_key(value: Any, what: str) -> bytes:
    """The 32 bytes of an unpadded base64 ed25519 public key."""
    try:
        raw = decode_base64(value)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise bad_json(f"{what} is not an unpadded base64 ed25519 public key")
    return raw


def check_signatures_shape(obj: Mapping[str, Any], what: str) -> None:
    signatures = obj.get("signatures", {})
    if not isinstance(signatures, dict) or not all(
        isinstance(u, str) and isinstance(s, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in s.items())
        for u, s in signatures.items()
    ):
        raise bad_json(f"{what}: 'signatures' maps user IDs to objects of key IDs and signatures")
    if sum(len(s) for s in signatures.values()) > MAX_SIGNATURES:
        raise too_large(f"{what} has more than {MAX_SIGNATURES} signatures")


def verify(obj: Mapping[str, Any], user_id: str, key_id: str, public_key: bytes, what: str) -> None:
    """``obj`` carries a valid signature by ``user_id``'s key ``key_id``."""
    if key_id not in obj.get("signatures", {}).get(user_id, {}):
        raise invalid_signature(f"{what} is not signed by {key_id}")
    try:
        verify_signed_json(obj, user_id, {key_id: public_key})
    except SignatureError:
        raise invalid_signature(f"{what}: the signature by {key_id} is not valid") from None


def check_device_keys(device_keys: Any, user_id: str, device_id: str) -> tuple[dict[str, Any], bytes]:
    """The device keys to store (without ``unsigned``) and the device's ed25519 key."""
    if not isinstance(device_keys, dict):
        raise bad_json("'device_keys' must be an object")
    check_size(device_keys, MAX_DEVICE_KEYS_BYTES, "'device_keys'")
    if device_keys.get("user_id") != user_id:
        raise invalid_param("device_keys.user_id must be the user uploading them")
    if device_keys.get("device_id") != device_id:
        raise invalid_param("device_keys.device_id must be the device uploading them")
    algorithms = device_keys.get("algorithms")
    if not isinstance(algorithms, list) or not all(isinstance(a, str) and 0 < len(a) <= MAX_NAME_LENGTH for a in algorithms):
        raise bad_json("device_keys.algorithms must be an array of algorithm names")
    if len(algorithms) > MAX_ALGORITHMS:
        raise too_large(f"device_keys.algorithms lists more than {MAX_ALGORITHMS} algorithms")
    keys = device_keys.get("keys")
    if not isinstance(keys, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in keys.items()):
        raise bad_json("device_keys.keys must map key IDs to keys")
    key_id = f"{ED25519}:{device_id}"
    if key_id not in keys:
        raise bad_json(f"device_keys.keys has no {key_id} key")
    public_key = ed25519_key(keys[key_id], f"device_keys.keys.{key_id}")
    check_signatures_shape(device_keys, "device_keys")
    verify(device_keys, user_id, key_id, public_key, "device_keys")
    return {k: v for k, v in device_keys.items() if k != "unsigned"}, public_key


def check_key_name(name: str, what: str) -> tuple[str, str]:
    """``<algorithm>:<key_id>`` -> (algorithm, key_id)."""
    algorithm, _, key_id = name.partition(":")
    if not algorithm or not key_id or len(name) > MAX_NAME_LENGTH:
        raise bad_json(f"{what}: {name[:MAX_NAME_LENGTH]!r} is not <algorithm>:<key_id>")
    return algorithm, key_id


def check_one_time_key(
    name: str, key: Any, user_id: str, device_id: str, signing_key: bytes | None, what: str
) -> None:
    """A one-time or fallback key: a string, or a key object. Signed algorithms
    (``signed_curve25519``) must carry a valid signature by the device's ed25519 key."""
    algorithm, _ = check_key_name(name, what)
    if not isinstance(key, (str, dict)):
        raise bad_json(f"{what}.{name} must be a key or a key object")
    check_size(key, MAX_KEY_BYTES, f"{what}.{name}")
    if not algorithm.startswith("signed_"):
        return
    if not isinstance(key, dict) or not isinstance(key.get("key"), str):
        raise bad_json(f"{what}.{name} must be an object with a 'key' and 'signatures'")
    if "fallback" in key and not isinstance(key["fallback"], bool):
        raise bad_json(f"{what}.{name}.fallback must be a boolean")
    check_signatures_shape(key, f"{what}.{name}")
    if signing_key is None:
        raise invalid_signature(f"{what}.{name} cannot be checked: upload the device's keys first")
    verify(key, user_id, f"{ED25519}:{device_id}", signing_key, f"{what}.{name}")


def check_cross_signing_key(key: Any, user_id: str, usage: str, what: str) -> str:
    """A cross-signing key of ``user_id`` for ``usage``; return its public key."""
    if not isinstance(key, dict):
        raise bad_json(f"'{what}' must be an object")
    check_size(key, MAX_DEVICE_KEYS_BYTES, f"'{what}'")
    if key.get("user_id") != user_id:
        raise invalid_param(f"{what}.user_id must be the user uploading it")
    usages = key.get("usage")
    if not isinstance(usages, list) or usage not in usages or not all(isinstance(u, str) for u in usages):
        raise bad_json(f"{what}.usage must be an array containing {usage!r}")
    keys = key.get("keys")
    if not isinstance(keys, dict) or len(keys) != 1:
        raise bad_json(f"{what}.keys must hold exactly one key")
    [(key_id, public_key)] = keys.items()
    if key_id != f"{ED25519}:{public_key}" or not isinstance(public_key, str):
        raise bad_json(f"{what}.keys must be {{'ed25519:<public key>': '<public key>'}}")
    ed25519_key(public_key, f"{what}.keys")
    check_signatures_shape(key, what)
    return public_key
