"""`strongroom …`: the users' tools. Each command parses its arguments and calls one function.

Commands that need the archive reach the local one in --data (started by `strongroom up`);
on AWS the same functions run with the deployment's environment instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from strongroom.commands import archive, demo, local, reach
from strongroom.commands import audit as audit_commands
from strongroom.commands import release as release_commands


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="strongroom", description="A dark archive for scholarly content.")
    p.add_argument(
        "--data",
        type=Path,
        default=reach.DEFAULT_DATA,
        help="the local archive's data directory (default: ./.strongroom, or $STRONGROOM_DATA)",
    )
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

    dep = sub.add_parser("deposit", help="push a package as a publisher would, and wait for the receipt")
    dep.add_argument("file", type=Path)
    dep.add_argument("--publisher", required=True)
    dep.add_argument("--title", required=True)
    dep.add_argument("--au", required=True)
    dep.add_argument("--timeout", type=float, default=900, help="seconds to wait for the answer")
    dep.add_argument("--no-wait", action="store_true", help="return once the package is uploaded")

    st = sub.add_parser("status", help="what the archive holds: titles, AUs, versions, verified copies")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    which = st.add_mutually_exclusive_group()
    which.add_argument("--publisher", metavar="P", help="list the AUs of one publisher, title by title")
    which.add_argument("--title", metavar="P/T", help="list the AUs of one title")
    st.add_argument(
        "--limit",
        type=int,
        default=200,
        metavar="N",
        help="list at most N AUs (default 200); with no filter, AUs are listed only while the archive holds N or fewer",
    )

    cat = sub.add_parser("catalog", help="the derived catalog")
    cat_sub = cat.add_subparsers(dest="catalog_command", required=True)
    cat_sub.add_parser("rebuild", help="wipe the catalog and recreate it from one node bucket alone")

    sub.add_parser("replicate", help="finish copies left pending when a node was unreachable")

    audit_commands.register(sub)
    release_commands.register(sub)

    demo = sub.add_parser("demo", help="start a local archive and run the archive's whole job on sample content")
    demo.add_argument(
        "--keep-running",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="leave the archive running afterwards (default) so you can explore it",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("up", "down", "local"):
        return local.run(args)
    if hasattr(args, "run"):  # commands registered by audit_commands / release_commands
        return args.run(args)
    if args.command == "demo":
        return demo.demo(args)
    return getattr(archive, args.command)(args)


if __name__ == "__main__":
    sys.exit(main())
