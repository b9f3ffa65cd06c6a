"""`make bench-quick`: the scale figures of issue 8 in a few minutes, into bench-quick.json.

One flat JSON object of figures, measured side by side in one run on the local archive (real
SeaweedFS): a package of many small files (567 files of a few kB and one of ~140 MB, like the
569-file, 145 MB package the issue measured) ingested into twelve nodes, a vote and a poll of it,
and the planner over moto catalogs of 10^3 and 10^4 AUs. A figure this run cannot measure is null,
with its reason under "not_measured": nothing is made up.

  python -m tests.bench.quick [OUT]   (default bench-quick.json)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.bench import bench_planner, common
from tests.bench.common import BIN, Measured, ratio, run

ARTICLES = 189  # 3 small files each: 567, plus the large file and the bag's own files
GB_TOTAL = 0.145
PLANNER_SIZES = (1000, 10000)


def figures() -> dict:
    arc = common.archive()
    pkg = common.package(GB_TOTAL, articles=ARTICLES)
    files = sum(1 for p in pkg.bag.rglob("*") if p.is_file())

    ingest = arc.ingest(pkg)
    sha256 = run("sha256sum, every file of the bag", common.checksum_files("sha256sum", pkg.bag))
    sha512 = run("sha512sum, every file of the bag", common.checksum_files("sha512sum", pkg.bag))
    both = Measured(
        "sha256sum + sha512sum",
        sha256.wall + sha512.wall,
        sha256.user + sha512.user,
        sha256.sys + sha512.sys,
        max(sha256.maxrss or 0, sha512.maxrss or 0) or None,
    )
    bagit = run("bagit.py --validate", [str(BIN / "bagit.py"), "--validate", "--quiet", str(pkg.bag)])
    me = [sys.executable, "-m", "tests.bench.bench_audit"]
    vote = run("vote, one node", me + ["--vote", pkg.au, "0"], env=arc.env, json_out=True)
    poll = run("poll, twelve nodes", me + ["--poll", pkg.au], env=arc.env, json_out=True)
    voted = vote.report["files"]
    planner = {n: bench_planner.measure(n) for n in PLANNER_SIZES}
    small, large = planner[PLANNER_SIZES[0]], planner[PLANNER_SIZES[-1]]

    return {
        "package_files": files,
        "package_bytes": pkg.size,
        "ingest_wall_s": ingest.wall,
        "ingest_small_files_vs_sha256sum": ratio(ingest.wall, sha256.wall),
        "ingest_small_files_vs_bagit": ratio(ingest.wall, bagit.wall),
        "ingest_requests_per_file": ingest.report["s3_request_count"] / files,
        "ingest_peak_rss_mb": common.mb(ingest.maxrss),
        "ingest_vs_rclone_12_buckets": None,
        "vote_small_files_vs_sha256_sha512": ratio(vote.wall, both.wall),
        "vote_own_clock_vs_sha256_sha512": ratio(vote.report["wall"], both.wall),
        "vote_requests_per_file": vote.report["s3_request_count"] / max(1, voted),
        "poll_requests_per_file_per_node": poll.report["s3_request_count"] / max(1, voted) / 12,
        "poll_vs_twelve_votes": ratio(poll.wall, 12 * vote.wall),
        "planner_ms_at_1e3_aus": small["index_ms"],
        "planner_ms_at_1e4_aus": large["index_ms"],
        "planner_ms_at_1e5_aus": None,
        "planner_items_read_at_1e3_aus": small["index_items"],
        "planner_items_read_at_1e4_aus": large["index_items"],
        "planner_items_read_ratio_1e4_vs_1e3": ratio(large["index_items"], small["index_items"]),
        "scan_items_read_ratio_1e4_vs_1e3": ratio(large["scan_items"], small["scan_items"]),
        "release_one_title_with_1000_public_vs_none": None,
        "not_measured": {
            "ingest_vs_rclone_12_buckets": "rclone is not part of this benchmark yet",
            "planner_ms_at_1e5_aus": "moto answers a Query by walking the whole table, so its milliseconds grow "
            "with the table where DynamoDB's do not; bench_planner measures 1e5 (about 8 minutes) and reports "
            "items read, the figure that carries over",
            "release_one_title_with_1000_public_vs_none": "releases are not incremental yet (issue 8, part 4)",
        },
    }


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "bench-quick.json")
    result = figures()
    out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", "utf-8")
    print(json.dumps(result, indent=2, sort_keys=True))
    print(f"\nwritten to {out.resolve()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
