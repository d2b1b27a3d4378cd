"""Admin verbs that work straight on the database, with or without a running server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from cli.setup import DEFAULT_CONFIG, load_or_fail
from homeserver.config import Config
from homeserver.errors import MatrixError
from homeserver.server import HomeServer
from homeserver.storage.db import Database
from homeserver.storage.migrate import migrate as apply_migrations
from homeserver.users import accounts, identifiers, passwords

CONFIG_OPTION = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_CONFIG, show_default=True,
)


async def migrate(config: Config) -> list[str]:
    db = await Database.open(config)
    try:
        async with db.pool.acquire() as conn:
            return [f"{m.version:04d}_{m.name}" for m in await apply_migrations(conn)]
    finally:
        await db.close()


@click.group("admin")
def group() -> None:
    """Administer users."""


@group.command("create-user")
@CONFIG_OPTION
@click.argument("localpart")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--admin", is_flag=True, help="Make the user a server admin.")
@click.option("--displayname", default=None)
def create_user(config_path: Path, localpart: str, password: str, admin: bool, displayname: str | None) -> None:
    """Create a user (even while registration is closed)."""
    user_id = asyncio.run(_create_user(load_or_fail(config_path), localpart, password, admin, displayname))
    click.echo(user_id)


async def _create_user(config: Config, localpart: str, password: str, admin: bool, displayname: str | None) -> str:
    hs = await HomeServer.start(config)
    try:
        localpart = identifiers.validate_localpart(hs, localpart)
        passwords.check_policy(config.registration.password_policy, password)
        result = await accounts.register(hs, accounts.NewAccount(
            localpart=localpart, password=password, is_admin=admin, displayname=displayname, inhibit_login=True,
        ))
        return result.user_id
    except MatrixError as e:
        raise click.ClickException(e.message) from None
    finally:
        await hs.close()

