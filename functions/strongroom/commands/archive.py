"""The archive's user commands (deposit, status, catalog rebuild, replicate, demo) over the local archive.

Each reaches the archive the way its user would: `deposit` with a publisher's keys and
nothing more; the others with the archive's own identity, through strongroom.handlers.compose exactly
as the Lambda handlers do.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from strongroom.commands import reach
from strongroom.commands.deposit import package_key, push, wait_for_answer
from strongroom.config import settings
from strongroom.domain.au import AuId
from strongroom.domain.problems import Rejected
from strongroom.flows.ingest import complete_pending
from strongroom.handlers import compose
from strongroom.local import runtime
from strongroom.render.status import report


def print_answer(answer, out=sys.stdout) -> None:
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
    print(
        f"{doc['status'].upper()} {doc['package']['key']} -> AU {doc['au']} OCFL {ocfl.get('version')}: "
        f"{len(doc['files'])} files, {len(doc['articles'])} articles, copies {doc['copies']['count']}"
        + (f", {len(warnings)} warning(s)" if warnings else ""),
        file=out,
    )
    for w in warnings:
        print(f"  - warning: {w['path']}: [{w['rule']}] {w['message']}", file=out)
    if doc["copies"]["pending"]:
        print(
            f"  pending copies: {', '.join(doc['copies']['pending'])} (`strongroom replicate` retries them)", file=out
        )
    print(f"  receipt: s3://{settings().ingest_bucket}/{answer.key}", file=out)


def deposit_file(data: Path, path: Path, au: AuId, *, timeout: float = 900, wait: bool = True, quiet=False):
    from tqdm import tqdm

    endpoints = reach.endpoints(data)
    s3 = runtime.clients(endpoints, identity=au.publisher).s3
    size = path.stat().st_size
    with tqdm(
        total=size,
        unit="B",
        unit_scale=True,
        desc=f"push {path.name}",
        disable=quiet or size < 32 << 20,
        file=sys.stderr,
    ) as bar:
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
        package_key(args.file, au)  # a name ingest would refuse is refused here, before the upload
    except (ValueError, Rejected) as e:
        raise SystemExit(str(e)) from None
    answer = deposit_file(args.data, args.file, au, timeout=args.timeout, wait=not args.no_wait)
    if answer is None:
        return 0
    print_answer(answer)
    return 0 if answer.kind == "receipt" else 1


def status(args) -> int:

    if args.title is not None and len([p for p in args.title.strip("/").split("/") if p]) != 2:
        raise SystemExit(f"--title {args.title}: give publisher/title, e.g. --title acme/jbio")
    if args.limit < 1:
        raise SystemExit(f"--limit {args.limit}: give how many AUs to list at most, 1 or more (default 200)")
    reach.as_archive(args.data)
    print(
        report(
            compose.archive().catalog,
            [n.region for n in settings().nodes],
            settings().audit,
            publisher=args.publisher,
            title=args.title,
            limit=args.limit,
            json_out=args.json,
        )
    )
    return 0


def catalog(args) -> int:
    reach.as_archive(args.data)
    started = time.monotonic()
    count = compose.rebuild_catalog()
    print(f"catalog rebuilt from {settings().nodes[0].bucket}: {count} AUs in {time.monotonic() - started:.1f} s")
    return 0


def replicate(args) -> int:

    reach.as_archive(args.data)
    archive = compose.archive()
    regions = [n.region for n in settings().nodes]
    pending = [r for r in archive.catalog.list_aus() if r.pending_regions(regions)]
    for record in pending:
        after = complete_pending(archive, record.au)
        print(f"{record.au}: {len(after.verified_regions())}/{len(regions)} copies verified")
    if not pending:
        print("no pending copies: every AU is verified on every node")
    return 0
