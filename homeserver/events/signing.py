"""ed25519 signing keys, signed JSON and signed events.

appendices.md "Signing JSON", "Checking for a Signature"; server-server-api.md "Signing
Events", "Validating hashes and signatures on received events". Key storage uses the
Synapse signing-key file format, one key a line: ``ed25519 <version> <unpadded base64 seed>``.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import nacl.exceptions
import nacl.signing

from .canonical import decode_base64, encode_base64, encode_canonical_json
from .constants import AUTHORISING_USER, INVITE, MEMBER
from .errors import SignatureError
from .hashing import content_hash_matches, with_content_hash
from .ids import domain_of
from .pdu import Event, content_of, membership_of
from .redaction import redact_event
from .room_versions import EventIdFormat, RoomVersion

ED25519 = "ed25519"

KeyLookup = Callable[[str, str, int], "bytes | None"]
"""``(server_name, key_id, minimum_valid_until_ts) -> 32-byte public key or None``.

Return None for unknown keys and for keys whose ``valid_until_ts`` is below the minimum
(server-server-api.md: keys known to have expired before the event are ignored).
"""


class SigningKeyLike(Protocol):
    """Anything with a ``key_id`` like ``ed25519:abc`` and a PyNaCl ``signing_key``."""

    @property
    def key_id(self) -> str: ...

    @property
    def signing_key(self) -> nacl.signing.SigningKey: ...


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    signing_key: nacl.signing.SigningKey = field(repr=False)

    @property
    def version(self) -> str:
        return self.key_id.partition(":")[2]

    @property
    def public_key(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    @property
    def public_key_base64(self) -> str:
        return encode_base64(self.public_key)


def signing_key_from_seed(version: str, seed: bytes) -> SigningKey:
    return SigningKey(f"{ED25519}:{version}", nacl.signing.SigningKey(seed))


def generate_signing_key(version: str | None = None) -> SigningKey:
    """A new key; the default version looks like Synapse's (``a_`` and 4 letters)."""
    if version is None:
        version = "a_" + "".join(secrets.choice(string.ascii_letters) for _ in range(4))
    return SigningKey(f"{ED25519}:{version}", nacl.signing.SigningKey.generate())


def read_signing_keys(text: str) -> list[SigningKey]:
    """Parse the signing-key file format; raises ``ValueError`` on a malformed line."""
    keys = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3 or parts[0] != ED25519:
            raise ValueError(f"line {number}: expected 'ed25519 <version> <base64 seed>'")
        seed = decode_base64(parts[2])
        if len(seed) != 32:
            raise ValueError(f"line {number}: an ed25519 seed is 32 bytes")
        keys.append(signing_key_from_seed(parts[1], seed))
    return keys


def write_signing_keys(keys: Iterable[SigningKeyLike]) -> str:
    lines = []
    for key in keys:
        algorithm, _, version = key.key_id.partition(":")
        lines.append(f"{algorithm} {version} {encode_base64(bytes(key.signing_key))}\n")
    return "".join(lines)


def sign_json(
    json_object: Mapping[str, Any], signature_name: str, signing_key: SigningKeyLike
) -> dict[str, Any]:
    """A copy of ``json_object`` with this key's signature added (appendices "Signing Details")."""
    unsigned_part = {k: v for k, v in json_object.items() if k not in ("signatures", "unsigned")}
    signed = signing_key.signing_key.sign(encode_canonical_json(unsigned_part))
    signatures = {name: dict(sigs) for name, sigs in json_object.get("signatures", {}).items()}
    signatures.setdefault(signature_name, {})[signing_key.key_id] = encode_base64(signed.signature)
    result = dict(json_object)
    result["signatures"] = signatures
    return result


def verify_signed_json(
    json_object: Mapping[str, Any], signature_name: str, verify_keys: Mapping[str, bytes]
) -> None:
    """appendices.md "Checking for a Signature"; raises ``SignatureError`` if the check fails.

    ``verify_keys`` maps key IDs (``ed25519:abc``) to public keys. Signatures by keys not
    in it are ignored; at least one must remain and every remaining one must be valid.
    """
    signatures = json_object.get("signatures")
    entity_signatures = signatures.get(signature_name) if isinstance(signatures, Mapping) else None
    if not isinstance(entity_signatures, Mapping):
        raise SignatureError(f"no signatures from {signature_name}")
    checkable = {
        key_id: signature
        for key_id, signature in entity_signatures.items()
        if key_id.startswith(ED25519 + ":") and key_id in verify_keys
    }
    if not checkable:
        raise SignatureError(f"no signature from {signature_name} with a known key")
    message = encode_canonical_json(
        {k: v for k, v in json_object.items() if k not in ("signatures", "unsigned")}
    )
    for key_id, signature in checkable.items():
        try:
            verify_key = nacl.signing.VerifyKey(verify_keys[key_id])
            verify_key.verify(message, decode_base64(signature))
        except (
            nacl.exceptions.BadSignatureError,
            nacl.exceptions.ValueError,
            ValueError,
            TypeError,
        ):
            raise SignatureError(f"invalid signature from {signature_name} ({key_id})") from None


