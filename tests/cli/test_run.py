"""``homeserver run`` as a real process on the embedded PostgreSQL: it serves, stops
cleanly on SIGTERM, and what it stored survives a restart."""

from __future__ import annotations

import json
import os
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
    """``homeserver run``, its output appended to server.log beside the config (a pipe
    nobody reads would fill and block the server)."""
    with open(config.parent / "server.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cli.main", "run", "--config", str(config)],
                                stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, _log(config)
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


def _init(tmp_path: Path) -> tuple[Path, str]:
    port = _free_port()
    result = CliRunner().invoke(main, ["init", "--data-dir", str(tmp_path / "data"), "--server-name", "run.test",
                                       "--port", str(port)])
    assert result.exit_code == 0, result.output
    config = Path(result.output.strip())
    config.write_text(config.read_text() + "auth: {password_hash: {time_cost: 1, memory_cost_kib: 64, parallelism: 1}}\n"
                      "rate_limits: {enabled: false}\n")
    return config, f"http://127.0.0.1:{port}"


def _log(config: Path) -> str:
    return (config.parent / "server.log").read_text()


def _postmaster(tmp_path: Path) -> int:
    return int((tmp_path / "data" / "postgres" / "postmaster.pid").read_text().split("\n", 1)[0])


def _gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


LOGIN = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "persist"},
         "password": "correct horse battery"}


def _register(base: str) -> None:
    status, body = _call(base + "/_matrix/client/v3/register", {
        "username": "persist", "password": "correct horse battery", "auth": {"type": "m.login.dummy"}})
    assert status == 200, body


def _login_with_headers(base: str) -> tuple[int, dict, str | None]:
    request = urllib.request.Request(base + "/_matrix/client/v3/login", data=json.dumps(LOGIN).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), resp.headers.get("Retry-After")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), e.headers.get("Retry-After")


def test_a_killed_embedded_postgres_is_restarted_and_never_a_500(tmp_path: Path) -> None:
    config, base = _init(tmp_path)
    proc = _start(config, base)
    seen = []
    try:
        _register(base)
        first = _postmaster(tmp_path)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, body, retry_after = _login_with_headers(base)
            seen.append(status)
            if status == 503:
                assert body["errcode"] == "M_UNKNOWN" and retry_after is not None and int(retry_after) > 0
            if status == 200 and _postmaster(tmp_path) != first and "restarted" in _log(config):
                break
            time.sleep(0.1)
    finally:
        _stop(proc)
    log = _log(config)
    assert set(seen) <= {200, 503} and seen[-1] == 200, (seen, log)
    assert "stopped unexpectedly" in log and "restarted" in log, log


def test_a_restart_right_after_a_crash_and_a_clean_stop_after_it(tmp_path: Path) -> None:
    """Server and postmaster killed together, the server started again at once (the dead
    postmaster may still be a zombie): it serves; then the first clean stop also stops a
    postmaster an earlier, killed run left behind."""
    config, base = _init(tmp_path)
    proc = _start(config, base)
    _register(base)
    postmaster = _postmaster(tmp_path)
    proc.kill()
    os.kill(postmaster, signal.SIGKILL)
    proc.wait()

    proc = _start(config, base)
    try:
        assert _login_with_headers(base)[0] == 200
    finally:
        proc.kill()  # the second postmaster survives this run
        proc.wait()
    survivor = _postmaster(tmp_path)
    assert not _gone(survivor)

    proc = _start(config, base)
    try:
        assert _login_with_headers(base)[0] == 200
    finally:
        _stop(proc)
    assert _gone(survivor), "the clean stop stopped the postmaster left by the killed run"
