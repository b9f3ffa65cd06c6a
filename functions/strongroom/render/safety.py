"""What the public surfaces let a browser do with what publishers sent: the one place that decides.

Metadata and deposited files come from publishers, and one of them may be hostile. The
released site is served from our own origin, so anything there that a browser runs (a
``javascript:`` link, an SVG or HTML file with a script) would run as the archive. Three rules:

- ``safe_href``: a link taken from metadata is emitted only if it is http(s), mailto, doi or
  relative; every ``href`` in site_templates/ goes through it (the ``href`` filter).
- ``delivery``: a deposited file is served inline only when its type is on a short list of
  passive types; anything else (svg, html, xhtml, xml, js, unknown) is an attachment with a
  Content-Type no browser renders.
- ``SITE_HEADERS`` / ``REPLAY_HEADERS``: a strict Content-Security-Policy on every site page
  (and a looser one for pywb, which must run the archived pages' own scripts), nosniff and a
  Referrer-Policy. The local servers send them; template.yaml's CloudFront policy says the same.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from urllib.parse import quote

SAFE_SCHEMES = ("http", "https", "mailto", "doi")
# Browsers drop these anywhere in a URL before reading its scheme ("java\tscript:" is javascript:).
_IGNORED = re.compile(r"[\x00-\x20\x7f]")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")


def safe_href(url: str | None) -> str | None:
    """The URL when a browser following it stays a reader's navigation (http, https, mailto, doi,
    or a relative link); None for anything else (javascript:, data:, vbscript:, file:, ...)."""
    if not url:
        return None
    text = str(url).strip()
    match = _SCHEME.match(_IGNORED.sub("", text))
    if match is None:
        # No scheme: relative. A ':' before any '/' would make a browser read a scheme anyway.
        head = _IGNORED.sub("", text).split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        return None if ":" in head else text
    return text if match.group(1).lower() in SAFE_SCHEMES else None


def href_filter(url: str | None) -> str:
    """The Jinja filter every template link uses: an unsafe URL becomes an empty href (this page)."""
    return safe_href(url) or ""


# Types a browser shows without running anything of the file's own; everything else is a download.
PASSIVE_TYPES: dict[str, str] = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".txt": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
}
DOWNLOAD_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Delivery:
    """How a deposited file is served: its Content-Type, and Content-Disposition when it is a download."""

    content_type: str
    disposition: str | None = None

    @property
    def inline(self) -> bool:
        return self.disposition is None


def attachment(name: str) -> str:
    """Content-Disposition for a download (RFC 6266): an ASCII fallback and the exact UTF-8 name."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\%' else "_" for c in name) or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def delivery(name: str) -> Delivery:
    """How to serve the deposited file called name, from its extension (never from its bytes or the
    publisher's word): passive types inline with their own type, anything else as a download."""
    base = posixpath.basename(name)
    passive = PASSIVE_TYPES.get(posixpath.splitext(base)[1].lower())
    if passive:
        return Delivery(passive)
    return Delivery(DOWNLOAD_TYPE, attachment(base))


# The site's own pages: scripts, styles, images and fetches from the site only; Pagefind's search
# compiles its WebAssembly index reader ('wasm-unsafe-eval'), runs it in a Worker from the site, and
# its stylesheet draws icons as data: SVG images (an image runs no script).
SITE_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# pywb: its top frame and wombat run inline scripts and styles and rewrite archived pages that use
# eval, data: and blob: URLs; it frames the archived page from its own origin. Nothing from elsewhere.
REPLAY_CSP = (
    "default-src 'self' 'unsafe-inline' 'unsafe-eval' data: blob:; object-src 'none'; "
    "base-uri 'self'; frame-ancestors 'self'; form-action 'self'"
)
REFERRER_POLICY = "same-origin"

SITE_HEADERS: dict[str, str] = {
    "Content-Security-Policy": SITE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": REFERRER_POLICY,
}
REPLAY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": REPLAY_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": REFERRER_POLICY,
}
