"""The archive's user commands (deposit, status, catalog rebuild, replicate, demo) over the local archive.

Each reaches the archive the way its user would: `deposit` with a publisher's keys and
nothing more; the others with the archive's own identity, through strongroom.app exactly
as the Lambda handlers do.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from strongroom.config import settings
from strongroom.domain.au import AuId


def _endpoints(data: Path):
    from strongroom.local import runtime

    try:
        return runtime.connect(data)
    except runtime.NotRunning as e:
        raise SystemExit(str(e)) from None


def _as_archive(data: Path) -> None:
    """Point this process's boto3 at the local archive, with the archive's own identity."""
    from strongroom.local import runtime, template

    endpoints = _endpoints(data)
    os.environ.update(runtime.lambda_environment(endpoints, template.load()))


def _print_answer(answer, out=sys.stdout) -> None:
    doc = answer.document
    if answer.kind == "rejection":
        print(f"REJECTED {doc['package']['key']}", file=out)
        print(f"  kept untouched at s3://{settings().ingest_bucket}/{doc['package']['quarantined_at']}", file=out)
        for p in doc["problems"]:
            print(f"  - {p['severity']}: {p['path']}: [{p['rule']}] {p['message']}\n      fix: {p['fix']}", file=out)
        print(f"  report: s3://{settings().ingest_bucket}/{answer.key}", file=out)
        return
    ocfl = doc.get("ocfl", {})
    if doc["status"] == "duplicate":
        print(f"DUPLICATE {doc['package']['key']}: {doc['message']}", file=out)
        return
    warnings = doc.get("warnings", [])
    print(f"{doc['status'].upper()} {doc['package']['key']} -> AU {doc['au']} OCFL {ocfl.get('version')}: "
          f"{len(doc['files'])} files, {len(doc['articles'])} articles, copies {doc['copies']['count']}"
          + (f", {len(warnings)} warning(s)" if warnings else ""), file=out)
    for w in warnings:
        print(f"  - warning: {w['path']}: [{w['rule']}] {w['message']}", file=out)
    if doc["copies"]["pending"]:
        print(f"  pending copies: {', '.join(doc['copies']['pending'])} (`strongroom replicate` retries them)", file=out)
    print(f"  receipt: s3://{settings().ingest_bucket}/{answer.key}", file=out)


def deposit_file(data: Path, path: Path, au: AuId, *, timeout: float = 900, wait: bool = True, quiet=False):
    from tqdm import tqdm

    from strongroom.deposit import push, wait_for_answer
    from strongroom.local import runtime

    endpoints = _endpoints(data)
    s3 = runtime.clients(endpoints, identity=au.publisher).s3
    size = path.stat().st_size
    with tqdm(total=size, unit="B", unit_scale=True, desc=f"push {path.name}", disable=quiet or size < 32 << 20,
              file=sys.stderr) as bar:
        pk, started = push(s3, endpoints.ingest_bucket, path, au, progress=bar.update)
    if not wait:
        print(f"pushed s3://{endpoints.ingest_bucket}/{pk.key}")
        return None
    return wait_for_answer(s3, endpoints.ingest_bucket, pk, started, timeout=timeout)


def deposit(args) -> int:
    if not args.file.is_file():
        raise SystemExit(f"{args.file}: no such file; give the path of a .zip, .tar or .tar.gz BagIt package")
    try:
        au = AuId(args.publisher, args.title, args.au)
        AuId.parse(str(au))
    except ValueError as e:
        raise SystemExit(str(e)) from None
    answer = deposit_file(args.data, args.file, au, timeout=args.timeout, wait=not args.no_wait)
    if answer is None:
        return 0
    _print_answer(answer)
    return 0 if answer.kind == "receipt" else 1


def status(args) -> int:
    from strongroom import app
    from strongroom.status import as_json, as_table

    _as_archive(args.data)
    records = app.archive().catalog.list_aus()
    regions = [n.region for n in settings().nodes]
    print(as_json(records, regions) if args.json else as_table(records, regions))
    return 0


def catalog(args) -> int:
    from strongroom import app

    _as_archive(args.data)
    started = time.monotonic()
    count = app.rebuild_catalog()
    print(f"catalog rebuilt from {settings().nodes[0].bucket}: {count} AUs in {time.monotonic() - started:.1f} s")
    return 0


def replicate(args) -> int:
    from strongroom import app
    from strongroom.domain.ingest import complete_pending

    _as_archive(args.data)
    archive = app.archive()
    regions = [n.region for n in settings().nodes]
    pending = [r for r in archive.catalog.list_aus() if r.pending_regions(regions)]
    for record in pending:
        after = complete_pending(archive, record.au)
        print(f"{record.au}: {len(after.verified_regions())}/{len(regions)} copies verified")
    if not pending:
        print("no pending copies: every AU is verified on every node")
    return 0


def demo(args) -> int:
    from strongroom.local import identities, runtime
    from strongroom.samples import make_demo_packages
    from strongroom.status import as_table

    data = args.data
    say = lambda text="": print(text, flush=True)
    say("== strongroom demo: a dark archive of twelve nodes on this machine ==")
    if runtime.running_state(data) is None:
        say(f"Starting the local archive in {data} (SeaweedFS for S3, moto for DynamoDB) ...")
        runtime.start_detached(data)
    endpoints = _endpoints(data)
    say(f"  S3 at {endpoints.s3}; ingest bucket {endpoints.ingest_bucket}; "
        f"{len(endpoints.node_buckets)} node buckets: {', '.join(n.region for n in settings().nodes)}")

    packages = make_demo_packages(data / "demo-packages")
    from strongroom.local import commands as local_commands

    for publisher in sorted({p for p, *_ in packages}):
        if publisher not in identities.load(data):
            local_commands.add_publisher(data, publisher)
    time.sleep(1.0)  # SeaweedFS re-reads its identities on SIGHUP

    say("\n== Publishers deposit packages (each with its own keys, into incoming/<publisher>/) ==")
    for publisher, title, au, path in packages:
        say(f"$ strongroom deposit {path.relative_to(data.parent) if data.parent in path.parents else path} "
            f"--publisher {publisher} --title {title} --au {au}")
        answer = deposit_file(data, path, AuId(publisher, title, au), quiet=True)
        _print_answer(answer)
        say()

    publisher, title, au, path = packages[0]
    say("== The same package pushed again makes no new version ==")
    _print_answer(deposit_file(data, path, AuId(publisher, title, au), quiet=True))

    say("\n== strongroom status ==")
    from strongroom import app

    _as_archive(data)
    records = app.archive().catalog.list_aus()
    say(as_table(records, [n.region for n in settings().nodes]))

    from strongroom import audit_commands, release_commands

    audit_commands.demo_section(data, say)
    release_commands.demo_section(data, say)

    say("\nExplore:")
    say(f"  .venv/bin/strongroom --data {data} status [--json]")
    say(f"  eval \"$(.venv/bin/strongroom --data {data} local env --publisher {packages[0][0]})\"  # then aws s3 cp / boto3 as that publisher")
    say(f"  .venv/bin/strongroom --data {data} catalog rebuild")
    if args.keep_running:
        say(f"The archive keeps running; stop it with: .venv/bin/strongroom --data {data} down")
    else:
        runtime.stop_detached(data)
        say("The archive has been stopped; its data stays in " + str(data))
    return 0
