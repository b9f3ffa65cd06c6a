"""Release benchmarks: how long a 1,000-article AU takes from trigger to public, and how our
steps compare with the tools people would otherwise use.

  (a) render of one title with one 1,000-article AU (deposited files + a web harvest), per part
      (files, WARC, CDXJ, pywb, WACZ, site, search) from RenderReport, run in a child process so
      its peak memory is its own; and ``poll_seconds``: the poll that opens a release, over an
      in-memory twelve-node archive holding the same package (no network: the floor of that step).
  (b) site pages per second, ours vs Hugo (Debian's ``hugo``) building comparable pages from the
      same article metadata (title, authors, abstract, citation meta tags), side by side.
  (c) our WARC + CDXJ parts vs pywb's ``wb-manager init`` + ``wb-manager add`` of the same WARC.

Benchmarks measure, never assert. Input is generated once with strongroom.local.demo.samples and cached
(STRONGROOM_BENCH_CACHE, default $TMPDIR/strongroom-bench-cache; STRONGROOM_BENCH_RELEASE_ARTICLES
changes the size). Run: ``make bench`` or ``python -m tests.bench release``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PUBLISHER, TITLE, AU = "benchpub", "jrel", "2024"
SITE_URL, REPLAY_URL = "https://archive.example", "https://replay.archive.example"
HUGO_RUNS = 3


def articles_wanted() -> int:
    return int(os.environ.get("STRONGROOM_BENCH_RELEASE_ARTICLES", "1000"))


def cache_root() -> Path:
    base = os.environ.get("STRONGROOM_BENCH_CACHE") or Path(tempfile.gettempdir()) / "strongroom-bench-cache"
    root = Path(base) / f"release-{articles_wanted()}"
    root.mkdir(parents=True, exist_ok=True)
    return root


# --- input ------------------------------------------------------------------------------------


def journal():
    from strongroom.local.demo.samples import JournalSpec

    return JournalSpec(
        publisher=PUBLISHER,
        title=TITLE,
        publisher_name="Bench Academic Press",
        journal_title="Journal of Release Benchmarks",
        year=2024,
        volume=12,
        issues=4,
    )


def cached_input() -> tuple[Path, Path]:
    """(the package as deposited, its bag unpacked): made once, reused while the cache lives."""
    from strongroom.local.demo.samples import make_articles, make_package
    from strongroom.local.demo.site import unpack

    root = cache_root()
    done = root / "ready"
    package, bags = root / "packages", root / "bags"
    if not done.exists():
        shutil.rmtree(package, ignore_errors=True)
        shutil.rmtree(bags, ignore_errors=True)
        start = time.perf_counter()
        made = make_package(
            package,
            publisher=PUBLISHER,
            title=TITLE,
            au=AU,
            articles=make_articles(articles_wanted(), 11, journal()),
            fmt="zip",
            warc=True,
            seed=11,
        )
        unpack(made, bags)
        done.write_text(made.name)
        print(f"generated {articles_wanted()} articles in {time.perf_counter() - start:.1f} s into {root}", flush=True)
    made = package / done.read_text().strip()
    (bag,) = [p for p in bags.iterdir() if p.is_dir()]
    return made, bag


def released_titles(bag: Path):
    from strongroom.local.demo.samples import CC_BY
    from strongroom.local.demo.site import CC_BY_NAME
    from strongroom.render.from_bag import released_au_from_bags
    from strongroom.render.model import ReleasedTitle

    spec = journal()
    au = released_au_from_bags(
        f"{PUBLISHER}/{TITLE}/{AU}", [bag], ocfl_version="v1", deposited=datetime(2025, 1, 5, 9, 0, tzinfo=UTC)
    )
    return [
        ReleasedTitle(
            publisher_id=PUBLISHER,
            publisher_name=spec.publisher_name,
            title_id=TITLE,
            journal_title=spec.journal_title,
            issn=spec.issn,
            eissn=spec.eissn,
            license_id="CC-BY-4.0",
            license_url=CC_BY,
            license_name=CC_BY_NAME,
            trigger="publisher-ceased",
            trigger_date=date(2025, 1, 15),
            release_date=date(2025, 3, 1),
            attestation_url=None,
            aus=(au,),
        )
    ]


# --- (a) render, in a child ---------------------------------------------------------------------


def render_child(bag: Path, out: Path) -> None:
    """Runs in the child: render, then print the report and this process's peak memory as JSON."""
    from strongroom.render import render_release

    titles = released_titles(bag)
    start = time.perf_counter()
    report = render_release(titles, out, site_base_url=SITE_URL, replay_base_url=REPLAY_URL, now=NOW)
    wall = time.perf_counter() - start
    print(
        json.dumps(
            {
                "report": report.as_dict(),
                "wall": wall,
                "maxrss_self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "maxrss_children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                "warc": [str(p) for p in sorted((out / "replay" / "collections").glob("*/archive/*.warc.gz"))],
            }
        )
    )


