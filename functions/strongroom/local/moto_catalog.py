"""The local catalog server: moto's DynamoDB, answering only requests signed with the archive's keys.

    python -m strongroom.local.moto_catalog --host 127.0.0.1 --port P --data <data dir>

Why not plain ``moto_server``: it accepts any made-up key, so anyone on the machine could write a
release record into the catalog. moto itself verifies SigV4 signatures against the keys of its
IAM users, and enforces their policies, once INITIAL_NO_AUTH_ACTION_COUNT requests have been
made (0 here: from the first). This process registers the archive identity (the only one the
local functions and commands use for the catalog) as an IAM user with its own key pair and a
policy allowing DynamoDB only, then serves moto. moto's control API (/moto-api/: reset, state
dumps, and switching authentication off again) is not served at all.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from strongroom.local import identities as ids

CONTROL_PREFIX = "/moto-api/"
CATALOG_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]}


def register(name: str, access_key: str, secret_key: str) -> None:
    """Make (access_key, secret_key) the key pair of moto IAM user `name`, allowed DynamoDB only."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    if name not in iam.users:
        iam.create_user("us-east-1", name)
    iam.put_user_policy(name, "strongroom-catalog", json.dumps(CATALOG_POLICY))
    key = iam.create_access_key(name)
    # moto makes up its key pairs; the archive's are in credentials.json, so they replace it.
    iam.access_keys.pop(key.physical_resource_id, None)
    key.access_key_id, key.secret_access_key = access_key, secret_key
    iam.access_keys[key.physical_resource_id] = key


def without_control_api(app):
    """moto's WSGI app with /moto-api/ answered 404 (it would reset or dump the catalog, or turn
    authentication off, for anyone) and unsigned requests 403."""

    def answer(start_response, status: str, text: str):
        body = text.encode()
        start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    def wrapped(environ, start_response):
        if environ.get("PATH_INFO", "").startswith(CONTROL_PREFIX):
            return answer(
                start_response, "404 Not Found", "not served: this catalog answers signed DynamoDB requests only\n"
            )
        if "HTTP_AUTHORIZATION" not in environ:  # moto would fail on it with a 500
            return answer(
                start_response,
                "403 Forbidden",
                'unsigned request: sign it with the archive\'s keys (`eval "$(strongroom local env)"` sets them)\n',
            )
        return app(environ, start_response)

    return wrapped


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="strongroom.local.moto_catalog")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--data", type=Path, required=True, help="the local archive's data directory")
    args = p.parse_args(argv)
    who = ids.load(args.data).get(ids.ARCHIVE)
    if who is None:
        raise SystemExit(
            f"{ids.credentials_path(args.data)} has no {ids.ARCHIVE!r} identity; `strongroom up` creates it"
        )

    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"  # before moto is imported: its settings read it once
    os.environ.setdefault("MOTO_PORT", str(args.port))
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple

    register(who.name, who.access_key, who.secret_key)
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, without_control_api(app), threaded=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
