"""Fuzz the client-server API with schemathesis, over the spec's OpenAPI files, against a
real ``homeserver run`` on a fresh embedded database. Run by hand (not part of the tests):

    .venv/bin/pip install -e '.[fuzz]'
    .venv/bin/python tools/fuzz/fuzz_client_server.py [--examples 50] [--only login,room_send]

Each spec file is one schemathesis run, authenticated as a registered user (and with a
room of theirs to aim at); operations that would end that session or destroy the account
are skipped. A run fails on any 5xx (``not_a_server_error``) or an error answer that is
not a Matrix error (tools/fuzz/matrix_checks.py). Prints one line per file and a total.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._server import running_server  # noqa: E402

SPEC = ROOT.parent.parent / "shared" / "matrix-spec" / "data" / "api" / "client-server"
# They end the session the fuzzer runs as, or the account itself.
DESTRUCTIVE = (
    "logout", "logout_all", "deactivateAccount", "changePassword", "deleteDevice", "deleteDevices",
)


def _spec_dir(given: str | None) -> Path:
    for candidate in (Path(given) if given else None, SPEC, ROOT.parent / "shared" / "matrix-spec" / "data" / "api"
                      / "client-server"):
        if candidate is not None and candidate.is_dir():
            return candidate
    raise SystemExit("the spec's data/api/client-server directory was not found; pass --spec")


def fuzz_file(
    path: Path, origin: str, token: str, examples: int, report_dir: Path, known: dict[str, str]
) -> tuple[int, str]:
    command = [
        str(Path(sys.executable).parent / "schemathesis"), "run", str(path), "--origin", origin,
        "-H", f"Authorization: Bearer {token}",
        "--checks", "not_a_server_error,matrix_error_body",
        "--max-examples", str(examples), "--workers", "1", "--no-shrink",
        "--phases", "examples,coverage,fuzzing", "--request-timeout", "30",
        "--suppress-health-check", "all", "--warnings", "off",
        "--report", "ndjson", "--report-dir", str(report_dir / path.stem),
    ]
    for operation in DESTRUCTIVE:
        command += ["--exclude-operation-id", operation]
    env = {**os.environ, **known, "SCHEMATHESIS_HOOKS": "matrix_checks", "PYTHONPATH": str(Path(__file__).parent)}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=path.parent)
    return result.returncode, result.stdout + result.stderr


async def main(args: argparse.Namespace) -> int:
    spec = _spec_dir(args.spec)
    files = sorted(p for p in spec.glob("*.yaml") if not args.only or p.stem in args.only.split(","))
    report_dir = Path(args.report_dir).resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    async with running_server(config={"registration": {"enabled": True}}) as server:
        token = await server.register("fuzzer")
        room = await server.call("POST", "/_matrix/client/v3/createRoom", {"name": "fuzzing"}, token)
        sent = await server.call("PUT", f"/_matrix/client/v3/rooms/{room['room_id']}/send/m.room.message/fuzz",
                                 {"msgtype": "m.text", "body": "fuzz me"}, token)
        known = {"FUZZ_ROOM_ID": room["room_id"], "FUZZ_USER_ID": "@fuzzer:bench.local", "FUZZ_EVENT_ID": sent["event_id"]}
        for path in files:
            code, output = await asyncio.to_thread(fuzz_file, path, server.url, token, args.examples, report_dir, known)
            if "No operations matched the filters" in output:
                print(f"{path.stem}: skipped (every operation in it is destructive)", flush=True)
                continue
            summary = [line for line in output.splitlines() if "passed" in line or "failed" in line or "error" in line]
            print(f"{path.stem}: {'ok' if code == 0 else 'FAILED'} {summary[-1].strip() if summary else ''}", flush=True)
            if code != 0:
                failed.append(path.stem)
                (report_dir / f"{path.stem}.txt").write_text(output)
        (report_dir / "server.log").write_bytes((server.data_dir / "server.log").read_bytes())
    print(f"{len(files) - len(failed)} of {len(files)} spec files without a finding"
          + (f"; see {report_dir}/<file>.txt for: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", help="the spec's data/api/client-server directory (default: ../shared/matrix-spec)")
    parser.add_argument("--examples", type=int, default=30, help="test cases per operation and phase")
    parser.add_argument("--only", help="comma-separated spec file names (without .yaml) to fuzz")
    parser.add_argument("--report-dir", default="fuzz-report", help="where failing runs' output is written")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