def timed_process(cmd: list[str], cwd: Path | None = None) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in kB of the process and its waited-for children, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {stderr[-2000:]}")
    # communicate() reaped it, so its usage is in RUSAGE_CHILDREN; the max is the largest child so far.
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, stdout


def render(bag: Path, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "tests.bench.bench_release", "render-child", str(bag), str(out)]
    wall, _, stdout = timed_process(cmd, cwd=REPO)
    result = json.loads(stdout.strip().splitlines()[-1])
    result["process_wall"] = wall
    return result


# --- (a) the poll that opens a release ------------------------------------------------------------


def poll_seconds(package: Path, scratch: Path) -> dict:
    """Ingest the package into twelve in-memory nodes (not timed), then time one run_poll of its AU.

    The hook for the trigger-to-public figure: release = poll + render + publish. Memory nodes
    make this the poll's CPU floor (hashing every copy with a fresh nonce); real nodes add I/O.
    """
    from strongroom.config import settings
    from strongroom.flows.audit import run_poll
    from strongroom.flows.ingest import Archive, NodeStore, ingest_package
    from tests.fakes import MemoryBlobStore, MemoryCatalog

    cfg = settings()
    scratch.mkdir(parents=True, exist_ok=True)
    archive = Archive(
        ingest=MemoryBlobStore("ingest"),
        nodes=[NodeStore(n, MemoryBlobStore(n.bucket)) for n in cfg.nodes],
        catalog=MemoryCatalog(),
        limits=cfg.limits,
        audit=cfg.audit,
        clock=lambda: NOW,
        scratch=scratch,
    )
    key = f"incoming/{PUBLISHER}/{TITLE}/{AU}/{package.name}"
    archive.ingest.put(key, package.read_bytes())
    start = time.perf_counter()
    outcome = ingest_package(archive, key)
    ingest = time.perf_counter() - start
    if outcome.status != "preserved":
        raise RuntimeError(f"the bench package was not preserved: {outcome}")
    au = f"{PUBLISHER}/{TITLE}/{AU}"
    start = time.perf_counter()
    report = run_poll(archive, au, now=NOW)
    poll = time.perf_counter() - start
    return {
        "poll_seconds": poll,
        "ingest_seconds": ingest,
        "nodes": len(archive.nodes),
        "outcome": f"{report.status}, {report.agreement}/{len(archive.nodes)} agree",
        "files": sum(1 for k in archive.nodes[0].store.objects if "/content/" in k),
    }


# --- (b) Hugo --------------------------------------------------------------------------------------

HUGO_CONFIG = """baseURL = "https://archive.example/"
languageCode = "en"
title = "Hugo comparison site"
disableKinds = ["taxonomy", "term", "RSS"]
[markup.goldmark.renderer]
unsafe = false
"""
HUGO_SINGLE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ .Title }} · {{ .Site.Title }}</title>
<link rel="canonical" href="{{ .Permalink }}">
<meta name="citation_title" content="{{ .Title }}">
{{ range .Params.authors }}<meta name="citation_author" content="{{ .citation }}">
{{ end }}<meta name="citation_doi" content="{{ .Params.doi }}">
<meta name="citation_journal_title" content="{{ .Params.journal }}">
<meta name="citation_issn" content="{{ .Params.issn }}">
<meta name="citation_volume" content="{{ .Params.volume }}">
<meta name="citation_issue" content="{{ .Params.issue }}">
<meta name="citation_publication_date" content="{{ .Params.citation_date }}">
<meta name="citation_pdf_url" content="{{ .Params.pdf_url }}">
<link rel="license" href="{{ .Params.license_url }}">
</head><body>
<a class="skip" href="#main">Skip to content</a>
<header role="banner"><a href="{{ .Site.BaseURL }}">{{ .Site.Title }}</a></header>
<main id="main"><article>
<p>{{ .Params.journal }}, volume {{ .Params.volume }}, issue {{ .Params.issue }} · published {{ .Params.pub_date }}</p>
<h1>{{ .Title }}</h1>
<ul aria-label="Authors">{{ range .Params.authors }}<li>{{ .name }}{{ with .orcid }} <a href="{{ . }}">ORCID</a>{{ end }}</li>{{ end }}</ul>
<p>DOI: <a href="https://doi.org/{{ .Params.doi }}">https://doi.org/{{ .Params.doi }}</a></p>
<section><h2>Abstract</h2><p>{{ .Params.abstract }}</p></section>
<section><h2>License</h2><p>“{{ .Title }}” is available under
<a rel="license" href="{{ .Params.license_url }}">{{ .Params.license_name }}</a>.</p></section>
</article></main>
<footer role="contentinfo">Released content</footer>
</body></html>
"""
HUGO_LIST = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ .Title }}</title></head><body><main><h1>{{ .Title }}</h1>
<ul>{{ range .Pages }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a></li>{{ end }}</ul></main></body></html>
"""


