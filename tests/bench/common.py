"""What the benchmarks share: a local archive to measure against, cached sample packages,
children timed with their own rusage, counters for the S3 traffic a child makes, a table.

Why children: the figures that matter (CPU, peak memory, bytes through S3) are those of one
ingest or one vote, not of the benchmark driver that also hosts the servers and made the
package; os.wait4 gives each child's own user+sys time, /proc VmHWM its own peak RSS.

Environment:
  STRONGROOM_BENCH_GB      package size in GB (default 1)
  STRONGROOM_BENCH_ARTICLES_PER_GB  small files in it: 3 per article (default 250 articles per GB)
  STRONGROOM_BENCH_PORTS   port base of the benchmark's archive (default 28333)
  STRONGROOM_BENCH_CACHE   where packages are cached (default $TMPDIR/strongroom-bench-cache)
  STRONGROOM_BENCH_DATA    keep the archive in this directory, to inspect it afterwards (default: a
                           temporary one, removed; give a new one each run: a package ingested twice
                           is a duplicate)
"""

from __future__ import annotations

import atexit
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GB = 10**9
MB = 10**6
BENCH_PUBLISHER, BENCH_TITLE = "benchpub", "jbench"
# Articles per GB of package: ~9.5 kB each in three files (JATS, PDF, PNG), the package's many
# small files; one large file makes up the rest of the bytes. Ingest's time grows with the file
# count (requests per file per node), so this sets how long `make bench` takes.
ARTICLES_PER_GB = int(os.environ.get("STRONGROOM_BENCH_ARTICLES_PER_GB", "250"))


def bench_gb() -> float:
    return float(os.environ.get("STRONGROOM_BENCH_GB", "1"))


def cache_dir() -> Path:
    d = Path(os.environ.get("STRONGROOM_BENCH_CACHE") or Path(tempfile.gettempdir()) / "strongroom-bench-cache")
    d.mkdir(parents=True, exist_ok=True)
    return d


# --- packages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchPackage:
    """A cached sample package, its bag extracted beside it, and the AU it deposits into."""

    path: Path  # the .zip as a publisher pushes it
    bag: Path  # the same bag extracted (for bagit.py and sha256sum)
    au: str  # publisher/title/au
    articles: int
    big_file_bytes: int

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    @property
    def key(self) -> str:
        return f"incoming/{self.au}/{self.path.name}"

    def payload_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.bag / "data").rglob("*") if p.is_file())


def package(gb: float, articles: int | None = None, seed: int = 7) -> BenchPackage:
    """A package of about `gb` GB: `articles` articles (JATS, PDF, PNG) plus one large file making
    up the rest. Built once per parameters and kept in cache_dir(): building 1 GB takes a while
    and the benchmarks should measure the archive, not the sample generator."""
    from strongroom.local.demo import samples

    articles = articles or max(10, round(gb * ARTICLES_PER_GB))
    au = f"{gb:g}gb-{articles}a".replace(".", "p")
    small = articles * 9_600  # close enough: only the big file's size needs to make up the total
    big = max(1, int(gb * GB) - small)
    name = f"{BENCH_TITLE}-{au}-s{seed}-b{big}"
    home = cache_dir() / name
    done = home / "complete"
    zip_path = home / f"{BENCH_TITLE}-{au}.zip"
    bag = home / "bag" / zip_path.stem
    if not done.exists():
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        print(
            f"  building a {gb:g} GB package ({articles} articles + one {big / GB:.2f} GB file) in {home} ...",
            flush=True,
        )
        journal = samples.JournalSpec(publisher=BENCH_PUBLISHER, title=BENCH_TITLE)
        made = samples.make_package(
            home,
            publisher=BENCH_PUBLISHER,
            title=BENCH_TITLE,
            au=au,
            articles=samples.make_articles(articles, seed, journal),
            fmt="zip",
            big_file_bytes=big,
            seed=seed,
        )
        assert made == zip_path, made
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(home / "bag")
        done.write_text("ok\n")
    return BenchPackage(zip_path, bag, f"{BENCH_PUBLISHER}/{BENCH_TITLE}/{au}", articles, big)


# --- the archive --------------------------------------------------------------------------


