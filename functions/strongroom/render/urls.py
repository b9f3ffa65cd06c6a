"""Where everything lives: site paths of pages and file copies, and the web URL of each preserved file.

One module decides these so that the WARC, the CDXJ, the site, the sitemap, KBART and
the WACZ all agree. Site paths are derived only from ids and logical paths, never from
titles, so a page keeps its URL when metadata is corrected and the site is rendered again.

A preserved file's *archive URL* (its WARC-Target-URI) is where it lived on the web, as
well as the metadata can tell:

1. an absolute JATS ``<self-uri>`` naming the file itself (same extension, e.g. the PDF URL);
2. otherwise the article's landing URL (its first absolute self-uri, else
   ``https://doi.org/<doi>``) followed by the file's path inside the article's folder;
3. files outside any article (bag tag files, datasets) and articles with neither self-uri
   nor DOI get the URL of their public copy on the released site.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import surt

from strongroom.render.model import (
    ReleasedArticle,
    ReleasedAu,
    ReleasedFile,
    ReleasedTitle,
    slug,
)

RESERVED = {"files", "articles"}


def url_key(url: str) -> str:
    """The SURT form of a URL, as CDXJ sorts it: http/https, case and 'www.' do not tell URLs apart."""
    try:
        return surt.surt(url)
    except Exception:  # noqa: BLE001 - surt raises several types on odd URLs; then compare as written
        return url


def quote_path(path: str) -> str:
    """Percent-encode a '/'-separated path for an href or URL (keeps '/', encodes the rest)."""
    return quote(path, safe="/-._~")


def title_dir(title: ReleasedTitle) -> str:
    return f"{title.publisher_id}/{title.title_id}/"


def au_dir(au: ReleasedAu) -> str:
    return f"{au.au_id}/"


def file_site_path(au: ReleasedAu, f: ReleasedFile) -> str:
    """The file's public copy: <publisher>/<title>/<au>/files/<logical path> (stable across renders)."""
    return f"{au.au_id}/files/{f.path}"


def wacz_site_path(title: ReleasedTitle) -> str:
    return f"{title_dir(title)}{title.publisher_id}-{title.title_id}.wacz"


def _is_web(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def landing_url(entry: ReleasedArticle) -> str | None:
    """The article's web address: its first absolute self-uri, else its DOI URL."""
    for uri in entry.article.self_uris:
        if _is_web(uri):
            return uri
    if entry.article.doi:
        return "https://doi.org/" + quote(entry.article.doi, safe="/;:@&=+$,-._~()")
    return None


@dataclass(frozen=True)
class ArticlePlace:
    """Where one article's page is and what its web addresses are."""

    entry: ReleasedArticle
    au: ReleasedAu
    slug: str
    page_dir: str  # <publisher>/<title>/<au>/articles/<slug>/
    landing: str | None


class SitePlan:
    """Every path and URL of one render, computed once from the titles."""

    def __init__(self, titles: list[ReleasedTitle], site_base_url: str):
        self.site_base_url = site_base_url.rstrip("/")
        self.articles: dict[tuple[str, int], ArticlePlace] = {}  # (au id, index in au.articles)
        self.file_urls: dict[tuple[str, str], str] = {}  # (au id, logical path) -> archive URL
        for title in titles:
            for au in title.aus:
                self._plan_au(au)

    def site_url(self, path: str) -> str:
        """Absolute URL of a site path ('' is the home page; 'x/index.html' is shown as 'x/')."""
        if path.endswith("index.html"):
            path = path[: -len("index.html")]
        return f"{self.site_base_url}/{quote_path(path)}"

    def _plan_au(self, au: ReleasedAu) -> None:
        used: set[str] = set(RESERVED)
        for index, entry in enumerate(au.articles):
            base = entry.xml_path and posixpath.basename(posixpath.dirname(entry.xml_path))
            name = slug(base or entry.article.doi or "", f"article-{index + 1}")
            candidate, n = name, 1
            while candidate in used:
                n += 1
                candidate = f"{name}-{n}"
            used.add(candidate)
            place = ArticlePlace(entry, au, candidate, f"{au.au_id}/articles/{candidate}/", landing_url(entry))
            self.articles[(au.au_id, index)] = place
            self._plan_files(place)
        for f in au.files:
            self.file_urls.setdefault((au.au_id, f.path), self.site_url(file_site_path(au, f)))

    def _plan_files(self, place: ArticlePlace) -> None:
        entry = place.entry
        folder = (
            posixpath.dirname(entry.xml_path)
            if entry.xml_path
            else posixpath.commonpath([posixpath.dirname(f.path) for f in entry.files])
            if entry.files
            else ""
        )
        absolute = [u for u in entry.article.self_uris if _is_web(u) and u != place.landing]
        for f in entry.files:
            ext = posixpath.splitext(f.name)[1].lower()
            same_kind = [f2 for f2 in entry.files if posixpath.splitext(f2.name)[1].lower() == ext]
            named = [u for u in absolute if ext and urlsplit(u).path.lower().endswith(ext)]
            if len(named) == 1 and len(same_kind) == 1:
                url = named[0]
            elif place.landing:
                inner = posixpath.relpath(f.path, folder) if folder else f.name
                url = place.landing.rstrip("/") + "/" + quote_path(inner)
            else:
                url = self.site_url(file_site_path(place.au, f))
            self.file_urls[(place.au.au_id, f.path)] = url

    def places(self, au: ReleasedAu) -> list[ArticlePlace]:
        return [self.articles[(au.au_id, i)] for i in range(len(au.articles))]

    def file_url(self, au: ReleasedAu, f: ReleasedFile) -> str:
        return self.file_urls[(au.au_id, f.path)]


def relative(from_dir: str, to_path: str) -> str:
    """An href from a page in from_dir ('' for the site root, else ending in '/') to a site path."""
    href = posixpath.relpath(to_path or ".", from_dir.rstrip("/") or ".")
    return "./" if href == "." else quote_path(href)
