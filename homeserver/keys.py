"""The server's ed25519 signing key, in the file format Synapse uses:
one line ``ed25519 <key_id> <unpadded base64 seed>``.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey


@dataclass(frozen=True)
class ServerKey:
    key_id: str  # "ed25519:abc123"
    signing_key: SigningKey

    @property
    def verify_key_base64(self) -> str:
        return base64.b64encode(bytes(self.signing_key.verify_key)).decode().rstrip("=")


def generate() -> ServerKey:
    return ServerKey("ed25519:" + secrets.token_hex(3), SigningKey.generate())


def write(key: ServerKey, path: Path) -> None:
    seed = base64.b64encode(bytes(key.signing_key)).decode().rstrip("=")
    algorithm, version = key.key_id.split(":", 1)
    path.write_text(f"{algorithm} {version} {seed}\n")
    path.chmod(0o600)


def read(path: Path) -> ServerKey:
    algorithm, version, seed = path.read_text().split()
    if algorithm != "ed25519":
        raise ValueError(f"{path}: unsupported key algorithm {algorithm!r}")
    seed_bytes = base64.b64decode(seed + "=" * (-len(seed) % 4))
    return ServerKey(f"{algorithm}:{version}", SigningKey(seed_bytes))


def load_or_create(path: Path) -> ServerKey:
    if path.exists():
        return read(path)
    key = generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    write(key, path)
    return key