@dataclass
class BenchArchive:
    """A local archive (real SeaweedFS + moto) without its router, so nothing but the
    benchmark ingests or polls; `env` is what a Lambda handler would see, for the children."""

    data_dir: Path
    local: object  # strongroom.local.runtime.LocalArchive
    env: dict[str, str]
    ingested: dict[str, Measured] = field(default_factory=dict)

    def s3(self):
        from strongroom.local import runtime

        return runtime.clients(self.local.endpoints).s3

    def upload(self, pkg: BenchPackage) -> None:
        """Put the package where a publisher would (not timed: the push is the publisher's)."""
        from boto3.s3.transfer import TransferConfig

        self.s3().upload_file(
            str(pkg.path),
            self.local.endpoints.ingest_bucket,
            pkg.key,
            Config=TransferConfig(multipart_chunksize=64 * MB, max_concurrency=4),
        )

    def ingest(self, pkg: BenchPackage) -> Measured:
        """Upload the package (untimed), then ingest it in a child process of its own (timed),
        once per run: whichever benchmark needs the AU first measures its ingest, the other
        reuses that measurement rather than ingest the same package twice (a duplicate)."""
        if pkg.au not in self.ingested:
            self.upload(pkg)
            m = run(
                "strongroom ingest",
                [sys.executable, "-m", "tests.bench.bench_ingest", "--child", pkg.key],
                env=self.env,
                json_out=True,
            )
            if m.report.get("status") != "preserved":
                raise RuntimeError(f"the ingest of {pkg.key} ended {m.report}")
            self.ingested[pkg.au] = m
        return self.ingested[pkg.au]


_ARCHIVE: BenchArchive | None = None


def archive() -> BenchArchive:
    """The benchmarks' archive, started on first use and stopped when the run ends, so
    `make bench` starts SeaweedFS once and the audit can poll what the ingest stored."""
    global _ARCHIVE
    if _ARCHIVE is not None:
        return _ARCHIVE
    from strongroom.local import runtime, template
    from strongroom.local.servers import Ports

    # Ports of its own (not STRONGROOM_LOCAL_PORTS), so a demo or the tests can run meanwhile.
    b = int(os.environ.get("STRONGROOM_BENCH_PORTS", "28333"))
    keep = os.environ.get("STRONGROOM_BENCH_DATA")
    data_dir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="strongroom-bench-", dir=cache_dir().parent))
    local = runtime.LocalArchive.start(data_dir, ports=Ports(b, b + 1, b + 2, b + 3, b + 4), router=False)
    env = dict(os.environ)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        env.pop(name, None)
    env.update(runtime.lambda_environment(local.endpoints, template.load()))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    _ARCHIVE = BenchArchive(data_dir, local, env)

    def stop() -> None:
        local.stop()
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)

    atexit.register(stop)
    # A benchmark stopped by SIGTERM (timeout, kill) should still stop its servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"  local archive in {data_dir} (S3 at {local.endpoints.s3})", flush=True)
    return _ARCHIVE


# --- measuring children ----------------------------------------------------------------------


@dataclass
class Measured:
    """One child process: wall time, its own CPU (user+sys, with any children it waited for),
    peak RSS, and whatever JSON it printed on its last stdout line."""

    what: str
    wall: float
    user: float
    sys: float
    maxrss: int | None  # bytes; None when it could not be seen
    disk_written: int = 0  # bytes the child wrote to disk (scratch space), from ru_oublock
    report: dict = field(default_factory=dict)

    @property
    def cpu(self) -> float:
        return self.user + self.sys


def own_peak_rss() -> int | None:
    """This process's peak RSS (VmHWM) in bytes. Not ru_maxrss: on Linux a child's ru_maxrss
    keeps the high-water mark of the process it was forked from (here the benchmark driver,
    ~90 MB), so every small tool would seem to need at least that much."""
    return _vmhwm("self")


