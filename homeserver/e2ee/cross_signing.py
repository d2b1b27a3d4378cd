"""Cross-signing: a user's master, self-signing and user-signing keys, and the
signatures made with them (spec: client-server-api "Cross-signing",
``POST /keys/device_signing/upload`` and ``POST /keys/signatures/upload``).

Uploading keys needs user-interactive auth (the route runs it) unless the user has no
master key yet or every key sent is the one already stored (spec v1.11), which keeps a
lost response's retry from meeting a challenge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeserver.e2ee import checks
from homeserver.errors import MatrixError, bad_json, forbidden, missing_param
from homeserver.events.canonical import decode_base64
from homeserver.events.signing import ED25519
from homeserver.identifiers import split_user_id
from homeserver.server import HomeServer
from homeserver.storage import cross_signing as store
from homeserver.storage import e2e_keys as key_store
from homeserver.storage.cross_signing import MASTER, SELF_SIGNING, USER_SIGNING, CrossSigningKey, Signature
from homeserver.streams import Stream
from homeserver.streams.device_lists import announce

FIELDS = {MASTER: "master_key", SELF_SIGNING: "self_signing_key", USER_SIGNING: "user_signing_key"}
# Signatures checked in one /keys/signatures/upload (each costs an ed25519 verification).
MAX_SIGNATURES_PER_UPLOAD = 100


def parse_keys(user_id: str, body: Mapping[str, Any]) -> dict[str, CrossSigningKey]:
    """The cross-signing keys in a device_signing/upload body, by type, each checked."""
    keys = {}
    for key_type, name in FIELDS.items():
        raw = body.get(name)
        if raw is None:
            continue
        public_key = checks.check_cross_signing_key(raw, user_id, key_type, name)
        keys[key_type] = CrossSigningKey(user_id, key_type, public_key, {k: v for k, v in raw.items() if k != "unsigned"})
    return keys


async def requires_auth(hs: HomeServer, user_id: str, keys: Mapping[str, CrossSigningKey]) -> bool:
    stored = {k.key_type: k for k in await store.get_keys(hs.db.pool, [user_id])}
    return _requires_auth(stored, keys)


def _requires_auth(stored: Mapping[str, CrossSigningKey], keys: Mapping[str, CrossSigningKey]) -> bool:
    return MASTER in stored and not _all_stored(stored, keys)


def _all_stored(stored: Mapping[str, CrossSigningKey], keys: Mapping[str, CrossSigningKey]) -> bool:
    return all(t in stored and stored[t].key_json == k.key_json for t, k in keys.items())


async def upload_keys(hs: HomeServer, user_id: str, keys: dict[str, CrossSigningKey], authenticated: bool) -> None:
    """Store new cross-signing keys: the self-signing and user-signing keys must be signed
    by the master key sent with them, or else by the stored one."""
    async with hs.feed.writing(Stream.DEVICE_LISTS) as writer, hs.db.transaction() as conn:
        stored = await store.lock_keys(conn, user_id)
        if _all_stored(stored, keys):
            return  # a retry, or nothing sent
        if not authenticated and _requires_auth(stored, keys):
            raise MatrixError(400, "M_UNKNOWN", "The cross-signing keys changed meanwhile; try again")
        master = keys.get(MASTER) or stored.get(MASTER)
        for key_type in (SELF_SIGNING, USER_SIGNING):
            if key_type in keys:
                if master is None:
                    raise missing_param("master_key (no master signing key is available)")
                checks.verify(keys[key_type].key_json, user_id, f"{ED25519}:{master.public_key}",
                              decode_base64(master.public_key), FIELDS[key_type])
        if await key_store.devices_named(conn, user_id, [k.public_key for k in keys.values()]):
            raise forbidden("Key ID in use: a cross-signing public key is the ID of one of your devices")
        changed = [k for t, k in keys.items() if t not in stored or stored[t].key_json != k.key_json]
        await store.set_keys(conn, changed)
        if any(k.key_type != USER_SIGNING for k in changed):
            await announce(writer, conn, user_id)
        else:  # only the user may see their user-signing key
            await announce(writer, conn, user_id, observer=user_id)


# -- signatures -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    """A key to add signatures to: what it must look like, and whose keys may sign it."""

    key_json: dict[str, Any]
    signers: dict[str, bytes]  # key ID -> public key
    what: str


def check_signatures_body(body: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    for user_id, keys in body.items():
        split_user_id(user_id)
        if not isinstance(keys, dict) or not all(isinstance(k, dict) for k in keys.values()):
            raise bad_json("The body maps user IDs to objects of key IDs and signed keys")
        for key in keys.values():
            checks.check_signatures_shape(key, "signed key")
    return dict(body)


async def upload_signatures(
    hs: HomeServer, user_id: str, body: dict[str, dict[str, dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    """Verify and store each signature the user made; return the failures per key."""
    total = sum(len(k.get("signatures", {}).get(user_id, {})) for keys in body.values() for k in keys.values())
    if total > MAX_SIGNATURES_PER_UPLOAD:
        raise checks.too_large(f"At most {MAX_SIGNATURES_PER_UPLOAD} signatures per upload")
    failures: dict[str, dict[str, Any]] = {}
    accepted: list[Signature] = []
    targets = await _targets(hs, user_id, body)
    for target_user, keys in body.items():
        for key_id, signed in keys.items():
            target = targets.get((target_user, key_id))
            try:
                if target is None:
                    raise _unknown_key(target_user, key_id)
                accepted += _check_signed(user_id, target_user, key_id, signed, target)
            except MatrixError as e:
                failures.setdefault(target_user, {})[key_id] = {"errcode": e.errcode, "error": e.message}
    if accepted:
        await _store_signatures(hs, user_id, accepted)
    return failures


async def _targets(hs: HomeServer, user_id: str, body: Mapping[str, Mapping[str, Any]]) -> dict[tuple[str, str], _Target]:
    """The keys named in the body that the user may sign: their own devices (with their
    self-signing key), their own master key (with their devices), and other local users'
    master keys (with their user-signing key)."""
    others = [u for u in body if u != user_id and hs.is_mine(u)]
    async with hs.db.pool.acquire() as conn:
        own = {k.key_type: k for k in await store.get_keys(conn, [user_id])}
        masters = {k.user_id: k for k in await store.get_keys(conn, others, [MASTER])} if others else {}
        devices = await key_store.query_device_keys(conn, {user_id: []}) if user_id in body else []
    targets: dict[tuple[str, str], _Target] = {}
    if SELF_SIGNING in own:
        for device in devices:
            targets[(user_id, device.device_id)] = _Target(device.key_json, _signer(own[SELF_SIGNING]),
                                                           f"device {device.device_id}")
    if MASTER in own:
        signers = {}
        for device in devices:
            key_id = f"{ED25519}:{device.device_id}"
            signers[key_id] = checks.ed25519_key(device.key_json["keys"].get(key_id), "a device key")
        targets[(user_id, own[MASTER].public_key)] = _Target(own[MASTER].key_json, signers, "your master key")
    if USER_SIGNING in own:
        for other, master in masters.items():
            targets[(other, master.public_key)] = _Target(master.key_json, _signer(own[USER_SIGNING]),
                                                          f"{other}'s master key")
    return targets


def _signer(key: CrossSigningKey) -> dict[str, bytes]:
    return {f"{ED25519}:{key.public_key}": decode_base64(key.public_key)}


def _unknown_key(target_user: str, key_id: str) -> MatrixError:
    return MatrixError(404, "M_NOT_FOUND", f"No key {key_id} of {target_user} that you may sign")


def _check_signed(
    user_id: str, target_user: str, key_id: str, signed: dict[str, Any], target: _Target
) -> list[Signature]:
    """The new signatures on one key: the object must be the stored key, and each
    signature by a key allowed to sign it must be valid."""
    def bare(key: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in key.items() if k not in ("signatures", "unsigned")}

    if bare(signed) != bare(target.key_json):
        raise MatrixError(400, "M_INVALID_PARAM", f"The signed object is not {target.what} as stored")
    known = target.key_json.get("signatures", {}).get(user_id, {})
    new = {k: s for k, s in signed.get("signatures", {}).get(user_id, {}).items() if k in target.signers and known.get(k) != s}
    if not new:
        raise checks.invalid_signature(f"No new signature on {target.what} by a key allowed to sign it")
    for signer_key_id in new:
        checks.verify({**signed, "signatures": {user_id: {signer_key_id: new[signer_key_id]}}}, user_id,
                      signer_key_id, target.signers[signer_key_id], target.what)
    return [Signature(target_user, key_id, user_id, k, s) for k, s in new.items()]


async def _store_signatures(hs: HomeServer, user_id: str, signatures: list[Signature]) -> None:
    async with hs.feed.writing(Stream.DEVICE_LISTS) as writer, hs.db.transaction() as conn:
        await store.add_signatures(conn, signatures)
        for target_user in sorted({s.target_user_id for s in signatures}):
            await announce(writer, conn, target_user, observer=None if target_user == user_id else user_id)
