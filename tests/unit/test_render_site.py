"""The released site: a page per article with citation tags, JSON-LD and the license; metadata stays text;
nothing is fetched from outside; the sitemap, robots and KBART are right; pages are accessible."""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

import pytest

from strongroom.local.demo.site import sample_titles
from strongroom.render import ReleasedArticle, render_release
from strongroom.render.kbart import COLUMNS
from strongroom.render.templating import human_size
from strongroom.render.urls import SitePlan

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SITE = "https://archive.example/released"
REPLAY = "https://replay.archive.example"
HOSTILE = '</script><script>alert("owned")</script> <b>Bold</b> & {{ 7*7 }} “quoted”'
RESOURCE_TAGS = {
    "script": "src",
    "img": "src",
    "iframe": "src",
    "audio": "src",
    "video": "src",
    "source": "src",
    "track": "src",
    "embed": "src",
    "object": "data",
    "input": "src",
}
LOADING_RELS = {"stylesheet", "icon", "preload", "prefetch", "modulepreload", "manifest", "apple-touch-icon"}


class Page(HTMLParser):
    """A parsed page: elements with their attributes, text, and the raw contents of script elements."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.scripts: list[tuple[dict, str]] = []
        self._in_script: dict | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = {k: (v if v is not None else "") for k, v in attrs}
        self.elements.append((tag, attrs))
        if tag == "script":
            self._in_script = attrs

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None:
            self.scripts.append((self._in_script, data))
        else:
            self.text.append(data)

    def all(self, tag: str) -> list[dict]:
        return [a for t, a in self.elements if t == tag]

    def meta(self, name: str) -> list[str]:
        return [a["content"] for a in self.all("meta") if a.get("name") == name]

    @property
    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())


def hostile(titles):
    """The Lakeside title with its first article's title replaced by markup and template syntax."""
    title = titles[1]
    au = title.aus[0]
    first = au.articles[0]
    swapped = ReleasedArticle(replace(first.article, title=HOSTILE), first.files, first.xml_path)
    return [titles[0], replace(title, aus=(replace(au, articles=(swapped,) + au.articles[1:]),))]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("release")
    titles = hostile(sample_titles(root / "in", articles=3))
    report = render_release(titles, root / "out", site_base_url=SITE, replay_base_url=REPLAY, now=NOW)
    return titles, report


def pages(site: Path) -> dict[str, Path]:
    return {p.relative_to(site).as_posix(): p for p in site.rglob("*.html") if "pagefind" not in p.parts}


def read(path: Path) -> Page:
    return Page(path.read_text("utf-8"))


def test_the_layout_and_report(release):
    titles, report = release
    site = report.site_root
    for expected in (
        "index.html",
        "robots.txt",
        "sitemap.xml",
        "assets/site.css",
        "search/index.json",
        "northfield-society/index.html",
        "northfield-society/jmbe/index.html",
        "northfield-society/jmbe/2023/index.html",
        "lakeside-up/lrh/2024/articles/lrh.2024.1/index.html",
        "lakeside-up/lrh/lakeside-up-lrh.wacz",
        "kbart/strongroom_AllTitles_2025-03-01.txt",
    ):
        assert (site / expected).is_file(), expected
    assert report.counts["articles"] == 9 and report.counts["pages"] == len(pages(site))
    assert set(report.seconds) >= {"warc", "cdxj", "pywb", "site", "wacz", "search"}
    assert all(path in report.paths for path in ("site/index.html", "replay/config.yaml"))
    assert report.bytes["warc"] > 0 and report.bytes["wacz"] > report.bytes["warc"] // 2


def test_every_article_has_its_page_with_citation_tags_json_ld_and_license(release):
    titles, report = release
    plan = SitePlan(titles, SITE)
    for title in titles:
        for au in title.aus:
            for place in plan.places(au):
                art = place.entry.article
                page = read(report.site_root / place.page_dir / "index.html")
                assert page.meta("citation_title") == [art.title]
                assert page.meta("citation_author") == [f"{a.surname}, {a.given}" for a in art.authors]
                assert page.meta("citation_doi") == [art.doi]
                assert page.meta("citation_journal_title") == [title.journal_title]
                assert page.meta("citation_issn") == [title.issn, title.eissn]
                assert page.meta("citation_volume") == [art.volume] and page.meta("citation_issue") == [art.issue]
                assert page.meta("citation_firstpage") == [art.fpage or art.elocation_id]
                assert page.meta("citation_lastpage") == ([art.lpage] if art.lpage else [])
                assert page.meta("citation_publication_date") == [art.pub_date.replace("-", "/")]
                (pdf_url,) = page.meta("citation_pdf_url")
                assert pdf_url.startswith(SITE + "/") and pdf_url.endswith("/article.pdf")
                pdf_copy = report.site_root / unquote(pdf_url[len(SITE) + 1 :])
                assert pdf_copy.read_bytes().startswith(b"%PDF-")

                (ld,) = [json.loads(body) for attrs, body in page.scripts if attrs.get("type") == "application/ld+json"]
                assert ld["@type"] == "ScholarlyArticle" and ld["license"] == title.license_url
                assert ld["name"] == art.title and ld["identifier"]["value"] == art.doi
                assert [a["name"] for a in ld["author"]] == [a.name for a in art.authors]
                assert {e["sha256"] for e in ld["encoding"]} == {f.sha256 for f in place.entry.files}

                licenses = [a for a in page.all("a") if "license" in a.get("rel", "").split()]
                assert [a["href"] for a in licenses] == [title.license_url]
                assert "is available under" in page.visible and title.license_name in page.visible
                hrefs = {a["href"] for a in page.all("a")}
                assert f"https://doi.org/{art.doi}" in hrefs
                replay = [h for h in hrefs if h.startswith(REPLAY)]
                assert len(replay) == 1 and re.match(rf"{REPLAY}/{title.collection}/\d{{14}}/https?://", replay[0])
                for f in place.entry.files:  # downloads with sizes and digests
                    assert f.sha256 in page.visible
                    assert (report.site_root / place.au.au_id / "files" / f.path).stat().st_size == f.size