def _vmhwm(pid) -> int | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def run(what: str, argv: list[str], *, env: dict[str, str] | None = None, json_out: bool = False) -> Measured:
    """Run argv to completion: CPU from os.wait4 (the child's rusage, not ours), peak RSS from
    the child's VmHWM (its own report when it prints JSON with peak_rss, else sampled)."""
    out = tempfile.TemporaryFile()
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.PIPE if json_out else None)
    peak: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            v = _vmhwm(proc.pid)
            if v is not None:
                peak.append(v)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    text = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(
            f"{what} failed (status {proc.returncode}): {' '.join(argv)[:300]}\n{text[-2000:]}\n{err[-4000:]}"
        )
    if err.strip():
        sys.stderr.write(err)
    report = json.loads(text.strip().splitlines()[-1]) if json_out else {}
    maxrss = report.get("peak_rss") or (max(peak) if peak else None)
    return Measured(what, wall, usage.ru_utime, usage.ru_stime, maxrss, usage.ru_oublock * 512, report)


def checksum_files(tool: str, root: Path) -> list[str]:
    """`tool` (sha256sum, sha512sum) over every file under root in one process, so its CPU and
    memory are seen; through xargs only if the list is too long for one command line."""
    files = sorted(str(p) for p in root.rglob("*") if p.is_file())
    if sum(len(f) + 1 for f in files) < 1_000_000:
        return [tool, *files]
    return ["sh", "-c", f"find {shlex.quote(str(root))} -type f -print0 | xargs -0 {tool} > /dev/null"]


# --- counting S3 traffic inside a child --------------------------------------------------------


class S3Traffic:
    """Bytes and requests that pass through this process's boto3 clients, by operation.

    Registered on the default boto3 session before any client exists, so every client the
    archive makes (strongroom.handlers.compose) inherits the handlers. Bytes read: GetObject bodies as the
    caller reads them. Bytes written: request bodies of PutObject / UploadPart as sent
    (server-side copies carry none, which is the point).
    """

    def __init__(self) -> None:
        import boto3

        self.requests: dict[str, int] = {}
        self.read = 0
        self.written = 0
        boto3.setup_default_session()
        events = boto3.DEFAULT_SESSION.events
        events.register("before-send.s3", self._sent)
        events.register("after-call.s3.GetObject", self._got)

    def _sent(self, request, event_name: str, **_):
        op = event_name.rsplit(".", 1)[-1]
        self.requests[op] = self.requests.get(op, 0) + 1
        if op in ("PutObject", "UploadPart"):
            h = request.headers
            n = h.get("x-amz-decoded-content-length") or h.get("Content-Length") or 0
            self.written += int(n)
        return None

    def _got(self, parsed, **_):
        body = parsed.get("Body")
        if body is None:
            return
        # StreamingBody.read reads its raw stream, and `with body as f` hands out the raw stream
        # itself (strongroom's stores read that way): count there, once.
        body = getattr(body, "_raw_stream", body)
        read = body.read

        def counted(amt=None):
            data = read(amt)
            self.read += len(data)
            return data

        body.read = counted

    def as_dict(self) -> dict:
        return {
            "s3_read": self.read,
            "s3_written": self.written,
            "s3_requests": dict(sorted(self.requests.items())),
            "s3_request_count": sum(self.requests.values()),
        }


# --- printing ------------------------------------------------------------------------------


def table(headers: list[str], rows: list[list], *, out=sys.stdout) -> str:
    """A plain-text table (also valid Markdown), numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(_is_number(r[i]) for r in rows) for i in range(len(headers))]

    def line(r):
        return (
            "| "
            + " | ".join(c.rjust(w) if numeric[i] else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
            + " |"
        )

    text = "\n".join(
        [
            line(cells[0]),
            "|"
            + "|".join(("-" * (w + 1) + ":") if numeric[i] else ("-" * (w + 2)) for i, w in enumerate(widths))
            + "|",
        ]
        + [line(r) for r in cells[1:]]
    )
    print(text, file=out, flush=True)
    return text


def _is_number(c) -> bool:
    return isinstance(c, (int, float)) or c in ("", "—")


def _fmt(c) -> str:
    if isinstance(c, float):
        return f"{c:,.2f}" if abs(c) < 1000 else f"{c:,.0f}"
    if isinstance(c, int):
        return f"{c:,}"
    return str(c)


def mb(n: int | None) -> float | str:
    return n / MB if n else "—"


def ratio(a: float, b: float) -> float | str:
    return a / b if b else "—"
