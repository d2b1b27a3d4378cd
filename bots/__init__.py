"""A framework for Matrix bots on ``clientapi``, and ready bots (echo, welcome,
moderation). ``python -m bots run CONFIG.yaml`` runs them."""

from bots.bot import Bot, Context, on_event
from bots.commands import UsageError, command
from bots.runner import run

__all__ = ["Bot", "Context", "UsageError", "command", "on_event", "run"]