def test_markup_in_metadata_is_shown_as_text(release):
    titles, report = release
    html = (report.site_root / "lakeside-up/lrh/2024/articles/lrh.2024.1/index.html").read_text("utf-8")
    page = Page(html)
    assert HOSTILE in page.visible  # the reader sees exactly the characters of the title
    assert page.meta("citation_title") == [HOSTILE]
    assert '<script>alert("owned")' not in html and "<b>Bold</b>" not in html
    # Only the page's own script elements exist: the JSON-LD one, whose text still parses to the title.
    assert [a.get("type") for a in page.all("script")] == ["application/ld+json"]
    (body,) = [body for attrs, body in page.scripts]
    assert "</script" not in body.lower() and json.loads(body)["name"] == HOSTILE
    volume = read(report.site_root / "lakeside-up/lrh/2024/index.html")
    assert HOSTILE in volume.visible and not [a for a in volume.all("script")]


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    if not parts.scheme and not parts.netloc:
        return True
    return url.startswith(SITE + "/")


def test_no_page_fetches_anything_from_outside_the_site(release):
    _, report = release
    checked = 0
    for name, path in pages(report.site_root).items():
        page = read(path)
        for tag, attrs in page.elements:
            if tag in RESOURCE_TAGS and attrs.get(RESOURCE_TAGS[tag]):
                assert _is_local(attrs[RESOURCE_TAGS[tag]]), (name, tag, attrs)
                checked += 1
            if tag == "link" and set(attrs.get("rel", "").lower().split()) & LOADING_RELS:
                assert _is_local(attrs["href"]), (name, attrs)
                checked += 1
            for value in (attrs.get("srcset", ""), attrs.get("style", "")):
                assert "http" not in value and "//" not in value, (name, attrs)
    assert checked > 0
    css = (report.site_root / "assets/site.css").read_text("utf-8")
    assert "url(" not in css and "@import" not in css
    js = (report.site_root / "assets/search.js").read_text("utf-8")
    assert "http" not in js


def test_every_internal_link_resolves(release):
    _, report = release
    site = report.site_root
    for name, path in pages(site).items():
        page = read(path)
        for tag, attrs in page.elements:
            url = attrs.get("href") or attrs.get("src")
            if tag not in ("a", "link", "script") or not url or urlsplit(url).scheme or url.startswith("#"):
                continue
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), unquote(url.split("#")[0])))
            if target == "attestation/index.html":  # rendered by the attestation publisher, not here
                continue
            if target == "pagefind/pagefind-ui.js" and report.search != "pagefind":
                continue
            assert (site / target).exists(), (name, url)


def test_pages_are_accessible_by_structure(release):
    _, report = release
    for name, path in pages(report.site_root).items():
        page = read(path)
        (html,) = page.all("html")
        assert html.get("lang") == "en"
        assert any(a.get("name") == "viewport" for a in page.all("meta"))
        first_link = next(a for t, a in page.elements if t == "a")
        assert first_link.get("href") == "#main" and first_link.get("class") == "skip"
        assert any(a.get("id") == "main" for a in page.all("main"))
        assert page.all("header") and page.all("footer")
        levels = [int(t[1]) for t, _ in page.elements if re.fullmatch(r"h[1-6]", t)]
        assert levels[0] == 1 and levels.count(1) == 1, name
        assert all(b - a <= 1 for a, b in zip(levels, levels[1:])), (name, levels)
        assert all(img.get("alt") is not None for img in page.all("img"))
        for table in page.all("th"):
            assert table.get("scope") in ("col", "row")


