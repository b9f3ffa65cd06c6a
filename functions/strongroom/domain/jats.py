"""Article metadata from JATS XML (NISO Z39.96 JATS 1.x, Archiving and Publishing tag sets).

The archive needs a little metadata per article to describe what it holds (receipts,
KBART holdings) and, after a trigger, to render the public pages. Everything here is
*text*: inline markup is flattened and nothing is ever passed on as HTML, so a title
that says ``<script>`` stays the literal text "<script>" (the renderer escapes it).

Publisher XML is untrusted input: it is parsed with external entities, DTD loading and
the network all off, and libxml2's entity-amplification limit refuses billion-laughs
documents. Entity references that are left unexpanded are dropped from the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import BinaryIO

from lxml import etree

from strongroom.domain.errors import StrongroomError

XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ORCID_PATTERN = re.compile(r"(\d{4}-\d{4}-\d{4}-\d{3}[\dX])", re.IGNORECASE)
DOI_PREFIXES = ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "http://dx.doi.org/", "doi:")

# Elements whose content is not part of the text they sit in (footnote markers, labels).
_SKIP_IN_TEXT = {"xref", "fn", "label", "target"}


class JatsError(StrongroomError, ValueError):
    """The file is not JATS this module can read: says which file and what is wrong with it."""


@dataclass(frozen=True)
class Author:
    """One contributor with role author; ``collab`` is set for group authors instead of a name."""

    given: str | None = None
    surname: str | None = None
    orcid: str | None = None  # as a URL: https://orcid.org/0000-0000-0000-0000
    affiliations: tuple[str, ...] = ()
    collab: str | None = None

    @property
    def name(self) -> str:
        if self.collab:
            return self.collab
        return " ".join(p for p in (self.given, self.surname) if p)


@dataclass(frozen=True)
class Article:
    """What one JATS file says about its article; absent optional fields are None or empty."""

    title: str | None
    authors: tuple[Author, ...] = ()
    doi: str | None = None
    journal_title: str | None = None
    issn: str | None = None  # print (ppub)
    eissn: str | None = None  # electronic (epub)
    publisher: str | None = None
    volume: str | None = None
    issue: str | None = None
    fpage: str | None = None
    lpage: str | None = None
    elocation_id: str | None = None
    pub_date: str | None = None  # ISO 8601 with the precision given: 2024, 2024-03 or 2024-03-07
    abstract: str | None = None
    license_url: str | None = None
    license_text: str | None = None
    copyright: str | None = None
    self_uris: tuple[str, ...] = ()
    article_type: str | None = None
    keywords: tuple[str, ...] = ()
    language: str | None = None
    assets: tuple[str, ...] = field(default=())  # files the XML points at (graphics, media, supplements)

    def as_dict(self) -> dict:
        """Plain JSON-ready values (tuples become lists)."""

        def plain(value):
            if isinstance(value, (list, tuple)):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value

        data = plain(asdict(self))
        for author, obj in zip(data["authors"], self.authors):
            author["name"] = obj.name
        return data


def _parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers are not thread-safe, and these settings must never drift.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=False,
    )


def parse_jats(stream: BinaryIO, *, name: str | None = None) -> Article:
    """Read one JATS article; raises JatsError when the bytes are not a JATS ``<article>``."""
    label = name or getattr(stream, "name", None) or "the JATS file"
    try:
        root = etree.parse(stream, _parser()).getroot()
    except etree.XMLSyntaxError as exc:
        raise JatsError(
            f"{label} is not well-formed XML: {exc}. Fix: send well-formed JATS XML "
            "(no entity declarations; use numeric character references)."
        ) from exc
    except (OSError, ValueError) as exc:
        raise JatsError(f"{label} could not be read as XML: {exc}") from exc
    if root is None or not isinstance(root.tag, str) or etree.QName(root).localname != "article":
        found = etree.QName(root).localname if root is not None and isinstance(root.tag, str) else "nothing"
        raise JatsError(f"{label}: the root element is <{found}>, not <article>; it is not a JATS article.")

    front = _first(root, "front")
    if front is None:
        raise JatsError(f"{label}: <article> has no <front>, so there is no article metadata to read.")
    journal = _first(front, "journal-meta")
    meta = _first(front, "article-meta")
    if meta is None:
        raise JatsError(f"{label}: <front> has no <article-meta>, so there is no article metadata to read.")

    issn, eissn = _issns(journal)
    fpage = _text(_first(meta, "fpage"))
    return Article(
        title=_text(_first(meta, "title-group/{*}article-title")),
        authors=tuple(_authors(meta)),
        doi=_doi(meta),
        journal_title=_journal_title(journal),
        issn=issn,
        eissn=eissn,
        publisher=_text(_first(journal, "publisher/{*}publisher-name")),
        volume=_text(_first(meta, "volume")),
        issue=_text(_first(meta, "issue")),
        fpage=fpage,
        lpage=_text(_first(meta, "lpage")),
        elocation_id=_text(_first(meta, "elocation-id")),
        pub_date=_pub_date(meta),
        abstract=_abstract(meta),
        license_url=_license_url(meta),
        license_text=_license_text(meta),
        copyright=_text(_first(meta, "permissions/{*}copyright-statement")),
        self_uris=tuple(u for u in (_attr(e, XLINK_HREF) for e in _all(meta, "self-uri")) if u),
        article_type=root.get("article-type") or None,
        keywords=tuple(k for k in (_text(e) for e in _all(meta, "kwd-group/{*}kwd")) if k),
        language=root.get(XML_LANG) or None,
        assets=_assets(root),
    )


# ---- helpers: every path is namespace-tolerant ({*}) because publishers vary ----


def _first(node, path: str):
    if node is None:
        return None
    return node.find("{*}" + path)


def _all(node, path: str) -> list:
    if node is None:
        return []
    return node.findall("{*}" + path)


def _attr(node, name: str) -> str | None:
    value = node.get(name) if node is not None else None
    return value.strip() if value and value.strip() else None


def _flatten(node, skip: Iterable[str] = _SKIP_IN_TEXT) -> str:
    """The element's text with markup dropped; comments, PIs, entity references and skipped elements vanish."""
    skip = set(skip)
    parts: list[str] = []

    def walk(el):
        if el.text:
            parts.append(el.text)
        for child in el:
            if isinstance(child.tag, str) and etree.QName(child).localname not in skip:
                walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(node)
    return "".join(parts)


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _text(node, skip: Iterable[str] = _SKIP_IN_TEXT) -> str | None:
    if node is None:
        return None
    return _normalise(_flatten(node, skip)) or None


