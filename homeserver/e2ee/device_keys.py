"""Device keys: upload, query and claim (spec: client-server-api "Key management API").

``query_local`` and ``claim_local`` answer for this server's users only; ``query`` and
``claim`` split a client's request by server and are where the users of other servers
will be asked over federation (``user/keys/query`` and ``user/keys/claim`` answer a
remote server with ``query_local`` and ``claim_local``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from homeserver.e2ee import checks
from homeserver.errors import bad_json
from homeserver.identifiers import split_user_id
from homeserver.server import HomeServer
from homeserver.storage import cross_signing as cross_store
from homeserver.storage import device_lists as device_list_store
from homeserver.storage import e2e_keys as store
from homeserver.streams import Stream
from homeserver.streams.device_lists import announce

# vodozemac keeps 50 one-time keys and uploads at most that many at once.
MAX_ONE_TIME_KEYS_PER_UPLOAD = 100
MAX_ONE_TIME_KEYS_PER_DEVICE = 1_000
MAX_FALLBACK_KEYS_PER_UPLOAD = 8


@dataclass(frozen=True, slots=True)
class Upload:
    device_keys: dict[str, Any] | None
    one_time_keys: dict[str, Any]
    fallback_keys: dict[str, Any]


async def upload(hs: HomeServer, user_id: str, device_id: str, request: Upload) -> dict[str, int]:
    """Store the device's keys, after checking all of them; return the one-time key counts."""
    if len(request.one_time_keys) > MAX_ONE_TIME_KEYS_PER_UPLOAD:
        raise checks.too_large(f"At most {MAX_ONE_TIME_KEYS_PER_UPLOAD} one-time keys per upload")
    if len(request.fallback_keys) > MAX_FALLBACK_KEYS_PER_UPLOAD:
        raise checks.too_large(f"At most {MAX_FALLBACK_KEYS_PER_UPLOAD} fallback keys per upload")
    device_keys, signing_key = None, None
    if request.device_keys is not None:
        device_keys, signing_key = checks.check_device_keys(request.device_keys, user_id, device_id)
    elif request.one_time_keys or request.fallback_keys:
        stored = await store.get_device_keys(hs.db.pool, user_id, device_id)
        signing_key = _signing_key(stored, device_id)
    one_time = _keys(request.one_time_keys, user_id, device_id, signing_key, "one_time_keys")
    fallback = _keys(request.fallback_keys, user_id, device_id, signing_key, "fallback_keys")
    if len({k.algorithm for k in fallback}) != len(fallback):
        raise bad_json("fallback_keys: at most one key per algorithm")
    async with hs.feed.writing(Stream.DEVICE_LISTS) as writer, hs.db.transaction() as conn:
        if one_time:
            await _add_one_time_keys(conn, user_id, device_id, one_time)
        if fallback:
            await store.set_fallback_keys(conn, fallback)
        if device_keys is not None and await store.set_device_keys(conn, user_id, device_id, device_keys):
            await announce(writer, conn, user_id)
        return await store.count_one_time_keys(conn, user_id, device_id)


def _signing_key(device_keys: Mapping[str, Any] | None, device_id: str) -> bytes | None:
    if device_keys is None:
        return None
    return checks.ed25519_key(device_keys.get("keys", {}).get(f"ed25519:{device_id}"), "the stored device key")


def _keys(
    raw: dict[str, Any], user_id: str, device_id: str, signing_key: bytes | None, what: str
) -> list[store.OneTimeKey]:
    out = []
    for name, key in raw.items():
        checks.check_one_time_key(name, key, user_id, device_id, signing_key, what)
        out.append(store.OneTimeKey(user_id, device_id, name.partition(":")[0], name, key))
    return out


async def _add_one_time_keys(conn: Any, user_id: str, device_id: str, keys: list[store.OneTimeKey]) -> None:
    """A key ID uploaded again must name the same key (spec: the server keeps the first);
    a device keeps at most MAX_ONE_TIME_KEYS_PER_DEVICE unclaimed keys."""
    existing = await store.existing_one_time_keys(conn, user_id, device_id, [k.key_id for k in keys])
    for key in keys:
        if key.key_id in existing and existing[key.key_id] != key.key_json:
            raise bad_json(f"One-time key {key.key_id} was uploaded before with different contents")
    stored = sum((await store.count_one_time_keys(conn, user_id, device_id)).values())
    if stored + len(keys) - len(existing) > MAX_ONE_TIME_KEYS_PER_DEVICE:
        raise checks.too_large(f"A device keeps at most {MAX_ONE_TIME_KEYS_PER_DEVICE} unclaimed one-time keys")
    await store.add_one_time_keys(conn, keys)


# -- query ----------------------------------------------------------------------------


@dataclass
class QueryResult:
    """The body of a /keys/query response (and of the federation user/keys/query)."""

    device_keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    master_keys: dict[str, Any] = field(default_factory=dict)
    self_signing_keys: dict[str, Any] = field(default_factory=dict)
    user_signing_keys: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"device_keys": self.device_keys, "master_keys": self.master_keys,
                "self_signing_keys": self.self_signing_keys, "user_signing_keys": self.user_signing_keys,
                "failures": self.failures}


