"""What a hostile publisher's metadata and files may do on the public site: no script link, no
active file served inline, and one rule for every link in the templates."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from strongroom.local.demo.site import sample_titles
from strongroom.render import ReleasedArticle, render_release
from strongroom.render.safety import (
    DOWNLOAD_TYPE,
    REPLAY_HEADERS,
    SITE_HEADERS,
    delivery,
    safe_href,
)
from strongroom.render.templating import templates_dir

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SCRIPT_LINKS = [
    "javascript:alert(document.domain)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\x01javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "blob:https://x/1",
    "1x:alert(1)",
]


@pytest.mark.parametrize(
    "url",
    [
        "https://creativecommons.org/licenses/by/4.0/",
        "http://example.org/a?b=c:d",
        "mailto:editor@example.org",
        "doi:10.1000/182",
        "HTTPS://EXAMPLE.ORG/",
        "../files/a.pdf",
        "article.pdf",
        "#abstract",
        "?q=a:b",
        "//example.org/x",
    ],
)
def test_reader_links_pass(url):
    assert safe_href(url) == url


@pytest.mark.parametrize("url", SCRIPT_LINKS + [None, ""])
def test_links_that_would_run_or_open_something_else_are_dropped(url):
    assert safe_href(url) is None


TEMPLATE_HREF = re.compile(r'href="([^"]*\{\{[^"]*)"')


def test_every_link_a_template_emits_goes_through_the_rule():
    """A new link added to a template without `| href` fails here. `root` is the code's own '../'
    prefix; replay/frame_insert.html is pywb's template (rendered by pywb with pywb's values)."""
    offenders = []
    for path in sorted(templates_dir().rglob("*.htm*")) + sorted(templates_dir().rglob("*.j2")):
        if path.name == "frame_insert.html":
            continue
        for attr in TEMPLATE_HREF.findall(path.read_text("utf-8")):
            for expr in re.findall(r"\{\{\s*(.+?)\s*\}\}", attr):
                if expr != "root" and not re.search(r"\|\s*href$", expr):
                    offenders.append(f"{path.name}: href={attr!r}")
    assert offenders == []


class Links(HTMLParser):
    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.hrefs += [v or "" for k, v in attrs if k in ("href", "src", "action", "formaction")]


def test_a_hostile_license_and_orcid_never_become_script_links(tmp_path):
    """The attack: JATS <license xlink:href="javascript:..."> became a clickable link on the article page."""
    titles = sample_titles(tmp_path / "in", articles=1)
    title = titles[1]
    au = title.aus[0]
    first = au.articles[0]
    authors = tuple(replace(a, orcid="javascript:alert('orcid')") for a in first.article.authors)
    for n, bad in enumerate(SCRIPT_LINKS):
        article = replace(first.article, license_url=bad, authors=authors)
        assert safe_href(bad) is None
        swapped = ReleasedArticle(article, first.files, first.xml_path)
        hostile = replace(title, aus=(replace(au, articles=(swapped,) + au.articles[1:]),))
        report = render_release(
            [titles[0], hostile],
            tmp_path / f"out{n}",
            site_base_url="https://site.example",
            replay_base_url="https://replay.example",
            now=NOW,
            use_pagefind=False,
        )
        page = (report.site_root / "lakeside-up/lrh/2024/articles").glob("*/index.html")
        html = "\n".join(p.read_text("utf-8") for p in page)
        assert "ORCID of" not in html  # the author is listed, the hostile ORCID link is not
        for path in report.site_root.rglob("*.html"):
            for href in Links(path.read_text("utf-8")).hrefs:
                assert safe_href(href) == href, (path, href)


@pytest.mark.parametrize(
    "name",
    [
        "figure.svg",
        "page.html",
        "page.HTM",
        "doc.xhtml",
        "article.xml",
        "x.js",
        "x.mjs",
        "data.json",
        "noextension",
        "a.svgz",
        "b.swf",
        "c.xsl",
    ],
)
def test_active_or_unknown_files_are_downloads(name):
    how = delivery(f"acme/jbio/2024/files/{name}")
    assert how.content_type == DOWNLOAD_TYPE
    assert how.disposition.startswith("attachment; ") and f'filename="{name}"' in how.disposition


@pytest.mark.parametrize(
    "name, kind",
    [
        ("article.pdf", "application/pdf"),
        ("fig1.PNG", "image/png"),
        ("photo.jpeg", "image/jpeg"),
        ("readme.txt", "text/plain; charset=utf-8"),
    ],
)
def test_passive_files_are_shown_with_their_own_type(name, kind):
    how = delivery(name)
    assert how.inline and how.content_type == kind


def test_a_download_name_cannot_break_out_of_its_header():
    how = delivery('evil"; filename=x.html\r\nX-Injected: 1.svg')
    assert "\r" not in how.disposition and "\n" not in how.disposition
    assert how.disposition.count('"') == 2
    assert "filename*=UTF-8''evil%22%3B%20filename%3Dx.html%0D%0AX-Injected%3A%201.svg" in how.disposition
    assert "filename*=UTF-8''%C3%A9t%C3%A9.svg" in delivery("été.svg").disposition


def test_the_site_policy_allows_scripts_only_from_the_site():
    csp = dict(d.strip().split(" ", 1) for d in SITE_HEADERS["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'self'" and csp["object-src"] == "'none'" and csp["base-uri"] == "'none'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["script-src"] == "'self' 'wasm-unsafe-eval'"  # no 'unsafe-inline', no other host
    assert "unsafe-inline" not in SITE_HEADERS["Content-Security-Policy"]
    for headers in (SITE_HEADERS, REPLAY_HEADERS):
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"]
    assert "object-src 'none'" in REPLAY_HEADERS["Content-Security-Policy"]


def test_the_sites_own_pages_need_nothing_the_policy_forbids(tmp_path):
    """No inline script or style, no style attribute, no inline event handler on any rendered page."""
    report = render_release(
        sample_titles(tmp_path / "in", articles=1),
        tmp_path / "out",
        site_base_url="https://site.example",
        replay_base_url="https://replay.example",
        now=NOW,
        use_pagefind=False,
    )
    for path in Path(report.site_root).rglob("*.html"):
        html = path.read_text("utf-8")
        assert "<style" not in html and " style=" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path
        for tag in re.findall(r"<script[^>]*>", html):
            assert " src=" in tag or 'type="application/ld+json"' in tag, (path, tag)
