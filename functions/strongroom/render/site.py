"""The public static site: home, publisher, title, volume and article pages, file copies, sitemap, robots.

Every page is rendered by Jinja2 with autoescape on from site_templates/, and every link
between pages is relative, so the site works from any prefix of any bucket and from disk.
Nothing on a page is fetched from elsewhere: styles and scripts are the site's own files.
Metadata is text: a title that says ``<script>`` is shown as those characters, and a link taken
from metadata (a license, an ORCID) is a link only when render.safety.safe_href allows it.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape as xml_escape

from strongroom.domain.jats import Article, Author
from strongroom.render.model import ReleasedAu, ReleasedFile, ReleasedTitle
from strongroom.render.safety import safe_href
from strongroom.render.templating import environment, templates_dir
from strongroom.render.urls import (
    ArticlePlace,
    SitePlan,
    au_dir,
    file_site_path,
    relative,
    title_dir,
)
from strongroom.render.warc import Capture, TitleWarc, VerifyingReader
from strongroom.render.whole_files import written_whole

SITE_NAME = "strongroom"
SITEMAP_LIMIT = 50_000  # URLs per sitemap file (sitemaps.org)


@dataclass
class SiteOutput:
    pages: list[str] = field(default_factory=list)  # site paths of the HTML pages
    files: list[Path] = field(default_factory=list)  # every path written
    search_entries: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Download:
    """A file offered for download on a title page (the WACZ)."""

    path: str  # site path
    size: int
    sha256: str


def copy_file(f: ReleasedFile, dest: Path) -> int:
    """Stream one preserved file to dest in chunks, proving its sha256 on the way."""
    with written_whole(dest) as partial, f.open() as raw, partial.open("wb") as out:
        VerifyingReader(raw, f).drain(out).verify()
    return f.size


def _natural(value: str | None) -> tuple:
    """Sort key that puts issue 2 before issue 10 and pages 9 before 10."""
    parts = re.split(r"(\d+)", value or "")
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


def pages_of(article: Article) -> str | None:
    if article.fpage and article.lpage and article.fpage != article.lpage:
        return f"pp. {article.fpage}–{article.lpage}"
    if article.fpage:
        return f"p. {article.fpage}"
    if article.elocation_id:
        return f"article {article.elocation_id}"
    return None


def author_line(authors: tuple[Author, ...]) -> str:
    names = [a.name for a in authors]
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def au_label(au: ReleasedAu) -> str:
    """'Volume 41 (2023)' from the articles; the AU's own name when they do not say."""
    volumes = sorted({e.article.volume for e in au.articles if e.article.volume}, key=_natural)
    years = sorted({e.article.pub_date[:4] for e in au.articles if e.article.pub_date})
    year = f"{years[0]}–{years[-1]}" if len(years) > 1 else (years[0] if years else "")
    if volumes:
        vol = f"Volume {volumes[0]}" if len(volumes) == 1 else f"Volumes {volumes[0]}–{volumes[-1]}"
        return f"{vol} ({year})" if year else vol
    return year or au.au


def coverage(title: ReleasedTitle) -> str:
    labels = [au_label(au) for au in sorted(title.aus, key=lambda a: _natural(a.au))]
    return "; ".join(labels) if len(labels) <= 3 else f"{labels[0]} to {labels[-1]}"


def replay_url(replay_base_url: str, title: ReleasedTitle, capture: Capture) -> str:
    return f"{replay_base_url.rstrip('/')}/{title.collection}/{capture.timestamp}/{capture.url}"


