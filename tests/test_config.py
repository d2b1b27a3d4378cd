"""Config parsing: strict, with messages that name the key."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest
import yaml

from homeserver.config import Config, ConfigError, parse_config

EXAMPLE = Path(__file__).parent.parent / "config.example.yaml"


def _keys(cls: type, prefix: str = "") -> set[str]:
    out = set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name == "data_dir":
            continue
        hint = hints[f.name]
        inner = [a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)]
        target = hint if dataclasses.is_dataclass(hint) else (inner[0] if inner else None)
        out.add(prefix + f.name)
        if target is not None and typing.get_origin(hint) is not tuple:
            out |= _keys(target, f"{prefix}{f.name}.")
    return out


def _yaml_keys(raw: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in raw.items():
        out.add(prefix + key)
        if isinstance(value, dict) and key != "policies":
            out |= _yaml_keys(value, f"{prefix}{key}.")
    return out


def test_example_config_parses_and_documents_every_key() -> None:
    raw = yaml.safe_load(EXAMPLE.read_text())
    assert parse_config(raw) == dataclasses.replace(Config(), data_dir=".")
    documented = _yaml_keys(raw) | {f"registration.terms.{k}" for k in ("version", "policies")}
    assert _keys(Config) <= documented, sorted(_keys(Config) - documented)


def test_acknowledged_writes_survive_power_loss_by_default() -> None:
    assert parse_config({}).database.synchronous_commit is True


@pytest.mark.parametrize("raw, message", [
    ({"serverr": {}}, "serverr: unknown key"),
    ({"server": {"server_name": "bad name!"}}, "server.server_name"),
    ({"server": {"listeners": [{"port": 0}]}}, "server.listeners[0].port"),
    ({"server": {"listeners": [{"tls_certificate_path": "a.pem"}]}}, "tls_private_key_path"),
    ({"database": {"pool_min_size": 5, "pool_max_size": 2}}, "database.pool_min_size"),
    ({"registration": {"enabled": "yes"}}, "registration.enabled: expected true or false"),
    ({"auth": {"password_hash": {"time_cost": -1}}}, "auth.password_hash.time_cost"),
    ({"rate_limits": {"login": {"per_second": 0}}}, "rate_limits.login.per_second"),
    ({"user_directory": []}, "user_directory: expected a mapping"),
    ({"registration": {"terms": {"policies": {"tos": 5}}}}, "registration.terms.policies.tos"),
    ({"media": {"max_upload_bytes": 0}}, "media.max_upload_bytes: expected a positive integer"),
    ({"media": {"freeze_unauthenticated_media": "no"}}, "media.freeze_unauthenticated_media"),
    ({"media": {"url_preview": {"allowed_ip_ranges": ["10.0.0.0/33"]}}}, "media.url_preview.allowed_ip_ranges[0]"),
    ({"server": {"trusted_proxies": ["nginx"]}}, "server.trusted_proxies[0]: not an IP address or range"),
])
def test_bad_values_are_refused_naming_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(raw)
