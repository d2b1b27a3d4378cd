"""Real ed25519 keys for tests: a device's identity keys, signed one-time and fallback
keys, and cross-signing keys, signed as a client would (appendices "Signing JSON")."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

import nacl.signing

from homeserver.events.canonical import encode_base64
from homeserver.events.signing import SigningKey, sign_json
from tests.helpers import Response, User


def _curve25519() -> str:
    return encode_base64(os.urandom(32))


@dataclass
class DeviceKeys:
    """A device's keys: ``device_keys()`` and ``one_time_keys(n)`` are what /keys/upload takes."""

    user_id: str
    device_id: str
    signing: SigningKey = field(init=False)
    curve25519: str = field(default_factory=_curve25519)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.signing = SigningKey(f"ed25519:{self.device_id}", nacl.signing.SigningKey.generate())

    @classmethod
    def of(cls, user: User) -> DeviceKeys:
        return cls(user.user_id, user.device_id)

    def sign(self, obj: dict[str, Any]) -> dict[str, Any]:
        return sign_json(obj, self.user_id, self.signing)

    def device_keys(self, **changes: Any) -> dict[str, Any]:
        unsigned = {
            "user_id": self.user_id, "device_id": self.device_id,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": {f"curve25519:{self.device_id}": self.curve25519,
                     f"ed25519:{self.device_id}": self.signing.public_key_base64},
        }
        return self.sign({**unsigned, **changes})

    def one_time_keys(self, count: int, *, fallback: bool = False) -> dict[str, Any]:
        out = {}
        for _ in range(count):
            key: dict[str, Any] = {"key": _curve25519()}
            if fallback:
                key["fallback"] = True
            out[f"signed_curve25519:AAAA{next(self._ids):04d}"] = self.sign(key)
        return out

    async def upload(self, user: User, one_time: int = 0, fallback: bool = False) -> Response:
        body: dict[str, Any] = {"device_keys": self.device_keys(), "one_time_keys": self.one_time_keys(one_time)}
        if fallback:
            body["fallback_keys"] = self.one_time_keys(1, fallback=True)
        return await user.post("keys/upload", body)


@dataclass
class CrossSigning:
    """A user's master, self-signing and user-signing keys."""

    user_id: str
    master: SigningKey = field(init=False)
    self_signing: SigningKey = field(init=False)
    user_signing: SigningKey = field(init=False)

    def __post_init__(self) -> None:
        for name in ("master", "self_signing", "user_signing"):
            key = nacl.signing.SigningKey.generate()
            public = encode_base64(bytes(key.verify_key))
            setattr(self, name, SigningKey(f"ed25519:{public}", key))

    def key(self, usage: str) -> dict[str, Any]:
        key = getattr(self, usage)
        body = {"user_id": self.user_id, "usage": [usage], "keys": {key.key_id: key.public_key_base64}}
        return body if usage == "master" else sign_json(body, self.user_id, self.master)

    def upload_body(self) -> dict[str, Any]:
        return {"master_key": self.key("master"), "self_signing_key": self.key("self_signing"),
                "user_signing_key": self.key("user_signing")}

    def sign(self, usage: str, obj: dict[str, Any]) -> dict[str, Any]:
        return sign_json({k: v for k, v in obj.items() if k != "unsigned"}, self.user_id, getattr(self, usage))
