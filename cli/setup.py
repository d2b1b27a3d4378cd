"""Writing a fresh data directory: config, signing key, secrets."""

from __future__ import annotations

import secrets
from pathlib import Path

import click
import yaml

from homeserver import keys
from homeserver.config import Config, ConfigError, load_config, parse_config

DEFAULT_CONFIG = Path("data/homeserver.yaml")

_HEADER = """\
# Homeserver configuration. Every key, with its meaning and default, is documented in
# config.example.yaml at the top of the source tree. Relative paths are relative to
# this file's directory.
"""


def write_config(data_dir: Path, server_name: str, port: int, bind: str, database_url: str | None) -> Path:
    path = data_dir / "homeserver.yaml"
    if path.exists():
        raise FileExistsError(str(path))
    raw = {
        "server": {
            "server_name": server_name,
            "listeners": [{"bind": bind, "port": port}],
            "signing_key_path": "signing.key",
        },
        "database": {"url": database_url} if database_url else {"embedded_dir": "postgres"},
        "registration": {"enabled": True, "shared_secret": secrets.token_urlsafe(32)},
    }
    parse_config(raw)  # refuse to write what could not be served
    data_dir.mkdir(parents=True, exist_ok=True)
    key_path = data_dir / "signing.key"
    if not key_path.exists():
        keys.write(keys.generate(), key_path)
    path.write_text(_HEADER + yaml.safe_dump(raw, sort_keys=False))
    path.chmod(0o600)
    return path


def load_or_fail(path: Path) -> Config:
    """Load a config, or stop the command with the config error's message."""
    try:
        return load_config(path)
    except ConfigError as e:
        raise click.ClickException(f"invalid config {path}: {e}") from None