def _journal_title(journal) -> str | None:
    return _text(_first(journal, "journal-title-group/{*}journal-title")) or _text(_first(journal, "journal-title"))


def _issns(journal) -> tuple[str | None, str | None]:
    """(print ISSN, electronic ISSN): JATS 1.0 says pub-type, 1.1+ says publication-format."""
    print_issn = electronic = untyped = None
    for el in _all(journal, "issn"):
        kind = (el.get("pub-type") or el.get("publication-format") or "").lower()
        value = _text(el)
        if kind in ("ppub", "print"):
            print_issn = print_issn or value
        elif kind in ("epub", "electronic", "online"):
            electronic = electronic or value
        else:
            untyped = untyped or value
    return print_issn or untyped, electronic


def _doi(meta) -> str | None:
    for el in _all(meta, "article-id"):
        if (el.get("pub-id-type") or "").lower() == "doi":
            value = _text(el)
            if value:
                for prefix in DOI_PREFIXES:
                    if value.lower().startswith(prefix):
                        value = value[len(prefix) :]
                return value
    return None


def _orcid(contrib) -> str | None:
    for el in _all(contrib, "contrib-id"):
        if (el.get("contrib-id-type") or "").lower() == "orcid":
            match = ORCID_PATTERN.search(_text(el) or "")
            if match:
                return "https://orcid.org/" + match.group(1).upper()
    return None


def _affiliations_by_id(meta) -> dict[str, str]:
    found = {}
    for aff in meta.iter("{*}aff"):
        aff_id = aff.get("id")
        text = _text(aff)
        if aff_id and text:
            found[aff_id] = text.strip(" ,;")
    return found


