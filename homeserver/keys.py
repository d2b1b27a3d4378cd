"""The server's ed25519 signing key file, in the format Synapse uses
(``ed25519 <version> <unpadded base64 seed>``); parsing lives in ``events.signing``."""

from __future__ import annotations

from pathlib import Path

from homeserver.events.signing import SigningKey, generate_signing_key, read_signing_keys, write_signing_keys

ServerKey = SigningKey


def generate() -> SigningKey:
    return generate_signing_key()


def write(key: SigningKey, path: Path) -> None:
    path.write_text(write_signing_keys([key]))
    path.chmod(0o600)


def read(path: Path) -> SigningKey:
    keys = read_signing_keys(path.read_text())
    if not keys:
        raise ValueError(f"{path}: no signing key")
    return keys[0]


def load_or_create(path: Path) -> SigningKey:
    if path.exists():
        return read(path)
    key = generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    write(key, path)
    return key
