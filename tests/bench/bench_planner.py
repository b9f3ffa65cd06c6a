"""The hourly planner at 10^3, 10^4 and 10^5 AUs: does its work grow with the archive?

One catalog per size in moto's DynamoDB (the table as template.yaml declares it), filled through
DynamoCatalog.put_au, with the same 200 AUs due and 20 never polled at every size. Side by side in one run:
  index: due_aus as the planner runs it (the by-poll index, at most max_aus_per_run per shard)
  scan:  the old way, every AU read (list_aus) and the same rule applied (plan_polls)
and the status totals, side by side:
  summary:   catalog.summary(), the one summary item put_au keeps up to date
  list_aus:  every AU read and counted (what `strongroom status` did), items scanned
Figures: DynamoDB requests and items read per run (what AWS bills, and what decides whether a
run fits in a Lambda), and wall ms. moto answers a Query by walking the table in Python, so its
wall time still grows with the table where DynamoDB's does not; items read is the figure that
carries over to AWS.

  STRONGROOM_BENCH_PLANNER_SIZES  comma-separated AU counts (default 1000,10000,100000)
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import boto3
from moto import mock_aws

from strongroom.adapters.dynamodb import DynamoCatalog
from strongroom.config import settings
from strongroom.domain.catalog import AuRecord, recount
from strongroom.domain.planner import plan_polls
from strongroom.flows.audit import due_aus
from strongroom.flows.ingest import Archive
from tests.bench.common import table
from tests.cfn import create_catalog_table

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DUE, NEVER = 200, 20


class CountingClient:
    """The DynamoDB client, counting requests and the items they return: queries and scans in
    requests/items (the planner's figures), and apart from those, every read request and every
    item it read (a scan's ScannedCount, which is what DynamoDB bills) in reads/read_items."""

    def __init__(self, client):
        self.client, self.requests, self.items = client, 0, 0
        self.reads, self.read_items = 0, 0

    def __getattr__(self, name):
        call = getattr(self.client, name)

        def counted(**kwargs):
            r = call(**kwargs)
            if name in ("query", "scan"):
                self.requests += 1
                self.items += r.get("Count", 0)
            if name in ("query", "scan", "get_item"):
                self.reads += 1
                self.read_items += r.get("ScannedCount", r.get("Count", 1 if r.get("Item") else 0))
            return r

        return counted


class OneByOneTransactions:
    """The DynamoDB client, carrying out a TransactWriteItems as its writes one after another.

    Only for filling a catalog here: moto copies the whole table before every transaction (to
    roll it back), so filling 10^4 AUs through real transactions would take hours, while the fill
    is one writer and needs no atomicity. put_au's own code, items and conditions are unchanged."""

    def __init__(self, client):
        self.client = client

    def __getattr__(self, name):
        return getattr(self.client, name)

    def transact_write_items(self, TransactItems):  # noqa: N803 - boto3's argument name
        for item in TransactItems:
            ((kind, request),) = item.items()
            {"Put": self.client.put_item, "Update": self.client.update_item}[kind](**request)
        return {}


def fill(catalog: DynamoCatalog, n: int, seed: int = 1) -> None:
    """n AUs of which DUE are due and NEVER never polled, at every size: an hour's work is the same,
    only the archive around it grows."""
    gen = random.Random(seed)
    due = set(gen.sample(range(n), DUE + NEVER))
    never = set(sorted(due)[:NEVER])
    for i in range(n):
        if i in never:
            last = None
        elif i in due:
            last = (NOW - timedelta(days=gen.uniform(98, 120))).isoformat()  # due whatever its jitter
        else:
            last = (NOW - timedelta(days=gen.uniform(0, 82))).isoformat()  # not due
        catalog.put_au(
            AuRecord(
                au=f"pub{i % 650}/t{i % 15000}/au{i}",
                head="v1",
                files=10,
                bytes=10**8,
                last_poll=last,
                updated=(NOW - timedelta(days=gen.uniform(100, 900))).isoformat(),
            )
        )


def measure(n: int) -> dict:
    with mock_aws():
        raw = boto3.client("dynamodb", region_name="us-east-1")
        create_catalog_table(raw, "catalog")
        counting = CountingClient(raw)
        catalog = DynamoCatalog(counting, "catalog")
        t = time.perf_counter()
        fill(DynamoCatalog(OneByOneTransactions(raw), "catalog"), n)
        filled = time.perf_counter() - t
        cfg = settings().audit
        archive = Archive(
            ingest=None,
            nodes=[],
            catalog=catalog,
            limits=settings().limits,  # type: ignore[arg-type]
            audit=replace(cfg, budget_bytes_per_run=10**15),
        )

        counting.requests = counting.items = 0
        t = time.perf_counter()
        planned = due_aus(archive, NOW)
        index_ms = 1000 * (time.perf_counter() - t)
        index_requests, index_items = counting.requests, counting.items

        counting.requests = counting.items = 0
        t = time.perf_counter()
        whole = plan_polls(catalog.list_aus(), {}, NOW, cfg.interval_days, 10**15, cfg.jitter_days)
        scan_ms = 1000 * (time.perf_counter() - t)
        scan_requests, scan_items = counting.requests, counting.items

        counting.reads = counting.read_items = 0
        totals = catalog.summary()
        summary_reads, summary_items = counting.reads, counting.read_items
        counting.reads = counting.read_items = 0
        recounted = recount(catalog.list_aus())
        list_reads, list_items = counting.reads, counting.read_items
    return {
        "summary_reads": summary_reads,
        "summary_items": summary_items,
        "list_reads": list_reads,
        "list_items": list_items,
        "totals_agree": "yes" if totals == recounted else "NO",
        "aus": n,
        "fill_s": filled,
        "due": len(whole),
        "planned": len(planned),
        "all_due": "yes" if set(planned) <= set(whole) else "NO",
        "index_ms": index_ms,
        "index_requests": index_requests,
        "index_items": index_items,
        "scan_ms": scan_ms,
        "scan_requests": scan_requests,
        "scan_items": scan_items,
    }


def main() -> None:
    sizes = [int(s) for s in os.environ.get("STRONGROOM_BENCH_PLANNER_SIZES", "1000,10000,100000").split(",")]
    rows = []
    for n in sizes:
        print(f"  filling a catalog of {n:,} AUs in moto ...", flush=True)
        rows.append(measure(n))
        print(f"    filled in {rows[-1]['fill_s']:.0f} s", flush=True)
    table(
        [
            "AUs",
            "due",
            "planned (max_aus_per_run)",
            "all planned are due",
            "index: requests",
            "index: items read",
            "index: ms (moto)",
            "scan: requests",
            "scan: items read",
            "scan: ms (moto)",
        ],
        [
            [
                r["aus"],
                r["due"],
                r["planned"],
                r["all_due"],
                r["index_requests"],
                r["index_items"],
                r["index_ms"],
                r["scan_requests"],
                r["scan_items"],
                r["scan_ms"],
            ]
            for r in rows
        ],
    )
    table(
        [
            "AUs",
            "status totals agree with a recount",
            "summary(): requests",
            "summary(): items read",
            "list_aus(): requests",
            "list_aus(): items read",
        ],
        [
            [r["aus"], r["totals_agree"], r["summary_reads"], r["summary_items"], r["list_reads"], r["list_items"]]
            for r in rows
        ],
    )
    first, last = rows[0], rows[-1]
    print(
        f"  items read per planner run, {last['aus']:,} vs {first['aus']:,} AUs: "
        f"index {last['index_items'] / max(1, first['index_items']):.2f}x, "
        f"scan {last['scan_items'] / max(1, first['scan_items']):.2f}x",
        flush=True,
    )
    print(
        f"  planner_ms_at_1e3_aus / 1e5 on moto: {first['index_ms']:.0f} / {last['index_ms']:.0f} ms "
        f"(moto's Query walks the table; DynamoDB reads only the index range)",
        flush=True,
    )
    print(
        f"  status_totals_items_read at {last['aus']:,} AUs: summary() {last['summary_items']}, "
        f"list_aus() {last['list_items']:,}",
        flush=True,
    )


if __name__ == "__main__":
    main()