def check_query(device_keys: Any) -> dict[str, list[str]]:
    """``device_keys`` of a /keys/query: user ID -> device IDs (empty: all)."""
    if not isinstance(device_keys, dict):
        raise bad_json("'device_keys' must map user IDs to arrays of device IDs")
    for user_id, device_ids in device_keys.items():
        split_user_id(user_id)
        if not isinstance(device_ids, list) or not all(isinstance(d, str) for d in device_ids):
            raise bad_json("'device_keys' must map user IDs to arrays of device IDs")
    return device_keys


async def query(hs: HomeServer, reader: str, wanted: dict[str, list[str]]) -> QueryResult:
    local = {u: d for u, d in wanted.items() if hs.is_mine(u)}
    result = await query_local(hs, local, reader)
    for user_id in wanted.keys() - local.keys():
        # TODO(federation): POST /_matrix/federation/v1/user/keys/query on the user's server.
        result.failures[split_user_id(user_id)[1]] = _unreachable()
    return result


async def query_local(hs: HomeServer, wanted: Mapping[str, Sequence[str]], reader: str | None) -> QueryResult:
    """The keys of local users' devices and their cross-signing keys, with the
    signatures ``reader`` may see (None: another server asking). A user's user-signing
    key is shown to that user only."""
    result = QueryResult()
    if not wanted:
        return result
    users = list(wanted)
    async with hs.db.pool.acquire() as conn:
        devices = await store.query_device_keys(conn, dict(wanted))
        types = cross_store.KEY_TYPES if reader in wanted else (cross_store.MASTER, cross_store.SELF_SIGNING)
        cross = [k for k in await cross_store.get_keys(conn, users, types)
                 if k.key_type != cross_store.USER_SIGNING or k.user_id == reader]
        signatures = await cross_store.visible_signatures(conn, users, reader)
    extra: dict[tuple[str, str], list[cross_store.Signature]] = {}
    for s in signatures:
        extra.setdefault((s.target_user_id, s.target_key_id), []).append(s)
    for user_id in users:
        result.device_keys[user_id] = {}
    for device in devices:
        keys = _with_signatures(device.key_json, extra.get((device.user_id, device.device_id), ()))
        if device.display_name is not None:
            keys["unsigned"] = {"device_display_name": device.display_name}
        result.device_keys[device.user_id][device.device_id] = keys
    out = {cross_store.MASTER: result.master_keys, cross_store.SELF_SIGNING: result.self_signing_keys,
           cross_store.USER_SIGNING: result.user_signing_keys}
    for key in cross:
        out[key.key_type][key.user_id] = _with_signatures(key.key_json, extra.get((key.user_id, key.public_key), ()))
    return result


def _with_signatures(key_json: dict[str, Any], signatures: Sequence[cross_store.Signature]) -> dict[str, Any]:
    if not signatures:
        return dict(key_json)
    merged = {user: dict(sigs) for user, sigs in key_json.get("signatures", {}).items()}
    for s in signatures:
        merged.setdefault(s.signer_user_id, {})[s.signer_key_id] = s.signature
    return {**key_json, "signatures": merged}


def _unreachable() -> dict[str, Any]:
    return {"status": 503, "message": "Federation is not available yet"}


# -- claim ----------------------------------------------------------------------------


def check_claim(one_time_keys: Any) -> dict[str, dict[str, str]]:
    """``one_time_keys`` of a /keys/claim: user ID -> device ID -> algorithm."""
    if not isinstance(one_time_keys, dict):
        raise bad_json("'one_time_keys' must map user IDs to objects of device IDs and algorithms")
    for user_id, devices in one_time_keys.items():
        split_user_id(user_id)
        if not isinstance(devices, dict) or not all(isinstance(a, str) for a in devices.values()):
            raise bad_json("'one_time_keys' must map user IDs to objects of device IDs and algorithms")
    return one_time_keys


async def claim(hs: HomeServer, wanted: dict[str, dict[str, str]]) -> dict[str, Any]:
    local = {u: d for u, d in wanted.items() if hs.is_mine(u)}
    failures = {}
    for user_id in wanted.keys() - local.keys():
        # TODO(federation): POST /_matrix/federation/v1/user/keys/claim on the user's server.
        failures[split_user_id(user_id)[1]] = _unreachable()
    return {"one_time_keys": await claim_local(hs, local), "failures": failures}


async def claim_local(hs: HomeServer, wanted: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, Any]]:
    """One key for each (local user, device, algorithm): a one-time key, handed out only
    this once, or else the device's fallback key."""
    rows = [(u, d, a) for u, devices in wanted.items() for d, a in devices.items()]
    if not rows:
        return {}
    async with hs.db.transaction() as conn:
        claimed = await store.claim_keys(conn, rows)
    out: dict[str, dict[str, Any]] = {}
    for key in claimed:
        out.setdefault(key.user_id, {})[key.device_id] = {key.key_id: key.key_json}
    return out


# -- changes --------------------------------------------------------------------------


async def changes(
    hs: HomeServer, user_id: str, since: Sequence[int], to: Sequence[int]
) -> device_list_store.DeviceListChanges:
    """GET /keys/changes: who changed keys, or started or stopped sharing an encrypted
    room with the user, between two /sync tokens' positions (by stream)."""
    def window(stream: Stream) -> tuple[int, int]:
        return since[stream], min(to[stream], hs.feed.readable(stream))

    return await device_list_store.changes(
        hs.db.pool, user_id, window(Stream.DEVICE_LISTS), window(Stream.EVENTS)
    )