def ensure_hugo() -> str | None:
    """Debian's hugo, installed with apt when missing and we may (root); None when it cannot be had."""
    found = shutil.which("hugo")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("installing Debian's hugo for the comparison ...", flush=True)
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "hugo"]):
        if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode:
            return None
    return shutil.which("hugo")


def write_hugo_site(titles, root: Path) -> int:
    """A Hugo site whose article pages carry what ours do at their core; returns the article count."""
    shutil.rmtree(root, ignore_errors=True)
    (root / "layouts" / "_default").mkdir(parents=True)
    (root / "config.toml").write_text(HUGO_CONFIG, encoding="utf-8")
    (root / "layouts" / "_default" / "single.html").write_text(HUGO_SINGLE, encoding="utf-8")
    (root / "layouts" / "_default" / "list.html").write_text(HUGO_LIST, encoding="utf-8")
    (root / "layouts" / "index.html").write_text(HUGO_LIST, encoding="utf-8")
    count = 0
    for title in titles:
        for au in title.aus:
            section = root / "content" / title.title_id / au.au
            section.mkdir(parents=True, exist_ok=True)
            (section / "_index.md").write_text(f"---\ntitle: {title.journal_title} {au.au}\n---\n", encoding="utf-8")
            for entry in au.articles:
                a = entry.article
                pdf = entry.pdf
                front = {
                    "title": a.title,
                    "doi": a.doi,
                    "journal": title.journal_title,
                    "issn": title.issn,
                    "volume": a.volume,
                    "issue": a.issue,
                    "pub_date": a.pub_date,
                    "citation_date": (a.pub_date or "").replace("-", "/"),
                    "abstract": a.abstract,
                    "license_url": title.license_url,
                    "license_name": title.license_name,
                    "pdf_url": f"{SITE_URL}/{pdf.path}" if pdf else "",
                    "authors": [
                        {
                            "name": f"{p.given or ''} {p.surname or ''}".strip(),
                            "orcid": p.orcid or "",
                            "citation": f"{p.surname}, {p.given}",
                        }
                        for p in a.authors
                    ],
                }
                slug = entry.xml_path.split("/")[-2] if entry.xml_path else a.doi.replace("/", "-")
                body = "---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False) + "---\n"
                (section / f"{slug}.md").write_text(body, encoding="utf-8")
                count += 1
    return count


def hugo_runs(hugo: str, root: Path) -> tuple[list[float], int]:
    walls = []
    pages = 0
    for _ in range(HUGO_RUNS):
        shutil.rmtree(root / "public", ignore_errors=True)
        wall, _, _ = timed_process([hugo, "--quiet"], cwd=root)
        walls.append(wall)
        pages = sum(1 for _ in (root / "public").rglob("*.html"))
    return walls, pages


# --- (c) wb-manager -------------------------------------------------------------------------------


