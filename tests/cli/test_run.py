"""``homeserver run`` as a real process on the embedded PostgreSQL: it serves, stops
cleanly on SIGTERM, and what it stored survives a restart."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from cli.main import main


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _start(config: Path, base: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "run", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            if _call(base + "/_matrix/client/versions")[0] == 200:
                return proc
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not start")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def test_run_serves_on_embedded_postgres_and_keeps_data(tmp_path: Path) -> None:
    port = _free_port()
    result = CliRunner().invoke(main, ["init", "--data-dir", str(tmp_path / "data"), "--server-name", "run.test",
                                       "--port", str(port)])
    assert result.exit_code == 0, result.output
    config = Path(result.output.strip())
    config.write_text(config.read_text() + "auth: {password_hash: {time_cost: 1, memory_cost_kib: 64, parallelism: 1}}\n")
    base = f"http://127.0.0.1:{port}"

    proc = _start(config, base)
    try:
        status, body = _call(base + "/_matrix/client/v3/register",
                             {"username": "persist", "password": "correct horse battery",
                              "auth": {"type": "m.login.dummy"}})
        assert status == 200, body
    finally:
        _stop(proc)
    assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()

    proc = _start(config, base)
    try:
        status, body = _call(base + "/_matrix/client/v3/login", {
            "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "persist"},
            "password": "correct horse battery"})
        assert status == 200 and body["user_id"] == "@persist:run.test"
    finally:
        _stop(proc)