def test_sitemap_lists_every_page_and_robots_points_to_it(release):
    _, report = release
    tree = ElementTree.parse(report.site_root / "sitemap.xml")
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locs = {e.text for e in tree.getroot().findall("s:url/s:loc", ns)}
    expected = set()
    for name in pages(report.site_root):
        expected.add(f"{SITE}/{name[: -len('index.html')] if name.endswith('index.html') else name}")
    assert locs == expected
    assert all(e.text == "2025-03-01" for e in tree.getroot().findall("s:url/s:lastmod", ns))
    robots = (report.site_root / "robots.txt").read_text("utf-8")
    assert f"Sitemap: {SITE}/sitemap.xml" in robots and "Disallow: /\n" not in robots


def test_kbart_has_the_phase_ii_columns_and_a_row_per_title(release):
    titles, report = release
    raw = (report.site_root / "kbart/strongroom_AllTitles_2025-03-01.txt").read_bytes()
    assert b"\r" not in raw
    lines = raw.decode("utf-8").rstrip("\n").split("\n")
    header = lines[0].split("\t")
    assert header[:17] == [
        "publication_title",
        "print_identifier",
        "online_identifier",
        "date_first_issue_online",
        "num_first_vol_online",
        "num_first_issue_online",
        "date_last_issue_online",
        "num_last_vol_online",
        "num_last_issue_online",
        "title_url",
        "first_author",
        "title_id",
        "embargo_info",
        "coverage_depth",
        "notes",
        "publisher_name",
        "publication_type",
    ]
    assert header == list(COLUMNS) and len(header) == 25
    rows = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
    assert all(len(line.split("\t")) == 25 for line in lines[1:])
    by_title = {r["publication_title"]: r for r in rows}
    assert len(rows) == len(titles) == len(by_title)  # both titles' volumes are continuous
    jmbe = by_title["Journal of Marine Biology and Ecology"]
    assert (jmbe["print_identifier"], jmbe["online_identifier"]) == (titles[0].issn, titles[0].eissn)
    assert (jmbe["num_first_vol_online"], jmbe["num_last_vol_online"]) == ("41", "42")
    assert jmbe["date_first_issue_online"].startswith("2023-") and jmbe["date_last_issue_online"].startswith("2024-")
    assert jmbe["title_url"] == f"{SITE}/northfield-society/jmbe/"
    assert jmbe["coverage_depth"] == "fulltext" and jmbe["publication_type"] == "serial"
    assert jmbe["access_type"] == "F" and jmbe["publisher_name"] == titles[0].publisher_name
    assert "CC-BY-4.0" in jmbe["notes"]


def test_title_page_offers_the_wacz_kbart_replay_and_attestation(release):
    titles, report = release
    page = read(report.site_root / "lakeside-up/lrh/index.html")
    hrefs = [a["href"] for a in page.all("a")]
    assert "lakeside-up-lrh.wacz" in hrefs
    assert "../../kbart/strongroom_AllTitles_2025-03-01.txt" in hrefs
    assert f"{REPLAY}/lakeside-up_lrh/" in hrefs
    assert "../../attestation/index.html" in hrefs and titles[1].attestation_url in hrefs
    assert "publisher-ceased" in page.visible and "2025-01-15" in page.visible and "2025-03-01" in page.visible
    import hashlib

    digest = hashlib.sha256((report.site_root / "lakeside-up/lrh/lakeside-up-lrh.wacz").read_bytes()).hexdigest()
    assert digest in page.visible


def test_search_index_lists_every_article(release):
    titles, report = release
    entries = json.loads((report.site_root / "search/index.json").read_text("utf-8"))
    assert len(entries) == report.counts["articles"]
    assert HOSTILE in {e["t"] for e in entries}
    for entry in entries:
        assert (report.site_root / entry["u"]).is_file()
    if report.search == "pagefind":
        assert (report.site_root / "pagefind/pagefind-ui.js").is_file()
        assert (report.site_root / "pagefind/pagefind-entry.json").is_file()


def test_the_json_fallback_search_when_pagefind_is_off(tmp_path, release):
    titles, _ = release
    report = render_release(
        titles, tmp_path / "out", site_base_url=SITE, replay_base_url=REPLAY, now=NOW, use_pagefind=False
    )
    assert report.search == "json" and not (report.site_root / "pagefind").exists()
    home = read(report.site_root / "index.html")
    assert [a.get("src") for a in home.all("script")] == ["assets/search.js"]
    assert [d.get("data-kind") for d in home.all("div") if d.get("id") == "search"] == ["json"]


@pytest.mark.parametrize(
    "size, shown",
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (999, "999 bytes"),
        (1000, "1.0 KB"),
        (1536, "1.5 KB"),
        (999_949, "999.9 KB"),
        (2_500_000, "2.5 MB"),
        (7 * 10**9, "7.0 GB"),
        (3 * 10**15, "3000.0 TB"),
    ],
)
def test_sizes_read_as_a_file_manager_shows_them(size, shown):
    assert human_size(size) == shown
