"""``homeserver``: init, run, check-config, migrate, and admin verbs (DESIGN.md's contract)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

import click
import uvloop

from cli import admin
from cli.setup import DEFAULT_CONFIG, load_or_fail, write_config
from homeserver.config import ConfigError

log = logging.getLogger("homeserver")


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """A Matrix homeserver."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    # While the database is down, asyncpg's pool logs a traceback per reconnection
    # attempt; storage/db.py logs the loss and the return once each.
    logging.getLogger("asyncpg.pool").setLevel(logging.ERROR)


@main.command()
@click.option("--data-dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--server-name", required=True, help="The name in every user ID: @user:NAME.")
@click.option("--port", default=8008, show_default=True, type=click.IntRange(1, 65535))
@click.option("--bind", default="127.0.0.1", show_default=True)
@click.option("--database-url", default=None, help="External PostgreSQL; default: embedded.")
def init(data_dir: Path, server_name: str, port: int, bind: str, database_url: str | None) -> None:
    """Write DATA_DIR/homeserver.yaml, a signing key and secrets."""
    try:
        path = write_config(data_dir, server_name, port, bind, database_url)
    except FileExistsError as e:
        raise click.ClickException(f"{e}: refusing to overwrite an existing config") from None
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    click.echo(str(path))


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=f"Default: {DEFAULT_CONFIG}, created on first run.")
def run(config_path: Path | None) -> None:
    """Serve until interrupted."""
    from homeserver.app import serve

    if config_path is None:
        config_path = DEFAULT_CONFIG
        if not config_path.exists():
            write_config(config_path.parent, "localhost", 8008, "127.0.0.1", None)
            log.info("created %s", config_path)
    config = load_or_fail(config_path)
    log.info("serving %s (config %s)", config.server.server_name, config_path)
    # uvloop's event loop (libuv) makes socket I/O, aiohttp's and asyncpg's, markedly cheaper.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_until_signalled(serve(config)))


async def _until_signalled(coro: object) -> None:
    task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        log.info("stopped")


@main.command("check-config")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_CONFIG)
def check_config(config_path: Path) -> None:
    """Validate a config file and say what it would serve."""
    config = load_or_fail(config_path)
    database = config.database.url or f"embedded ({config.path(config.database.embedded_dir)})"
    listeners = ", ".join(f"{x.bind}:{x.port}" for x in config.server.listeners)
    click.echo(f"ok: {config.server.server_name} on {listeners}; database {database}")


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_CONFIG)
def migrate(config_path: Path) -> None:
    """Apply pending database migrations and exit."""
    config = load_or_fail(config_path)
    applied = asyncio.run(admin.migrate(config))
    click.echo(f"applied {len(applied)} migration(s)" + "".join(f"\n  {m}" for m in applied))


main.add_command(admin.group)


if __name__ == "__main__":
    sys.exit(main())
