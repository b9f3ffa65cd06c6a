"""render_release: everything a release publishes, written into one output directory.

    out/site/      the static site (pages, file copies, WACZs, KBART, sitemap, search)
    out/replay/    the pywb root (config.yaml, collections/<title-id>/...)

Order matters and is fixed: preserved files are streamed once from their node into the
site (verified against their sha256), and every later step reads those local copies, so
a node is read once per file however many outputs use it. Then the WARCs, their CDXJ,
the pywb collections, the WACZs (they embed the WARC), KBART, the pages (they show the
WACZ size and digest), and last the search index (it reads the pages).

Pass every released title, not only the newly released ones: the home page, sitemap and
KBART list what they are given. Rendering is deterministic apart from timestamps taken
from ``now``, so re-running a release gives the same site.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from strongroom.render import cdxj, kbart, pywb, search, site, wacz, warc
from strongroom.render.model import ReleasedArticle, ReleasedAu, ReleasedTitle, opener
from strongroom.render.urls import SitePlan, file_site_path, wacz_site_path

PARTS = ("files", "warc", "cdxj", "pywb", "wacz", "site", "search")


@dataclass
class RenderReport:
    """What one render wrote, how much, and how long each part took (for the benchmarks)."""

    out: Path
    site_root: Path
    replay_root: Path
    paths: list[str] = field(default_factory=list)  # relative to out, sorted
    counts: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=lambda: {p: 0.0 for p in PARTS})
    search: str = "json"  # "pagefind" when the Pagefind bundle was built
    warnings: list[str] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    def as_dict(self) -> dict:
        return {
            "out": str(self.out),
            "paths": len(self.paths),
            "counts": self.counts,
            "bytes": self.bytes,
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
            "total_seconds": round(self.total_seconds, 4),
            "search": self.search,
            "warnings": self.warnings,
        }


@contextmanager
def _timed(report: RenderReport, part: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        report.seconds[part] = report.seconds.get(part, 0.0) + time.perf_counter() - start


def _local(title: ReleasedTitle, site_root: Path) -> ReleasedTitle:
    """The same title with every file opened from its verified copy in the site."""
    aus = []
    for au in title.aus:
        swapped = {f.path: replace(f, open=opener(site_root / file_site_path(au, f))) for f in au.files}
        articles = tuple(
            ReleasedArticle(e.article, tuple(swapped[f.path] for f in e.files), e.xml_path) for e in au.articles
        )
        aus.append(
            ReleasedAu(au.au_id, au.ocfl_version, articles, tuple(swapped[f.path] for f in au.files), au.deposited)
        )
    return replace(title, aus=tuple(aus))


def render_release(
    titles: list[ReleasedTitle],
    out: Path,
    *,
    site_base_url: str,
    replay_base_url: str,
    now: datetime,
    provider: str = "strongroom",
    use_pagefind: bool | None = None,
) -> RenderReport:
    """Render the released titles into out/site and out/replay; see the module docstring for the layout."""
    out = Path(out)
    site_root, replay_root = out / "site", out / "replay"
    report = RenderReport(out, site_root, replay_root)
    plan = SitePlan(titles, site_base_url)
    written: list[Path] = []

    with _timed(report, "files"):
        copied = 0
        for title in titles:
            for au in title.aus:
                for f in au.files:
                    copied += site.copy_file(f, site_root / file_site_path(au, f))
                    written.append(site_root / file_site_path(au, f))
        local = [_local(t, site_root) for t in titles]
    report.bytes["files"] = copied

    warcs: dict[str, warc.TitleWarc] = {}
    cdxj_lines = 0
    for title in local:
        with _timed(report, "warc"):
            result = warc.write_title_warc(title, plan, pywb.warc_path(replay_root, title), now=now)
            warcs[title.collection] = result
            written.append(result.path)
        with _timed(report, "cdxj"):
            index = pywb.index_path(replay_root, title)
            cdxj_lines += cdxj.write_cdxj(result.path, index)
            written.append(index)
        with _timed(report, "pywb"):
            written += pywb.write_collection(replay_root, title, plan)
    with _timed(report, "pywb"):
        written.append(pywb.write_config(replay_root))

    downloads: dict[str, site.Download] = {}
    wacz_pages = 0
    with _timed(report, "wacz"):
        for title in local:
            made = wacz.write_wacz(title, plan, warcs[title.collection], site_root / wacz_site_path(title), now=now)
            downloads[title.collection] = site.Download(wacz_site_path(title), made.size, made.sha256)
            wacz_pages += made.pages
            written.append(made.path)

    if use_pagefind is None:
        use_pagefind = search.pagefind_available()
    with _timed(report, "site"):
        kbart_path = kbart.kbart_path(provider, now.date())
        written.append(kbart.write_kbart(local, plan, site_root, kbart_path))
        rendered = site.SiteRenderer(
            local,
            site_root,
            plan,
            warcs,
            downloads,
            replay_base_url=replay_base_url,
            kbart_path=kbart_path,
            search_kind="pagefind" if use_pagefind else "json",
            now=now,
        ).render()
        written += rendered.files

    with _timed(report, "search"):
        written.append(search.write_json_index(rendered.search_entries, site_root))
        if use_pagefind:
            try:
                bundle = search.run_pagefind(site_root)
                written += [p for p in bundle.rglob("*") if p.is_file()]
                report.search = "pagefind"
            except (OSError, RuntimeError) as exc:  # the JSON index still serves the search box
                report.warnings.append(f"Pagefind did not run, the site searches its JSON index instead: {exc}")

    report.paths = sorted({p.relative_to(out).as_posix() for p in written})
    report.counts = {
        "titles": len(titles),
        "aus": sum(len(t.aus) for t in titles),
        "articles": sum(len(au.articles) for t in titles for au in t.aus),
        "files": sum(len(au.files) for t in titles for au in t.aus),
        "warc_records": sum(w.records for w in warcs.values()),
        "harvested_records": sum(w.harvested_records for w in warcs.values()),
        "deposited_records": sum(w.deposited_records for w in warcs.values()),
        "skipped_for_harvest": sum(len(w.skipped_for_harvest) for w in warcs.values()),
        "cdxj_lines": cdxj_lines,
        "pages": len(rendered.pages),
        "wacz_pages": wacz_pages,
    }
    report.bytes.update(
        {
            "warc": sum(w.path.stat().st_size for w in warcs.values()),
            "wacz": sum(d.size for d in downloads.values()),
            "site": sum(p.stat().st_size for p in site_root.rglob("*") if p.is_file()),
            "replay": sum(p.stat().st_size for p in replay_root.rglob("*") if p.is_file()),
        }
    )
    return report
