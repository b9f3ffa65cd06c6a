"""Ingest of one package of >= 1 GB into a local archive (real SeaweedFS), side by side with
`bagit.py --validate` and `sha256sum` over the same bag, plus a smaller package to show that
peak memory does not grow with the package.

Ingest runs in a child process of its own (strongroom.handlers.compose.archive() + ingest_package, not the
router), so its wall time, CPU, peak RSS and the bytes its boto3 clients move are those of
exactly one ingest. The upload before it is the publisher's and is not timed.

    python -m tests.bench ingest                     # 0.25 GB and STRONGROOM_BENCH_GB (default 1)
    STRONGROOM_BENCH_PROFILE=/tmp/ingest.prof ...    # also cProfile the ingest child, print its top
"""

from __future__ import annotations

import json
import os
import sys
import time

from tests.bench import common
from tests.bench.common import BIN, GB, MB, ratio, run, table

SMALL_GB = 0.25


def measure(arc: common.BenchArchive, gb: float) -> dict:
    """Ingest, bagit.py and sha256sum over one package, in that order, in one run."""
    pkg = common.package(gb)
    print(
        f"\n  package {pkg.path.name}: {pkg.size / GB:.3f} GB, {pkg.articles} articles "
        f"({3 * pkg.articles:,} small files) + one {pkg.big_file_bytes / GB:.2f} GB file",
        flush=True,
    )
    results = [
        arc.ingest(pkg),
        run("bagit.py --validate (bag on disk)", [str(BIN / "bagit.py"), "--validate", "--quiet", str(pkg.bag)]),
        run("sha256sum (package file)", ["sha256sum", str(pkg.path)]),
        run("sha256sum (every file of the bag)", common.checksum_files("sha256sum", pkg.bag)),
    ]
    return {"package": pkg, "results": results}


def report(run_: dict) -> None:
    pkg, results = run_["package"], run_["results"]
    ing, bagit, sha_pkg, _ = results
    print(f"\n  {pkg.size / GB:.3f} GB package ({pkg.path.name})")
    table(
        [
            "what",
            "wall s",
            "CPU s",
            "peak RSS MB",
            "MB/s (wall)",
            "wall ÷ sha256sum",
            "CPU ÷ sha256sum",
            "wall ÷ bagit",
        ],
        [
            [
                m.what,
                m.wall,
                m.cpu,
                common.mb(m.maxrss),
                pkg.size / MB / m.wall,
                ratio(m.wall, sha_pkg.wall),
                ratio(m.cpu, sha_pkg.cpu),
                ratio(m.wall, bagit.wall),
            ]
            for m in results
        ],
    )
    r = ing.report
    files = sum(1 for p in pkg.bag.rglob("*") if p.is_file())
    print(
        f"  ingest: {files:,} files in the bag; {r['s3_request_count'] / files:.1f} S3 requests and "
        f"{1000 * ing.wall / files:.1f} ms of wall time per file (12 nodes); peak RSS {common.mb(ing.maxrss)} MB"
    )
    print(
        f"  ingest through S3: read {r['s3_read'] / pkg.size:.3f} and wrote {r['s3_written'] / pkg.size:.3f} "
        f"bytes per package byte (total {(r['s3_read'] + r['s3_written']) / pkg.size:.3f}); "
        f"{r['s3_request_count']:,} S3 requests {r['s3_requests']}; scratch disk written "
        f"{ing.disk_written / pkg.size:.2f} bytes per package byte; ingest's own clock {r['wall']:.1f} s",
        flush=True,
    )


def main() -> None:
    arc = common.archive()
    sizes = sorted({SMALL_GB, common.bench_gb()})
    runs = [measure(arc, gb) for gb in sizes]
    for r in runs:
        report(r)
    print("\n  peak memory against package size (ingest child, VmHWM)")
    table(
        ["package GB", "files", "ingest peak RSS MB", "ingest wall s", "ingest CPU s", "ingest ÷ sha256sum wall"],
        [
            [
                r["package"].size / GB,
                3 * r["package"].articles,
                common.mb(r["results"][0].maxrss),
                r["results"][0].wall,
                r["results"][0].cpu,
                ratio(r["results"][0].wall, r["results"][2].wall),
            ]
            for r in runs
        ],
    )


def child(key: str) -> None:
    """One ingest, in this process, with its S3 traffic counted; prints one JSON line."""
    traffic = common.S3Traffic()  # before strongroom.handlers.compose makes its clients
    from strongroom.flows.ingest import ingest_package
    from strongroom.handlers import compose

    archive = compose.archive()
    profile = os.environ.get("STRONGROOM_BENCH_PROFILE")
    started = time.perf_counter()
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        outcome = prof.runcall(ingest_package, archive, key)
        prof.dump_stats(profile)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
    else:
        outcome = ingest_package(archive, key)
    wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "status": outcome.status,
                "copies": outcome.copies,
                "version": outcome.version,
                "wall": wall,
                "peak_rss": common.own_peak_rss(),
                **traffic.as_dict(),
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2])
    else:
        main()
