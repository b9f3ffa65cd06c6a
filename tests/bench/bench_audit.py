"""Audit of one AU of >= 1 GB in a local archive: one node's vote against sha256sum + sha512sum
over the same bytes on disk, and a whole poll of twelve nodes against `bagit.py --validate`.

A vote should be one read pass per file (H(nonce || bytes) and sha512 together), so its time
should approach that of the two checksum tools, less their second read; here it reads through
S3 over loopback. Only the Vote JSON leaves a node's region: its size x 12 per byte audited is
what a poll costs in cross-region transfer. Each vote and the poll run in a child process with
their S3 requests counted at the boto3 level.

    python -m tests.bench audit        # polls the STRONGROOM_BENCH_GB package (ingests it if needed)
"""

from __future__ import annotations

import json
import sys
import time

from strongroom.domain.ocfl.layout import object_root
from tests.bench import common
from tests.bench.common import BIN, GB, MB, Measured, ratio, run, table

VOTING_NODE = 0  # node 1 (us-east-1); every node holds the same copy
SMALL = 1 << 20


def vote_child(au: str, node_index: int, small_only: bool = False) -> None:
    """One node's vote, in this process, S3 traffic counted; prints one JSON line. small_only
    votes on the files under 1 MiB alone, to split a vote's time into a cost per file and a
    cost per byte."""
    traffic = common.S3Traffic()
    from strongroom.domain.vote import new_nonce
    from strongroom.flows.poll import vote
    from strongroom.handlers import compose

    ns = compose.archive().nodes[node_index]
    keys = None
    if small_only:
        root = f"{object_root(au)}/"
        keys = sorted(
            o.key[len(root) :]
            for o in ns.store.list(root)
            if o.size < SMALL and not o.key[len(root) :].startswith("logs/")
        )
    started = time.perf_counter()
    v = vote(ns.store, au, new_nonce(), ns.node.region, keys=keys)
    wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "node": v.node,
                "files": len(v.files),
                "bytes_read": v.bytes_read,
                "vote_requests": v.requests,
                "vote_json": len(v.to_json()),
                "missing": len(v.missing),
                "errors": v.errors,
                "wall": wall,
                "peak_rss": common.own_peak_rss(),
                **traffic.as_dict(),
            }
        )
    )


def poll_child(au: str) -> None:
    """A whole poll (twelve votes, tally, record), as the audit function runs it; one JSON line."""
    traffic = common.S3Traffic()
    from strongroom.flows.audit import run_poll
    from strongroom.handlers import compose

    started = time.perf_counter()
    report = run_poll(compose.archive(), au)
    wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "status": report.status,
                "agreement": report.agreement,
                "cost": report.cost,
                "wall": wall,
                "peak_rss": common.own_peak_rss(),
                **traffic.as_dict(),
            }
        )
    )