def add_hashes_and_signatures(
    room_version: RoomVersion, event: Event, signature_name: str, signing_key: SigningKeyLike
) -> dict[str, Any]:
    """server-server-api.md "Adding hashes and signatures to outgoing events"."""
    hashed = with_content_hash(event)
    signed_redacted = sign_json(redact_event(room_version, hashed), signature_name, signing_key)
    hashed["signatures"] = signed_redacted["signatures"]
    return hashed


def add_hashes_signatures_and_id(
    room_version: RoomVersion, event: Event, signature_name: str, signing_key: SigningKeyLike
) -> tuple[str, dict[str, Any]]:
    """``add_hashes_and_signatures`` and ``compute_event_id`` in one pass, for room
    versions whose event IDs are reference hashes (3 and later).

    The bytes signed (the redacted event without signatures and unsigned, as canonical
    JSON) are exactly the bytes the reference hash is taken over (server-server-api.md
    "Signing events" and "Calculating the reference hash for an event"), so they are
    built and encoded once.
    """
    if room_version.has_domain_event_ids:
        raise ValueError("room versions 1 and 2 have no reference-hash event IDs")
    hashed = with_content_hash(event)
    hashed.pop("signatures", None)
    hashed.pop("unsigned", None)
    redacted = redact_event(room_version, hashed)
    encoded = encode_canonical_json(redacted)
    signature = signing_key.signing_key.sign(encoded).signature
    hashed["signatures"] = {signature_name: {signing_key.key_id: encode_base64(signature)}}
    urlsafe = room_version.event_id_format is EventIdFormat.REFERENCE_HASH_URLSAFE
    return "$" + encode_base64(hashlib.sha256(encoded).digest(), urlsafe=urlsafe), hashed


def required_signature_servers(room_version: RoomVersion, event: Event) -> frozenset[str]:
    """The servers whose signatures an event needs (server-server-api.md "Validating hashes
    and signatures on received events").

    The sender's server, except for third-party invites (the sending server may differ);
    in room versions 1-2 also the server of the ``event_id``; from v8, for an
    m.room.member with ``join_authorised_via_users_server``, also that user's server (auth
    rule 4.2, 5.2 in v12, which applies to any membership; Synapse checks joins only).
    """
    servers = set()
    is_third_party_invite = (
        event.get("type") == MEMBER
        and membership_of(event) == INVITE
        and "third_party_invite" in content_of(event)
    )
    try:
        if not is_third_party_invite:
            servers.add(domain_of(event["sender"]))
        if room_version.has_domain_event_ids:
            servers.add(domain_of(event["event_id"]))
        authorising_user = content_of(event).get(AUTHORISING_USER)
        if (
            room_version.restricted_join_rule
            and event.get("type") == MEMBER
            and authorising_user is not None
        ):
            servers.add(domain_of(authorising_user))
    except (KeyError, ValueError, AttributeError) as e:
        raise SignatureError(f"cannot tell which servers must sign the event: {e}") from None
    return frozenset(servers)


def verify_event_signatures(room_version: RoomVersion, event: Event, lookup_key: KeyLookup) -> None:
    """Check the signatures every required server made on the redacted event."""
    redacted = redact_event(room_version, event)
    minimum_valid_until_ts = (
        event.get("origin_server_ts", 0) if room_version.enforce_key_validity else 0
    )
    signatures = event.get("signatures")
    if not isinstance(signatures, Mapping):
        raise SignatureError("event has no signatures")
    for server_name in sorted(required_signature_servers(room_version, event)):
        server_signatures = signatures.get(server_name)
        if not isinstance(server_signatures, Mapping):
            raise SignatureError(f"event is not signed by {server_name}")
        verify_keys = {}
        for key_id in server_signatures:
            public_key = lookup_key(server_name, key_id, minimum_valid_until_ts)
            if public_key is not None:
                verify_keys[key_id] = public_key
        verify_signed_json(redacted, server_name, verify_keys)


def check_signatures_and_hashes(
    room_version: RoomVersion, event: Event, lookup_key: KeyLookup
) -> dict[str, Any]:
    """Checks 2 and 3 on receipt of a PDU (server-server-api.md).

    Raises ``SignatureError`` (drop the event) if signatures fail; returns the event, or its
    redacted copy when the content hash does not match ("it is redacted before being
    processed further").
    """
    verify_event_signatures(room_version, event, lookup_key)
    if content_hash_matches(event):
        return dict(event)
    return redact_event(room_version, event)
