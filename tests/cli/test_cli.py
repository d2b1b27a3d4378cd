"""The ``homeserver`` command through click's CliRunner."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from cli.main import main
from homeserver.config import load_config


def test_init_writes_config_key_and_secret_and_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "data"
    result = runner.invoke(main, ["init", "--data-dir", str(data), "--server-name", "chat.example.org",
                                  "--port", "8448", "--bind", "0.0.0.0"])
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip())
    assert path == data / "homeserver.yaml"
    config = load_config(path)
    assert config.server.server_name == "chat.example.org"
    assert config.server.listeners[0].port == 8448
    assert config.registration.shared_secret and len(config.registration.shared_secret) >= 32
    assert (data / "signing.key").read_text().startswith("ed25519 ")
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    again = runner.invoke(main, ["init", "--data-dir", str(data), "--server-name", "other.org"])
    assert again.exit_code != 0 and "refusing to overwrite" in again.output
    assert load_config(path).server.server_name == "chat.example.org"


def test_check_config_names_the_bad_key(tmp_path: Path) -> None:
    path = tmp_path / "homeserver.yaml"
    path.write_text(yaml.safe_dump({"server": {"server_name": "x.org", "listners": []}}))
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exit_code != 0
    assert "server.listners: unknown key" in result.output

    path.write_text(yaml.safe_dump({"server": {"server_name": "x.org", "listeners": [{"port": 70000}]}}))
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exit_code != 0 and "server.listeners[0].port" in result.output

    path.write_text(yaml.safe_dump({"server": {"server_name": "x.org"}, "database": {"url": "postgresql://h/db"}}))
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exit_code == 0 and "ok: x.org" in result.output


def test_migrate_and_create_user_on_a_database(tmp_path: Path, database_url: str) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["init", "--data-dir", str(tmp_path), "--server-name", "cli.test",
                                  "--database-url", database_url])
    assert result.exit_code == 0, result.output
    config = str(tmp_path / "homeserver.yaml")
    result = runner.invoke(main, ["migrate", "--config", config])
    assert result.exit_code == 0 and "applied 0 migration(s)" in result.output
    result = runner.invoke(main, ["admin", "create-user", "--config", config, "root",
                                  "--password", "a long admin password", "--admin"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "@root:cli.test"
    result = runner.invoke(main, ["admin", "create-user", "--config", config, "root", "--password", "another pw!"])
    assert result.exit_code != 0 and "already taken" in result.output
