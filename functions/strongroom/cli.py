"""`strongroom …`: the users' tools. Each command parses its arguments and calls one function."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_DATA = Path.cwd() / ".strongroom"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="strongroom", description="A dark archive for scholarly content.")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="the local archive's data directory (default: ./.strongroom)")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start the local archive on loopback and keep it running")
    up.add_argument("--detach", action="store_true", help="start in the background and return when ready")
    sub.add_parser("down", help="stop a local archive started with --detach")

    local = sub.add_parser("local", help="the one-machine archive")
    local_sub = local.add_subparsers(dest="local_command", required=True)
    env = local_sub.add_parser("env", help="print export lines to reach the local archive as a publisher")
    env.add_argument("--publisher", help="whose credentials (default: the first publisher)")
    add = local_sub.add_parser("add-publisher", help="create a publisher and its credentials")
    add.add_argument("name")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("up", "down") or args.command == "local":
        from strongroom.local import commands

        return commands.run(args)
    raise SystemExit(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