def _authors(meta) -> list[Author]:
    affs = _affiliations_by_id(meta)
    authors = []
    for contrib in meta.iterfind("{*}contrib-group/{*}contrib"):
        if (contrib.get("contrib-type") or "author").lower() != "author":
            continue
        name = _first(contrib, "name")
        given = surname = collab = None
        if name is not None:
            given = _text(_first(name, "given-names"))
            surname = _text(_first(name, "surname"))
        elif (string_name := _first(contrib, "string-name")) is not None:
            surname = _text(_first(string_name, "surname"))
            given = _text(_first(string_name, "given-names"))
            if not (given or surname):
                surname = _text(string_name)
        else:
            collab = _text(_first(contrib, "collab"))
        if not (given or surname or collab):
            continue
        aff_texts: list[str] = []
        for xref in _all(contrib, "xref"):
            if (xref.get("ref-type") or "") == "aff":
                for rid in (xref.get("rid") or "").split():
                    if rid in affs and affs[rid] not in aff_texts:
                        aff_texts.append(affs[rid])
        for aff in _all(contrib, "aff"):
            text = _text(aff)
            if text and text not in aff_texts:
                aff_texts.append(text)
        authors.append(Author(given, surname, _orcid(contrib), tuple(aff_texts), collab))
    return authors


def _date_of(pub_date) -> str | None:
    """ISO date with only the precision the XML gives; seasons count as year only."""
    iso = (pub_date.get("iso-8601-date") or "").strip()
    if re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", iso):
        return iso
    year = _text(_first(pub_date, "year"))
    if not year or not re.fullmatch(r"\d{4}", year):
        return None
    month = _text(_first(pub_date, "month"))
    if not month or not month.isdigit() or not 1 <= int(month) <= 12:
        return year
    day = _text(_first(pub_date, "day"))
    if not day or not day.isdigit() or not 1 <= int(day) <= 31:
        return f"{year}-{int(month):02d}"
    return f"{year}-{int(month):02d}-{int(day):02d}"


def _pub_date(meta) -> str | None:
    """Prefer the electronic publication date, then print, then the collection (issue) date."""
    ranked: list[tuple[int, str]] = []
    for el in _all(meta, "pub-date"):
        kind = (el.get("pub-type") or "").lower()
        fmt = (el.get("publication-format") or "").lower()
        date_type = (el.get("date-type") or "").lower()
        if kind == "epub" or (fmt == "electronic" and date_type in ("", "pub")):
            rank = 0
        elif kind == "ppub" or (fmt == "print" and date_type in ("", "pub")):
            rank = 1
        elif kind == "collection" or date_type == "collection":
            rank = 2
        else:
            rank = 3
        value = _date_of(el)
        if value:
            ranked.append((rank, value))
    return min(ranked)[1] if ranked else None


def _abstract(meta) -> str | None:
    abstracts = _all(meta, "abstract")
    if not abstracts:
        return None
    main = next((a for a in abstracts if not a.get("abstract-type")), abstracts[0])
    blocks = [t for t in (_text(el) for el in main.iter("{*}p", "{*}title")) if t]
    # Paragraphs nested in paragraphs would be counted twice; fall back to the whole text then.
    if not blocks or any(p.find(".//{*}p") is not None for p in main.iter("{*}p")):
        return _text(main)
    return "\n\n".join(blocks)


def _license_url(meta) -> str | None:
    for lic in _all(meta, "permissions/{*}license"):
        href = _attr(lic, XLINK_HREF)
        if href:
            return href
        ref = _text(lic.find("{*}license_ref"))
        if ref:
            return ref
    for ref in meta.iterfind("{*}permissions/{*}license_ref"):
        if _text(ref):
            return _text(ref)
    return None


def _license_text(meta) -> str | None:
    paragraphs = [
        t for lic in _all(meta, "permissions/{*}license") for t in (_text(p) for p in lic.iterfind("{*}license-p")) if t
    ]
    return "\n\n".join(paragraphs) or None


def _assets(root) -> tuple[str, ...]:
    seen: list[str] = []
    for el in root.iter("{*}graphic", "{*}inline-graphic", "{*}media", "{*}supplementary-material"):
        href = _attr(el, XLINK_HREF)
        if href and href not in seen:
            seen.append(href)
    return tuple(seen)