def wb_manager(warcs: list[Path], root: Path) -> dict:
    """pywb's own way to a collection: init, then add (copies the WARC in and writes its CDXJ)."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    tool = str(BIN / "wb-manager")
    init, _, _ = timed_process([tool, "init", "bench"], cwd=root)
    add, rss, _ = timed_process([tool, "add", "bench", *map(str, warcs)], cwd=root)
    lines = sum(
        len(p.read_text("utf-8").splitlines()) for p in (root / "collections" / "bench" / "indexes").glob("*.cdxj")
    )
    return {"init": init, "add": add, "cdxj_lines": lines}


# --- the table ----------------------------------------------------------------------------------


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)


def mb(kb: int) -> str:
    return f"{kb / 1024:.0f} MB"


def main() -> None:
    package, bag = cached_input()
    work = Path(tempfile.mkdtemp(prefix="strongroom-bench-release-"))
    try:
        n = articles_wanted()
        hugo = ensure_hugo()
        if hugo:  # Hugo first, render, Hugo again: the two share the machine's state of the moment
            titles = released_titles(bag)
            hugo_articles = write_hugo_site(titles, work / "hugo")
            first_hugo, _ = hugo_runs(hugo, work / "hugo")
        result = render(bag, work / "release")
        rep = result["report"]
        sec = rep["seconds"]
        pages = rep["counts"]["pages"]
        if hugo:
            later_hugo, hugo_pages = hugo_runs(hugo, work / "hugo")
            hugo_walls = first_hugo + later_hugo
        poll = poll_seconds(package, work / "poll")
        warcs = [Path(p) for p in result["warc"]]
        wb = wb_manager(warcs, work / "wb")

        print(
            f"\nrelease of one title, one AU of {n} articles ({rep['counts']['files']} files, "
            f"{rep['bytes']['files'] / 1e6:.1f} MB deposited, harvest WARC included); machine: "
            f"{os.cpu_count()} cores, shared, one run"
        )
        rows = [
            (f"render part {p}", f"{sec[p]:7.2f} s")
            for p in ("files", "warc", "cdxj", "pywb", "wacz", "site", "search")
        ]
        rows += [
            (
                "render total (parts)",
                f"{rep['total_seconds']:7.2f} s   (render_release wall {result['wall']:.2f} s, "
                f"child process {result['process_wall']:.2f} s with input description)",
            ),
            ("search index", rep["search"]),
            (
                "render peak RSS",
                f"{mb(result['maxrss_self_kb'])} (render process), "
                f"{mb(result['maxrss_children_kb'])} (its largest child, pagefind; ru_maxrss carries over a fork, "
                "so this is an upper bound)",
            ),
            (
                "poll_seconds",
                f"{poll['poll_seconds']:7.2f} s   (run_poll, {poll['nodes']} in-memory nodes, "
                f"outcome {poll['outcome']}; ingest took {poll['ingest_seconds']:.1f} s)",
            ),
            (
                "trigger to public",
                f"{poll['poll_seconds'] + rep['total_seconds']:7.2f} s   (poll + render; "
                "publishing to the bucket not included)",
            ),
            (
                "output",
                f"{rep['counts']['pages']} pages, {rep['counts']['warc_records']} WARC records, "
                f"{rep['counts']['cdxj_lines']} CDXJ lines, WARC {rep['bytes']['warc'] / 1e6:.1f} MB, "
                f"WACZ {rep['bytes']['wacz'] / 1e6:.1f} MB, site {rep['bytes']['site'] / 1e6:.1f} MB",
            ),
        ]
        print(table(rows))

        print("\nsite pages per second, ours vs Hugo (same articles, side by side)")
        ours_rate = pages / sec["site"]
        rows = [
            (
                "ours (site part)",
                f"{pages} pages in {sec['site']:.2f} s = {ours_rate:,.0f} pages/s "
                "(article, volume, title, publisher, home pages + KBART + sitemap)",
            )
        ]
        if hugo:
            med = statistics.median(hugo_walls)
            hugo_rate = hugo_pages / med
            rows += [
                (
                    "hugo --quiet",
                    f"{hugo_pages} pages in {med:.2f} s (median of {len(hugo_walls)}: "
                    f"{', '.join(f'{w:.2f}' for w in hugo_walls)}) = {hugo_rate:,.0f} pages/s "
                    f"({hugo_articles} article pages + lists + sitemap)",
                ),
                ("ratio ours / hugo", f"{ours_rate / hugo_rate:.2f}x pages/s"),
            ]
        else:
            rows.append(("hugo", "not installed and could not be installed (needs root and apt-get): skipped"))
        print(table(rows))

        ours_wc = sec["warc"] + sec["cdxj"]
        print("\nWARC + CDXJ, ours vs pywb's wb-manager on the same WARC")
        print(
            table(
                [
                    (
                        "ours: warc + cdxj parts",
                        f"{ours_wc:.2f} s  (warc {sec['warc']:.2f} s writes the WARC from the "
                        f"files, cdxj {sec['cdxj']:.2f} s indexes it: {rep['counts']['cdxj_lines']} lines)",
                    ),
                    ("wb-manager init", f"{wb['init']:.2f} s"),
                    (
                        "wb-manager add",
                        f"{wb['add']:.2f} s  (copies the WARC in, indexes it: {wb['cdxj_lines']} lines)",
                    ),
                    (
                        "wb-manager add - init",
                        f"{wb['add'] - wb['init']:.2f} s  (add less the tool's start-up, which init "
                        "roughly is: importing pywb)",
                    ),
                    ("ratio wb-manager (init+add) / ours", f"{(wb['init'] + wb['add']) / ours_wc:.2f}x"),
                    ("ratio (wb-manager add - init) / our cdxj", f"{(wb['add'] - wb['init']) / sec['cdxj']:.2f}x"),
                ]
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "render-child":
        render_child(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        main()
