"""``python -m bots run CONFIG.yaml``: run the bots a config names until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from bots.config import ConfigError, load_config
from bots.runner import run_until_signalled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bots", description="Run Matrix bots.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the bots of a config file until SIGTERM")
    run.add_argument("config", help="the YAML config (see bots/config.py)")
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
        asyncio.run(run_until_signalled(config))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
