"""`strongroom up | down | local env | local add-publisher`: parse nothing, call the runtime."""

from __future__ import annotations

import logging
import os
import shlex
import signal
import sys
from pathlib import Path

from strongroom.commands import reach
from strongroom.config import environment, settings
from strongroom.local import identities as ids
from strongroom.local import runtime
from strongroom.local import template as tpl
from strongroom.local.servers import HOST, Ports, process_is

log = logging.getLogger("strongroom.local")


def run(args) -> int:
    data = Path(args.data).resolve()
    try:
        if args.command == "up":
            return up(data, detach=args.detach)
        if args.command == "down":
            return down(data)
        if args.local_command == "env":
            return env(data, args.publisher)
        if args.local_command == "add-publisher":
            return add_publisher(data, args.name)
    except (RuntimeError, ValueError, KeyError, tpl.TemplateError) as e:
        print(f"strongroom: {e.args[0] if e.args else e}", file=sys.stderr)
        return 1
    raise SystemExit(f"unknown command {args}")


def _data_flag(data: Path) -> str:
    return "" if data == reach.DEFAULT_DATA.resolve() else f" --data {shlex.quote(str(data))}"


def _logging(data: Path) -> None:
    """Detached: stderr already goes to logs/runtime.log. In a terminal: both."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if not environment().local_detached:
        (data / "logs").mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(data / "logs" / "runtime.log"))
    logging.basicConfig(
        level=logging.INFO,
        handlers=handlers,
        force=True,
        format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s",
    )
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def banner(endpoints: runtime.Endpoints, template: tpl.Template) -> str:
    cfg = settings()
    flag = _data_flag(endpoints.data_dir)
    routes = []
    for fn in template.functions:
        for ev in fn.events:
            if isinstance(ev, tpl.S3Event):
                what = f"s3://{ev.bucket}/{ev.prefix}*{ev.suffix}"
            elif isinstance(ev, tpl.ScheduleEvent):
                what = ev.expression + ("" if ev.enabled else " (disabled)")
            else:
                what = f"{ev.method} {ev.path} (served by the signed API)"
            routes.append(f"  {what:<44} -> {fn.logical_id} ({fn.handler})")
    pubs = ids.publishers(endpoints.data_dir)
    who = pubs[0].name if pubs else "acme"
    lines = [
        f"strongroom local archive is up; data in {endpoints.data_dir}",
        f"  S3        {endpoints.s3}  (SeaweedFS: {cfg.ingest_bucket}, {len(cfg.nodes)} node buckets "
        f"{cfg.prefix}-node-<region>, {cfg.public_bucket})",
        f"  DynamoDB  {endpoints.dynamodb}  (moto: {', '.join(t.name for t in template.tables) or 'no tables'})",
        f"  API       http://{HOST}:{endpoints.ports['api']}  (release API, SigV4-signed: `strongroom release …`)",
        f"  site      http://{HOST}:{endpoints.ports['site']}/  (released content only)",
        f"  replay    http://{HOST}:{endpoints.ports['replay']}/  (pywb, released titles only)",
        f"  logs      {endpoints.data_dir / 'logs'}",
        f"  keys      {ids.credentials_path(endpoints.data_dir)}",
        "events:",
        *(routes or ["  (template.yaml wires no events)"]),
        "",
        "push a package as a publisher:",
    ]
    if not pubs:
        lines.append(f"  strongroom{flag} local add-publisher {who}")
    lines += [
        f'  eval "$(strongroom{flag} local env --publisher {who})"',
        f"  aws s3 cp package.zip s3://$STRONGROOM_INGEST_BUCKET/incoming/{who}/<title>/<au>/package.zip",
    ]
    return "\n".join(lines)


def up(data: Path, detach: bool) -> int:
    if detach:
        endpoints = runtime.start_detached(data)
        print(banner(endpoints, tpl.load()))
        print(f"running in the background; stop it with `strongroom{_data_flag(data)} down`")
        return 0
    _logging(data)
    archive = runtime.LocalArchive(data)

    def on_signal(signum, _frame):
        log.info(
            "received %s; stopping (handlers in progress finish first; a second Ctrl-C quits at "
            "once, and the next `strongroom up` or `down` stops the servers left behind)",
            signal.Signals(signum).name,
        )
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        archive._stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    archive._start()
    if not environment().local_detached:
        print(banner(archive.started_endpoints, archive.template), flush=True)
        print("press Ctrl-C to stop", flush=True)
    try:
        archive.wait()
    finally:
        archive.stop()
    return 0


def down(data: Path) -> int:
    if runtime.stop_detached(data):
        print(f"local archive stopped; its data stays in {data}")
        return 0
    print(f"no local archive is running in {data}")
    return 0


def env(data: Path, publisher: str | None) -> int:
    identities = ids.load(data)
    pubs = [i for i in identities.values() if i.kind == "publisher"]
    flag = _data_flag(data)
    if publisher is None:
        if not pubs:
            raise ValueError(f"no publisher yet: create one with `strongroom{flag} local add-publisher NAME`")
        who = pubs[0]
    elif publisher in identities:
        who = identities[publisher]
    else:
        raise ValueError(
            f"no publisher {publisher!r} in {ids.credentials_path(data)}: create it with "
            f"`strongroom{flag} local add-publisher {publisher}`"
        )
    state = runtime.running_state(data)
    port = state["ports"]["s3"] if state else Ports.configured().s3
    if state is None:
        print(f"# note: no local archive is running in {data}; start it with `strongroom{flag} up`", file=sys.stderr)
    values = {
        "AWS_ACCESS_KEY_ID": who.access_key,
        "AWS_SECRET_ACCESS_KEY": who.secret_key,
        "AWS_DEFAULT_REGION": settings().nodes[0].region,
        "AWS_ENDPOINT_URL_S3": f"http://{HOST}:{port}",
        "STRONGROOM_INGEST_BUCKET": settings().ingest_bucket,
    }
    print("export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in values.items()))
    return 0


def add_publisher(data: Path, name: str) -> int:
    ids.add_publisher(data, name)
    state = runtime.running_state(data)
    weed_pid = ((state or {}).get("servers") or {}).get("weed", {}).get("pid")
    if weed_pid and process_is(weed_pid, "weed"):
        os.kill(weed_pid, signal.SIGHUP)  # SeaweedFS re-reads its identities file on SIGHUP
        note = "the running archive accepts its keys now"
    else:
        note = "its keys work from the next `strongroom up`"
    flag = _data_flag(data)
    print(
        f"publisher {name} created ({note}).\n"
        f"  it may write s3://{settings().ingest_bucket}/incoming/{name}/ and read its receipts/{name}/ "
        f"and rejections/{name}/\n"
        f'  its keys: eval "$(strongroom{flag} local env --publisher {name})"'
    )
    return 0