def main() -> None:
    arc = common.archive()
    pkg = common.package(common.bench_gb())
    ingest = arc.ingest(pkg)  # measured by the ingest bench when that ran first
    me = [sys.executable, "-m", "tests.bench.bench_audit"]
    v = run("vote, one node (S3 over loopback)", me + ["--vote", pkg.au, str(VOTING_NODE)], env=arc.env, json_out=True)
    vs = run("vote, files < 1 MiB only", me + ["--vote-small", pkg.au, str(VOTING_NODE)], env=arc.env, json_out=True)
    s256 = run("sha256sum, every file of the bag", common.checksum_files("sha256sum", pkg.bag))
    s512 = run("sha512sum, every file of the bag", common.checksum_files("sha512sum", pkg.bag))
    both = Measured(
        "sha256sum + sha512sum",
        s256.wall + s512.wall,
        s256.user + s512.user,
        s256.sys + s512.sys,
        max(s256.maxrss or 0, s512.maxrss or 0) or None,
    )
    p = run("poll, twelve nodes (run_poll)", me + ["--poll", pkg.au], env=arc.env, json_out=True)
    bagit = run("bagit.py --validate (sha256 + sha512)", [str(BIN / "bagit.py"), "--validate", "--quiet", str(pkg.bag)])
    if p.report["status"] != "ok":
        print(f"  WARNING: the poll ended {p.report['status']}, not ok", flush=True)

    audited = v.report["bytes_read"]
    print(
        f"\n  AU {pkg.au}: {v.report['files']:,} files, {audited / GB:.3f} GB per copy; "
        f"bag on disk {pkg.payload_bytes() / GB:.3f} GB payload; its ingest took {ingest.wall:.0f} s",
        flush=True,
    )
    table(
        ["what", "wall s", "CPU s", "peak RSS MB", "MB/s per copy", "wall ÷ sha256+sha512", "wall ÷ bagit"],
        [
            [
                m.what,
                m.wall,
                m.cpu,
                common.mb(m.maxrss),
                audited * (12 if m is p else 1) / MB / m.wall,
                ratio(m.wall, both.wall),
                ratio(m.wall, bagit.wall),
            ]
            for m in (v, s256, s512, both, p, bagit)
        ],
    )
    r = v.report
    per_file = r["s3_request_count"] / max(1, r["files"])
    small = vs.report
    per_file_ms = 1000 * small["wall"] / max(1, small["files"])
    big_bytes, big_wall = audited - small["bytes_read"], max(1e-9, r["wall"] - small["wall"])
    print(
        f"  one vote: {r['s3_request_count']:,} S3 requests for {r['files']:,} files = {per_file:.2f} per file "
        f"{r['s3_requests']} (the vote counts {r['vote_requests']:,} store calls); read {r['s3_read'] / audited:.3f} "
        f"bytes per byte of the copy; CPU {v.cpu / (audited / GB):.2f} s per GB",
        flush=True,
    )
    print(
        f"  the vote's own clock (no interpreter start): {r['wall']:.2f} s = {r['wall'] / both.wall:.2f} x "
        f"(sha256sum + sha512sum); {small['files']:,} files < 1 MiB alone took {small['wall']:.2f} s = "
        f"{per_file_ms:.2f} ms per file; the rest ({big_bytes / GB:.2f} GB) read at {big_bytes / MB / big_wall:.0f} MB/s",
        flush=True,
    )
    print(
        f"  leaves the region: the Vote JSON, {r['vote_json']:,} bytes ({r['vote_json'] / r['files']:.0f} per file); "
        f"x 12 nodes = {12 * r['vote_json']:,} bytes = {12 * r['vote_json'] / audited:.2e} per byte of the AU "
        f"({r['vote_json'] / audited:.2e} per byte read)",
        flush=True,
    )
    print(
        f"  poll of 12 nodes: {p.report['s3_request_count']:,} S3 requests {p.report['s3_requests']}, "
        f"status {p.report['status']}, agreement {p.report['agreement']}/12; poll ÷ (12 x one vote) "
        f"{p.wall / (12 * v.wall):.2f}; per copy ÷ bagit {p.wall / 12 / bagit.wall:.2f}",
        flush=True,
    )
    lists = sum(n for op, n in r["s3_requests"].items() if op.startswith("List"))
    year_of_polls(
        (r["s3_request_count"] - lists) / r["files"],
        lists / r["files"],
        per_file_ms / 1000,
        big_bytes / big_wall,
        r["vote_json"] / r["files"],
    )


def year_of_polls(
    gets_per_file: float,
    lists_per_file: float,
    seconds_per_file: float,
    bytes_per_second: float,
    vote_bytes_per_file: float,
    *,
    tb: float = 1.0,
    mean_file: int = 1_000_000,
    memory_gb: float = 1.769,
    polls: int = 4,
    nodes: int = 12,
) -> None:
    """What a year of quarterly polls of `tb` TB costs at AWS list prices, from the measured rates
    (docs/benchmarks.md shows the same arithmetic). Lambda at 1,769 MB has one full vCPU, which a
    vote (hashing, single-threaded) uses; same-region S3 -> Lambda transfer is free."""
    files = tb * 1e12 / mean_file
    reads = polls * nodes * files * gets_per_file  # GET and HEAD: $0.0004 per 1,000
    lists = polls * nodes * files * lists_per_file  # LIST: $0.005 per 1,000
    seconds = polls * nodes * (tb * 1e12 / bytes_per_second + files * seconds_per_file)
    get_cost = reads / 1000 * 0.0004 + lists / 1000 * 0.005
    lambda_cost = seconds * memory_gb * 0.0000133334
    print(
        f"  a year of {polls} polls of {tb:g} TB on {nodes} nodes, mean file {mean_file / MB:g} MB "
        f"({files:,.0f} files): {reads:,.0f} GET/HEAD + {lists:,.0f} LIST requests = ${get_cost:,.2f}; "
        f"{seconds:,.0f} Lambda-seconds at {memory_gb * 1000:,.0f} MB = {seconds * memory_gb:,.0f} GB-s "
        f"= ${lambda_cost:,.2f}; cross-region: {polls * nodes * files * vote_bytes_per_file / 1e9:,.1f} GB of votes",
        flush=True,
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--vote"]:
        vote_child(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1:2] == ["--vote-small"]:
        vote_child(sys.argv[2], int(sys.argv[3]), small_only=True)
    elif sys.argv[1:2] == ["--poll"]:
        poll_child(sys.argv[2])
    else:
        main()