class SiteRenderer:
    """Renders every page of one release; the caller has already copied the files and built the WACZs."""

    def __init__(
        self,
        titles: list[ReleasedTitle],
        root: Path,
        plan: SitePlan,
        warcs: dict[str, TitleWarc],
        waczs: dict[str, Download],
        *,
        replay_base_url: str,
        kbart_path: str,
        search_kind: str,
        now: datetime,
    ):
        self.titles, self.root, self.plan, self.warcs, self.waczs = titles, root, plan, warcs, waczs
        self.replay_base_url, self.kbart_path, self.search_kind, self.now = (
            replay_base_url,
            kbart_path,
            search_kind,
            now,
        )
        self.env = environment()
        self.out = SiteOutput()

    # ---- helpers

    def _write_page(
        self, path: str, template: str, page_title: str, crumbs: list[tuple[str, str | None]], **context
    ) -> None:
        page_dir = path.rsplit("/", 1)[0] + "/" if "/" in path else ""
        html = self.env.get_template(template).render(
            site_name=SITE_NAME,
            page_title=page_title,
            canonical=self.plan.site_url(path),
            root="../" * page_dir.count("/"),
            crumbs=crumbs,
            kbart_path=self.kbart_path,
            search_kind=self.search_kind,
            base_path=urlsplit(self.plan.site_base_url).path.rstrip("/") + "/",
            **context,
        )
        dest = self.root / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(html, encoding="utf-8")
        self.out.pages.append(path)
        self.out.files.append(dest)

    def _files_view(self, page_dir: str, au: ReleasedAu, files) -> list[dict]:
        return [
            {
                "name": f.name,
                "href": relative(page_dir, file_site_path(au, f)),
                "mime": f.mime,
                "size": f.size,
                "sha256": f.sha256,
            }
            for f in files
        ]

    def _title_crumbs(self, page_dir: str, title: ReleasedTitle) -> list[tuple[str, str | None]]:
        return [
            (title.publisher_name, relative(page_dir, f"{title.publisher_id}/index.html")),
            (title.journal_title, relative(page_dir, title_dir(title) + "index.html")),
        ]

    # ---- pages

    def render(self) -> SiteOutput:
        by_publisher: dict[str, list[ReleasedTitle]] = {}
        for title in self.titles:
            by_publisher.setdefault(title.publisher_id, []).append(title)
            self._title(title)
            for au in title.aus:
                self._volume(title, au)
                for place in self.plan.places(au):
                    self._article(title, place)
        publishers: list[dict[str, Any]] = []  # template context
        for publisher_id in sorted(by_publisher):
            titles = sorted(by_publisher[publisher_id], key=lambda t: t.journal_title.lower())
            page_dir = f"{publisher_id}/"
            view: dict[str, Any] = {
                "name": titles[0].publisher_name,
                "href": f"{publisher_id}/index.html",
                "titles": [self._title_summary(page_dir, t) for t in titles],
            }
            self._write_page(
                f"{publisher_id}/index.html", "publisher.html", view["name"], [(view["name"], None)], publisher=view
            )
            publishers.append({**view, "titles": [self._title_summary("", t) for t in titles]})
        publishers.sort(key=lambda p: p["name"].lower())
        self._write_page("index.html", "home.html", "Released titles", [], publishers=publishers)
        self._assets()
        self._sitemap_and_robots()
        return self.out

    def _title_summary(self, page_dir: str, title: ReleasedTitle) -> dict:
        return {
            "journal_title": title.journal_title,
            "href": relative(page_dir, title_dir(title) + "index.html"),
            "coverage": coverage(title),
            "release_date": title.release_date.isoformat(),
            "license_id": title.license_id,
        }

    def _title(self, title: ReleasedTitle) -> None:
        page_dir = title_dir(title)
        wacz = self.waczs[title.collection]
        aus = [
            {"label": au_label(au), "href": relative(page_dir, au_dir(au) + "index.html"), "count": len(au.articles)}
            for au in sorted(title.aus, key=lambda a: _natural(a.au))
        ]
        t = self._title_view(title)
        self._write_page(
            page_dir + "index.html",
            "title.html",
            title.journal_title,
            [
                (title.publisher_name, relative(page_dir, f"{title.publisher_id}/index.html")),
                (title.journal_title, None),
            ],
            t=t,
            aus=aus,
            wacz={"href": relative(page_dir, wacz.path), "size": wacz.size, "sha256": wacz.sha256},
            kbart_href=relative(page_dir, self.kbart_path),
            replay_href=f"{self.replay_base_url.rstrip('/')}/{title.collection}/",
        )

    @staticmethod
    def _title_view(title: ReleasedTitle) -> dict:
        return {
            "journal_title": title.journal_title,
            "publisher_name": title.publisher_name,
            "issn": title.issn,
            "eissn": title.eissn,
            "license_id": title.license_id,
            "license_url": title.license_url,
            "license_name": title.license_name,
            "trigger": title.trigger,
            "trigger_text": title.trigger_text,
            "trigger_date": title.trigger_date.isoformat(),
            "release_date": title.release_date.isoformat(),
            "attestation_url": title.attestation_url,
        }

    def _volume(self, title: ReleasedTitle, au: ReleasedAu) -> None:
        page_dir = au_dir(au)
        issues: dict[str | None, list[ArticlePlace]] = {}
        for place in self.plan.places(au):
            issues.setdefault(place.entry.article.issue, []).append(place)
        issue_views = []
        for number in sorted(issues, key=_natural):
            places = sorted(
                issues[number],
                key=lambda p: (
                    _natural(p.entry.article.fpage or p.entry.article.elocation_id),
                    (p.entry.article.title or "").lower(),
                ),
            )
            issue_views.append(
                {
                    "label": f"Issue {number}" if number else "Articles",
                    "anchor": f"issue-{number}" if number else "articles",
                    "articles": [
                        {
                            "title": p.entry.article.title or "Untitled",
                            "href": relative(page_dir, p.page_dir + "index.html"),
                            "authors": author_line(p.entry.article.authors),
                            "pages": pages_of(p.entry.article),
                        }
                        for p in places
                    ],
                }
            )
        label = au_label(au)
        self._write_page(
            page_dir + "index.html",
            "volume.html",
            f"{label} · {title.journal_title}",
            self._title_crumbs(page_dir, title) + [(label, None)],
            t=self._title_view(title),
            issues=issue_views,
            au={"label": label, "id": au.au_id, "version": au.ocfl_version},
            files=self._files_view(page_dir, au, au.files),
        )

    def _article(self, title: ReleasedTitle, place: ArticlePlace) -> None:
        page_dir = place.page_dir
        art, au = place.entry.article, place.au
        warc = self.warcs[title.collection]
        canonical = self.plan.site_url(page_dir + "index.html")
        pdf = place.entry.pdf
        pdf_url = self.plan.site_url(file_site_path(au, pdf)) if pdf else None
        doi_url = f"https://doi.org/{art.doi}" if art.doi else None

        capture = warc.capture_of(place.landing)
        if capture is None or capture.source != "harvest":
            shown = pdf or next(iter(place.entry.files), None)
            capture = warc.files.get((au.au_id, shown.path)) if shown else None
        replay = replay_url(self.replay_base_url, title, capture) if capture else None

        a: dict[str, Any] = {  # the template's view of the article
            "title": art.title or "Untitled",
            "authors": [
                {"name": x.name, "orcid": safe_href(x.orcid), "affiliations": list(x.affiliations)} for x in art.authors
            ],
            "author_line": author_line(art.authors),
            "doi": art.doi,
            "doi_url": doi_url,
            "volume": art.volume,
            "issue": art.issue,
            "pages": pages_of(art),
            "pub_date": art.pub_date,
            "year": art.pub_date[:4] if art.pub_date else None,
            "language": art.language,
            "abstract": [p for p in (art.abstract or "").split("\n\n") if p.strip()],
            "keywords": list(art.keywords),
            "original_license": safe_href(art.license_url),
            "copyright": art.copyright,
        }
        crumbs = self._title_crumbs(page_dir, title) + [
            (au_label(au), relative(page_dir, au_dir(au) + "index.html")),
            (a["title"], None),
        ]
        self._write_page(
            page_dir + "index.html",
            "article.html",
            a["title"],
            crumbs,
            t=self._title_view(title),
            a=a,
            citation=self._citation(title, art, pdf_url),
            jsonld=self._jsonld(title, place, canonical, doi_url, replay),
            pdf_href=relative(page_dir, file_site_path(au, pdf)) if pdf else None,
            replay_href=replay,
            replay_when=_when(capture) if capture else None,
            files=self._files_view(page_dir, au, place.entry.files),
        )
        self.out.search_entries.append(
            {
                "t": a["title"],
                "u": page_dir + "index.html",
                "m": " · ".join(
                    x for x in (a["author_line"], title.journal_title, art.pub_date or "", art.doi or "") if x
                ),
                "k": " ".join(art.keywords),
            }
        )

    @staticmethod
    def _citation(title: ReleasedTitle, art: Article, pdf_url: str | None) -> list[tuple[str, str]]:
        """Highwire Press tags, as Google Scholar and Zotero read them (one citation_author per author)."""
        tags: list[tuple[str, str | None]] = [("citation_title", art.title or "Untitled")]
        for author in art.authors:
            if author.surname:
                tags.append(
                    ("citation_author", f"{author.surname}, {author.given}" if author.given else author.surname)
                )
            else:
                tags.append(("citation_author", author.name))
            if author.orcid:
                tags.append(("citation_author_orcid", author.orcid))
            for aff in author.affiliations:
                tags.append(("citation_author_institution", aff))
        tags += [
            ("citation_doi", art.doi),
            ("citation_journal_title", art.journal_title or title.journal_title),
            ("citation_publisher", art.publisher or title.publisher_name),
            ("citation_issn", art.issn or title.issn),
            ("citation_issn", art.eissn or title.eissn),
            ("citation_volume", art.volume),
            ("citation_issue", art.issue),
            ("citation_firstpage", art.fpage or art.elocation_id),
            ("citation_lastpage", art.lpage),
            ("citation_publication_date", art.pub_date.replace("-", "/") if art.pub_date else None),
            ("citation_language", art.language),
            ("citation_keywords", "; ".join(art.keywords) or None),
            ("citation_pdf_url", pdf_url),
        ]
        return [(k, v) for k, v in tags if v]

    def _jsonld(
        self, title: ReleasedTitle, place: ArticlePlace, canonical: str, doi_url: str | None, replay: str | None
    ) -> dict:
        """schema.org ScholarlyArticle; the template embeds it with Jinja's tojson, which escapes '<', '>', '&'."""
        art, au = place.entry.article, place.au
        periodical = {
            "@type": "Periodical",
            "name": title.journal_title,
            "issn": [i for i in (title.issn, title.eissn) if i],
            "publisher": {"@type": "Organization", "name": title.publisher_name},
        }
        part: dict = periodical
        if art.volume:
            part = {"@type": "PublicationVolume", "volumeNumber": art.volume, "isPartOf": part}
        if art.issue:
            part = {"@type": "PublicationIssue", "issueNumber": art.issue, "isPartOf": part}
        authors = []
        for x in art.authors:
            if x.collab:
                authors.append({"@type": "Organization", "name": x.collab})
                continue
            person: dict[str, Any] = {"@type": "Person", "name": x.name}
            if x.given:
                person["givenName"] = x.given
            if x.surname:
                person["familyName"] = x.surname
            if safe_href(x.orcid):
                person["sameAs"] = x.orcid
            if x.affiliations:
                person["affiliation"] = [{"@type": "Organization", "name": a} for a in x.affiliations]
            authors.append(person)
        data = {
            "@context": "https://schema.org",
            "@type": "ScholarlyArticle",
            "@id": canonical,
            "url": canonical,
            "name": art.title or "Untitled",
            "headline": art.title or "Untitled",
            "author": authors,
            "datePublished": art.pub_date,
            "abstract": art.abstract,
            "keywords": list(art.keywords) or None,
            "inLanguage": art.language,
            "isPartOf": part,
            "publisher": periodical["publisher"],
            "pageStart": art.fpage,
            "pageEnd": art.lpage,
            "identifier": {"@type": "PropertyValue", "propertyID": "DOI", "value": art.doi} if art.doi else None,
            "sameAs": doi_url,
            "license": title.license_url,
            "isAccessibleForFree": True,
            "archivedAt": replay,
            "encoding": [
                {
                    "@type": "MediaObject",
                    "name": f.name,
                    "encodingFormat": f.mime,
                    "contentSize": str(f.size),
                    "sha256": f.sha256,
                    "contentUrl": self.plan.site_url(file_site_path(au, f)),
                }
                for f in place.entry.files
            ],
        }
        return {k: v for k, v in data.items() if v not in (None, [], "")}

    def _assets(self) -> None:
        for name in ("site.css", "search.js"):
            dest = self.root / "assets" / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(templates_dir() / "assets" / name, dest)
            self.out.files.append(dest)

    def _sitemap_and_robots(self) -> None:
        day = self.now.date().isoformat()
        urls = [self.plan.site_url(p) for p in sorted(self.out.pages)]
        chunks = [urls[i : i + SITEMAP_LIMIT] for i in range(0, len(urls), SITEMAP_LIMIT)] or [[]]

        def urlset(chunk: list[str]) -> str:
            body = "".join(f"  <url><loc>{xml_escape(u)}</loc><lastmod>{day}</lastmod></url>\n" for u in chunk)
            return (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n' + body + "</urlset>\n"
            )

        if len(chunks) == 1:
            self._write_text("sitemap.xml", urlset(chunks[0]))
        else:
            entries = ""
            for n, chunk in enumerate(chunks, start=1):
                self._write_text(f"sitemap-{n}.xml", urlset(chunk))
                entries += (
                    f"  <sitemap><loc>{xml_escape(self.plan.site_url(f'sitemap-{n}.xml'))}</loc>"
                    f"<lastmod>{day}</lastmod></sitemap>\n"
                )
            self._write_text(
                "sitemap.xml",
                '<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex '
                'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n' + entries + "</sitemapindex>\n",
            )
        self._write_text("robots.txt", f"User-agent: *\nAllow: /\n\nSitemap: {self.plan.site_url('sitemap.xml')}\n")

    def _write_text(self, path: str, text: str) -> None:
        dest = self.root / path
        dest.write_text(text, encoding="utf-8")
        self.out.files.append(dest)


def _when(capture: Capture) -> str:
    ts = capture.timestamp
    label = "archived" if capture.source == "harvest" else "deposited"
    return f"{label} {ts[0:4]}-{ts[4:6]}-{ts[6:8]}"
