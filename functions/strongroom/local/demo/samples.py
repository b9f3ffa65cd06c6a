"""Realistic sample publisher packages, for the demo, the tests and the benchmarks.

Everything is made up (publishers, journals, people, ORCIDs, ISSNs) but *well-formed*:
ORCID and ISSN check digits are right, DOIs use the 10.5555 test prefix, the JATS is
JATS 1.3, the PDFs open in real viewers, the PNG chunks carry correct CRCs and the WARCs
are written by warcio. Output is deterministic for a seed, down to the archive bytes, so
tests can compare packages and benchmarks can regenerate the same input.

    python -m strongroom.local.demo.samples DEST_DIR     # writes the demo packages
"""

from __future__ import annotations

import gzip
import io
import random
import shutil
import struct
import sys
import tarfile
import tempfile
import textwrap
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import bagit
from lxml import etree
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from strongroom.domain.au import SEGMENT

XLINK = "http://www.w3.org/1999/xlink"
ALI = "http://www.niso.org/schemas/ali/1.0/"
MML = "http://www.w3.org/1998/Math/MathML"
CC_BY = "https://creativecommons.org/licenses/by/4.0/"
DOI_PREFIX = "10.5555"  # reserved for tests and examples by Crossref
JATS_DOCTYPE = (
    '<!DOCTYPE article PUBLIC "-//NLM//DTD JATS (Z39.96) Journal Archiving and Interchange DTD v1.3 20210610//EN" '
    '"JATS-archivearticle1-3.dtd">'
)
PackageFormat = Literal["zip", "tar", "tar.gz"]


# ---------------------------------------------------------------- journals and articles


@dataclass(frozen=True)
class JournalSpec:
    """One journal in one year (an AU is usually a year): who publishes it and how its articles look.

    Only publisher and title (the archive's name segments) are needed; the rest, left empty, is
    made up from them, so ``JournalSpec(publisher="acme", title="jbio")`` is a journal.
    """

    publisher: str  # segment, e.g. "northfield-society"
    title: str  # segment and journal-id, e.g. "jmbe"
    publisher_name: str = ""
    host: str = ""  # the publisher's web host, for self-uri and the web harvest
    journal_title: str = ""
    issn: str = ""
    eissn: str = ""
    field: str = "biology"  # picks the vocabulary: "biology" or "history"
    year: int = 2024
    volume: int = 1
    issues: int = 2
    elocation: bool = False  # article numbers (e12) instead of page ranges

    def __post_init__(self) -> None:
        words = self.publisher.replace("-", " ").replace("_", " ").replace(".", " ").title()
        number = zlib.crc32(f"{self.publisher}/{self.title}".encode()) % 9_000_000 + 1_000_000
        derived = {
            "publisher_name": f"{words} Publishing",
            "host": f"journals.{self.publisher}.example",
            "journal_title": f"Journal of {self.title.upper()} Studies",
            "issn": make_issn(number),
            "eissn": make_issn(number + 1),
        }
        for name, value in derived.items():
            if not getattr(self, name):
                object.__setattr__(self, name, value)

    def for_year(self, year: int) -> JournalSpec:
        """The same journal in another year, with the volume moved along."""
        return replace(self, year=year, volume=self.volume + (year - self.year))


@dataclass(frozen=True)
class SampleAuthor:
    given: str
    surname: str
    orcid: str  # https://orcid.org/...
    affiliation: str


@dataclass(frozen=True)
class SampleArticle:
    """Everything the generated files say about one article (the expected values for round trips)."""

    id: str  # the directory name in the bag and the DOI suffix: <journal>.<year>.<n>
    number: int
    doi: str
    title: str
    italic: tuple[str, ...]  # phrases of the title set in <italic> in the JATS
    authors: tuple[SampleAuthor, ...]
    abstract: str
    keywords: tuple[str, ...]
    journal: JournalSpec
    volume: str
    issue: str
    fpage: str | None
    lpage: str | None
    elocation_id: str | None
    pub_date: str  # ISO, day precision (epub)
    collection_date: str  # ISO, month precision (the issue)
    article_type: str
    license_url: str
    license_text: str
    url: str  # the landing page at the publisher
    pdf_url: str
    figure_caption: str

    @property
    def year(self) -> int:
        return int(self.pub_date[:4])


GIVEN = (
    "Amara",
    "Benedikt",
    "Chiara",
    "Dmitri",
    "Eleanor",
    "Farid",
    "Grace",
    "Haruto",
    "Ingrid",
    "Joaquín",
    "Kwame",
    "Lena",
    "Mateus",
    "Nadia",
    "Oluwaseun",
    "Priya",
    "Quentin",
    "Rosa",
    "Søren",
    "Tomasz",
    "Uma",
    "Valentina",
    "Wei",
    "Ximena",
    "Yusuf",
    "Zofia",
    "Aoife",
    "Rahul",
    "Mei",
    "Siobhán",
)
SURNAMES = (
    "Abernathy",
    "Bianchi",
    "Castellanos",
    "Dubois",
    "Eriksen",
    "Fitzgerald",
    "García",
    "Hoffmann",
    "Ishikawa",
    "Jankowski",
    "Kowalczyk",
    "Lindqvist",
    "Mensah",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quispe",
    "Rahman",
    "Schneider",
    "Tanaka",
    "Ueda",
    "Varga",
    "Whitfield",
    "Xu",
    "Yilmaz",
    "Zhang",
    "O'Connell",
    "Müller",
    "Novák",
    "Adeyemi",
)
INSTITUTIONS = (
    "Department of Biology, University of Northfield",
    "Institute of Marine Sciences, Eastport",
    "School of History, Lakeside University",
    "Centre for Environmental Research, Harrowgate",
    "Faculty of Science, University of Westmere",
    "Department of Ecology, Kingsbridge College",
    "Archive Studies Unit, Lakeside University",
    "Research Institute for Coastal Systems, Porthaven",
)
VOCAB = {
    "biology": {
        "subject": (
            "Population dynamics",
            "Thermal tolerance",
            "Larval dispersal",
            "Gene expression",
            "Foraging behaviour",
            "Reef recovery",
            "Microbial diversity",
            "Seasonal migration",
        ),
        "organism": (
            "Mytilus edulis",
            "Zostera marina",
            "Gadus morhua",
            "Acropora cervicornis",
            "Calanus finmarchicus",
            "Homarus gammarus",
            "Fucus vesiculosus",
            "Crassostrea gigas",
        ),
        "context": (
            "under warming scenarios",
            "along a salinity gradient",
            "in the North Atlantic",
            "after a marine heatwave",
            "in restored seagrass meadows",
            "across tidal zones",
        ),
        "method": (
            "a ten-year field survey",
            "controlled mesocosm experiments",
            "environmental DNA sampling",
            "long-term mooring data",
            "a common-garden experiment",
            "satellite-tagged individuals",
        ),
        "keywords": (
            "climate change",
            "marine ecology",
            "biodiversity",
            "ocean acidification",
            "conservation",
            "population genetics",
            "coastal ecosystems",
            "phenology",
        ),
        "finding": (
            "abundance declined by a third",
            "tolerance varied strongly between sites",
            "dispersal distances were shorter than predicted",
            "recovery depended on water clarity",
        ),
    },
    "history": {
        "subject": (
            "Print culture",
            "Urban memory",
            "Labour movements",
            "Cartographic practice",
            "Parish records",
            "Trade networks",
            "Public health",
            "Migration and settlement",
        ),
        "organism": (
            "Lakeside",
            "the Northern Marches",
            "the river towns",
            "the wool ports",
            "the upland parishes",
            "the canal districts",
        ),
        "context": (
            "1750–1850",
            "in the long nineteenth century",
            "between the wars",
            "in the early modern period",
            "after the enclosure acts",
            "during the cholera years",
        ),
        "method": (
            "newly catalogued parish registers",
            "merchants' letter books",
            "oral history interviews",
            "municipal minute books",
            "estate maps and surveys",
            "newspaper advertisements",
        ),
        "keywords": (
            "social history",
            "archives",
            "local history",
            "material culture",
            "historiography",
            "economic history",
            "memory studies",
            "digital humanities",
        ),
        "finding": (
            "literacy spread faster than assumed",
            "women ran a third of the shops",
            "the old routes persisted for decades",
            "relief was organised locally, not centrally",
        ),
    },
}


def orcid_check_digit(base15: str) -> str:
    """ISO 7064 MOD 11-2, as ORCID uses it."""
    total = 0
    for ch in base15:
        total = (total + int(ch)) * 2
    result = (12 - total % 11) % 11
    return "X" if result == 10 else str(result)


def issn_check_digit(base7: str) -> str:
    total = sum(int(d) * w for d, w in zip(base7, range(8, 1, -1)))
    result = (11 - total % 11) % 11
    return "X" if result == 10 else str(result)


def make_issn(number: int) -> str:
    """A well-formed (made-up) ISSN from a seven-digit number."""
    base = f"{number % 10_000_000:07d}"
    return f"{base[:4]}-{base[4:]}{issn_check_digit(base)}"


def _orcid(rng: random.Random) -> str:
    base = "00000002" + f"{rng.randrange(10_000_000):07d}"
    digits = base + orcid_check_digit(base)
    return "https://orcid.org/" + "-".join(digits[i : i + 4] for i in range(0, 16, 4))


def make_articles(n: int, seed: int, journal: JournalSpec, *, start: int = 1) -> list[SampleArticle]:
    """n articles of one journal-year, the same for the same seed; numbered from start, spread over the issues."""
    rng = random.Random(f"{seed}:{journal.title}:{journal.year}")
    words = VOCAB.get(journal.field, VOCAB["biology"])
    articles = []
    page = 1 + 15 * (start - 1)
    per_issue = max(1, -(-n // journal.issues))
    for index, number in enumerate(range(start, start + n)):
        issue = min(journal.issues, index // per_issue + 1)
        subject, organism, context = (
            rng.choice(words["subject"]),
            rng.choice(words["organism"]),
            rng.choice(words["context"]),
        )
        pattern = rng.randrange(3)
        if pattern == 0:
            title = f"{subject} of {organism} {context}"
        elif pattern == 1:
            title = f"{subject} in {organism}: evidence from {rng.choice(words['method'])}"
        else:
            title = f"Rethinking {subject.lower()} {context}: a study of {organism}"
        italic = (organism,) if journal.field == "biology" else ()
        authors = tuple(
            SampleAuthor(rng.choice(GIVEN), rng.choice(SURNAMES), _orcid(rng), rng.choice(INSTITUTIONS))
            for _ in range(rng.randint(1, 4))
        )
        method, finding = rng.choice(words["method"]), rng.choice(words["finding"])
        abstract = (
            f"{subject} remains poorly understood for {organism} {context}. "
            f"Here we draw on {method} to describe how it changed over time. "
            f"We find that {finding}, and that the pattern holds across sites. "
            f"These results matter for how {rng.choice(words['keywords'])} is studied and managed."
        )
        keywords = tuple(rng.sample(words["keywords"], 3))
        length = rng.randint(6, 22)
        if journal.elocation:
            fpage = lpage = None
            elocation = f"e{number}"
        else:
            fpage, lpage, elocation = str(page), str(page + length - 1), None
            page += length
        month = min(12, 1 + (issue - 1) * (12 // journal.issues))
        pub = date(journal.year, month, 1 + rng.randrange(27))
        article_id = f"{journal.title}.{journal.year}.{number}"
        url = f"https://{journal.host}/{journal.title}/{journal.volume}/{issue}/{number}"
        articles.append(
            SampleArticle(
                id=article_id,
                number=number,
                doi=f"{DOI_PREFIX}/{article_id}",
                title=title,
                italic=italic,
                authors=authors,
                abstract=abstract,
                keywords=keywords,
                journal=journal,
                volume=str(journal.volume),
                issue=str(issue),
                fpage=fpage,
                lpage=lpage,
                elocation_id=elocation,
                pub_date=pub.isoformat(),
                collection_date=f"{journal.year}-{month:02d}",
                article_type="research-article" if rng.random() < 0.85 else "review-article",
                license_url=CC_BY,
                license_text="This article is distributed under the terms of the Creative Commons "
                "Attribution 4.0 International License (CC BY 4.0).",
                url=url,
                pdf_url=url + ".pdf",
                figure_caption=f"Figure 1. {subject} by site, {journal.year}.",
            )
        )
    return articles


# ---------------------------------------------------------------- JATS


def _sub(parent, tag: str, text: str | None = None, **attrs) -> etree._Element:
    el = etree.SubElement(parent, tag, {k.replace("_", "-"): v for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def _title_with_italics(parent, title: str, italic: Iterable[str]) -> None:
    """Set the title text, wrapping the italic phrases in <italic> (as real JATS does for species names)."""
    rest = title
    last = parent
    for phrase in italic:
        before, found, after = rest.partition(phrase)
        if not found:
            continue
        if last is parent:
            parent.text = (parent.text or "") + before
        else:
            last.tail = (last.tail or "") + before
        last = _sub(parent, "italic", phrase)
        rest = after
    if last is parent:
        parent.text = (parent.text or "") + rest
    else:
        last.tail = (last.tail or "") + rest


def write_jats(article: SampleArticle) -> bytes:
    """The article as JATS 1.3 (Archiving tag set), pointing at article.pdf and fig1.png beside it."""
    j = article.journal
    nsmap = {"xlink": XLINK, "ali": ALI, "mml": MML}
    root = etree.Element("article", nsmap=nsmap)
    root.set("article-type", article.article_type)
    root.set("dtd-version", "1.3")
    root.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    front = _sub(root, "front")

    jm = _sub(front, "journal-meta")
    _sub(jm, "journal-id", j.title, journal_id_type="publisher-id")
    jtg = _sub(jm, "journal-title-group")
    _sub(jtg, "journal-title", j.journal_title)
    _sub(jm, "issn", j.issn, publication_format="print", pub_type="ppub")
    _sub(jm, "issn", j.eissn, publication_format="electronic", pub_type="epub")
    pub = _sub(jm, "publisher")
    _sub(pub, "publisher-name", j.publisher_name)

    am = _sub(front, "article-meta")
    _sub(am, "article-id", article.doi, pub_id_type="doi")
    _sub(am, "article-id", article.id, pub_id_type="publisher-id")
    cats = _sub(am, "article-categories")
    _sub(
        _sub(cats, "subj-group", subj_group_type="heading"),
        "subject",
        "Review" if article.article_type == "review-article" else "Research Article",
    )
    tg = _sub(am, "title-group")
    _title_with_italics(_sub(tg, "article-title"), article.title, article.italic)

    cg = _sub(am, "contrib-group")
    aff_ids: dict[str, str] = {}
    for author in article.authors:
        aff_ids.setdefault(author.affiliation, f"aff{len(aff_ids) + 1}")
    for author in article.authors:
        contrib = _sub(cg, "contrib", contrib_type="author")
        _sub(contrib, "contrib-id", author.orcid, contrib_id_type="orcid", authenticated="true")
        name = _sub(contrib, "name", name_style="western")
        _sub(name, "surname", author.surname)
        _sub(name, "given-names", author.given)
        _sub(
            contrib,
            "xref",
            aff_ids[author.affiliation].removeprefix("aff"),
            ref_type="aff",
            rid=aff_ids[author.affiliation],
        )
    for text, aff_id in aff_ids.items():
        aff = _sub(am, "aff", id=aff_id)
        _sub(aff, "label", aff_id.removeprefix("aff"))
        dept, _, inst = text.rpartition(", ")
        if dept:
            _sub(aff, "institution", dept, content_type="dept").tail = ", "
        _sub(aff, "institution", inst)

    y, m, d = article.pub_date.split("-")
    epub = _sub(am, "pub-date", publication_format="electronic", date_type="pub", iso_8601_date=article.pub_date)
    _sub(epub, "day", d)
    _sub(epub, "month", m)
    _sub(epub, "year", y)
    cy, cm = article.collection_date.split("-")
    coll = _sub(am, "pub-date", publication_format="print", date_type="collection")
    _sub(coll, "month", cm)
    _sub(coll, "year", cy)
    _sub(am, "volume", article.volume)
    _sub(am, "issue", article.issue)
    if article.elocation_id:
        _sub(am, "elocation-id", article.elocation_id)
    else:
        _sub(am, "fpage", article.fpage)
        _sub(am, "lpage", article.lpage)

    perms = _sub(am, "permissions")
    holder = ", ".join(a.surname for a in article.authors[:2]) + (" et al." if len(article.authors) > 2 else "")
    _sub(perms, "copyright-statement", f"© {article.year} The Authors")
    _sub(perms, "copyright-year", str(article.year))
    _sub(perms, "copyright-holder", holder)
    _sub(perms, "{%s}free_to_read" % ALI)
    lic = _sub(perms, "license")
    lic.set("{%s}href" % XLINK, article.license_url)
    _sub(lic, "{%s}license_ref" % ALI, article.license_url)
    _sub(lic, "license-p", article.license_text)

    _sub(am, "self-uri").set("{%s}href" % XLINK, article.url)
    pdf = _sub(am, "self-uri", content_type="pdf")
    pdf.set("{%s}href" % XLINK, "article.pdf")
    abstract = _sub(am, "abstract")
    _sub(abstract, "p", article.abstract)
    kg = _sub(am, "kwd-group", kwd_group_type="author")
    for kw in article.keywords:
        _sub(kg, "kwd", kw)

    body = _sub(root, "body")
    sec = _sub(body, "sec", id="s1", sec_type="intro")
    _sub(sec, "title", "Introduction")
    p = _sub(sec, "p", article.abstract.split(". ")[0] + ". The results are summarised in ")
    _sub(p, "xref", "Figure 1", ref_type="fig", rid="f1").tail = "."
    fig = _sub(sec, "fig", id="f1")
    _sub(fig, "label", "Figure 1")
    _sub(_sub(fig, "caption"), "p", article.figure_caption)
    graphic = _sub(fig, "graphic", mimetype="image", mime_subtype="png")
    graphic.set("{%s}href" % XLINK, "fig1.png")

    back = _sub(root, "back")
    refs = _sub(back, "ref-list")
    _sub(refs, "title", "References")
    ref = _sub(refs, "ref", id="r1")
    cit = _sub(ref, "element-citation", publication_type="journal")
    group = _sub(cit, "person-group", person_group_type="author")
    first = article.authors[0]
    nm = _sub(group, "name")
    _sub(nm, "surname", first.surname)
    _sub(nm, "given-names", first.given[0])
    _sub(cit, "article-title", f"Earlier work on {article.keywords[0]}")
    _sub(cit, "source", article.journal.journal_title)
    _sub(cit, "year", str(article.year - 3))

    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True, doctype=JATS_DOCTYPE)


# ---------------------------------------------------------------- PDF


def _pdf_string(text: str) -> bytes:
    """A PDF literal string in WinAnsiEncoding (what the standard Helvetica fonts use here)."""
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def write_pdf(article: SampleArticle) -> bytes:
    """A one-page PDF 1.4 showing the article's title, authors, citation, abstract and license.

    Written by hand so that its structure can be checked: every object's offset in the
    xref table is exact, and the text is an uncompressed content stream.
    """
    j = article.journal
    lines: list[tuple[str, float, str]] = []  # (font, size, text)
    lines.append(("F1", 9, f"{j.journal_title} {article.volume}({article.issue}) {article.year}"))
    lines.append(("F1", 9, f"https://doi.org/{article.doi}"))
    lines.append(("F1", 6, ""))
    for part in textwrap.wrap(article.title, 58):
        lines.append(("F2", 16, part))
    lines.append(("F1", 6, ""))
    for part in textwrap.wrap(", ".join(f"{a.given} {a.surname}" for a in article.authors), 90):
        lines.append(("F1", 11, part))
    for aff in dict.fromkeys(a.affiliation for a in article.authors):
        lines.append(("F3", 9, aff))
    lines.append(("F1", 8, ""))
    lines.append(("F2", 11, "Abstract"))
    for part in textwrap.wrap(article.abstract, 95):
        lines.append(("F1", 10, part))
    lines.append(("F1", 8, ""))
    lines.append(("F2", 10, "Keywords: " + "; ".join(article.keywords)))
    lines.append(("F1", 8, ""))
    lines.append(("F3", 8, article.license_text))
    lines.append(("F3", 8, article.license_url))

    content = bytearray(b"0.2 0.3 0.5 RG 1.5 w 56 758 m 539 758 l S\n0 0 0 rg\nBT\n")
    y = 790.0
    content += b"/F1 9 Tf 56 790 Td\n"
    y_prev = 790.0
    for font, size, text in lines:
        y -= size * 1.35 if text else size
        content += b"/%s %g Tf %g %g Td %s Tj\n" % (font.encode(), size, 0, y - y_prev, _pdf_string(text))
        y_prev = y
    content += b"ET\n"
    stream = bytes(content)

    info = (
        b"<< /Title %s /Author %s /Subject %s /Producer (strongroom sample generator) /CreationDate (D:%s000000Z) >>"
        % (
            _pdf_string(article.title),
            _pdf_string("; ".join(f"{a.given} {a.surname}" for a in article.authors)),
            _pdf_string("doi:" + article.doi),
            article.pub_date.replace("-", "").encode(),
        )
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R /F2 6 0 R /F3 7 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Oblique /Encoding /WinAnsiEncoding >>",
        info,
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f\r\n"
    for offset in offsets:
        out += b"%010d 00000 n\r\n" % offset
    file_id = uuid.uuid5(uuid.NAMESPACE_URL, article.url).hex.encode()
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R /ID [<%s> <%s>] >>\n" % (
        len(objects) + 1,
        len(objects),
        file_id,
        file_id,
    )
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at  # "%%%%" formats as the "%%EOF" marker
    return bytes(out)


# ---------------------------------------------------------------- PNG


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(article: SampleArticle, width: int = 360, height: int = 240) -> bytes:
    """A bar chart (axes, gridlines, coloured bars, seeded by the article) as an 8-bit RGB PNG."""
    rng = random.Random(article.doi)
    white, grid, axis = b"\xff\xff\xff", b"\xe4\xe7\xeb", b"\x33\x33\x33"
    palette = (b"\x1f\x77\xb4", b"\xff\x7f\x0e", b"\x2c\xa0\x2c", b"\xd6\x27\x28", b"\x94\x67\xbd")
    left, bottom, top = 30, height - 24, 16
    bars = rng.randint(4, 8)
    slot = (width - left - 16) // bars
    heights = [rng.randint(20, bottom - top) for _ in range(bars)]
    columns: list[
        tuple[bytes | None, int]
    ] = []  # per x: (colour or none, bar top y) — the bar fills from its top down to the axis
    for x in range(width):
        i, within = divmod(x - left - 4, slot) if x > left + 3 else (-1, 0)
        if 0 <= i < bars and within < slot - 8:
            columns.append((palette[i % len(palette)], bottom - heights[i]))
        else:
            columns.append((None, height))
    raw = bytearray()
    rows: dict[tuple, bytes] = {}  # most rows repeat; build each distinct one once
    for y in range(height):
        background = grid if (bottom - y) % 40 == 0 and top <= y < bottom else white
        key = (
            background,
            y in (bottom, bottom + 1),
            top <= y <= bottom,
            tuple(bottom - h <= y < bottom for h in heights),
        )
        row = rows.get(key)
        if row is None:
            built = bytearray()
            for x, (colour, bar_top) in enumerate(columns):
                if x in (left, left + 1) and top <= y <= bottom or y in (bottom, bottom + 1) and x >= left:
                    built += axis
                elif colour is not None and bar_top <= y < bottom:
                    built += colour
                else:
                    built += background
            row = rows[key] = bytes(built)
        raw.append(0)  # filter: none
        raw += row
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    text = b"Title\x00" + article.figure_caption.encode("latin-1", errors="replace")
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"tEXt", text)
        + _png_chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + _png_chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------- HTML landing pages and the WARC


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def landing_page(article: SampleArticle) -> bytes:
    """The publisher's HTML page for an article, as a harvester would find it (Highwire citation_* tags)."""
    j = article.journal
    metas = [
        ("citation_title", article.title),
        ("citation_journal_title", j.journal_title),
        ("citation_publisher", j.publisher_name),
        ("citation_doi", article.doi),
        ("citation_publication_date", article.pub_date.replace("-", "/")),
        ("citation_volume", article.volume),
        ("citation_issue", article.issue),
        ("citation_issn", j.issn),
        ("citation_issn", j.eissn),
        ("citation_pdf_url", article.pdf_url),
    ]
    metas += [("citation_author", f"{a.surname}, {a.given}") for a in article.authors]
    head = "\n".join(f'<meta name="{n}" content="{_esc(v)}">' for n, v in metas)
    authors = ", ".join(_esc(f"{a.given} {a.surname}") for a in article.authors)
    html = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_esc(article.title)} | {_esc(j.journal_title)}</title>
{head}
<link rel="license" href="{article.license_url}"></head>
<body><header><a href="https://{j.host}/{j.title}/">{_esc(j.journal_title)}</a></header>
<main><h1>{_esc(article.title)}</h1><p class="authors">{authors}</p>
<p>Volume {article.volume}, issue {article.issue}, published {article.pub_date}.
<a href="https://doi.org/{article.doi}">https://doi.org/{article.doi}</a></p>
<h2>Abstract</h2><p>{_esc(article.abstract)}</p>
<p><a href="{article.pdf_url}">Download PDF</a> · <a href="{article.license_url}">CC BY 4.0</a></p></main>
</body></html>
"""
    return html.encode("utf-8")


def _http_date(day: str) -> str:
    return datetime.fromisoformat(day).replace(tzinfo=UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def write_warc(out, articles: list[SampleArticle], *, filename: str, seed: int = 0) -> None:
    """A gzip WARC of a small harvest: warcinfo, then request/response pairs for each landing page and PDF."""
    rng = random.Random(f"warc:{seed}:{filename}")

    def record_id() -> str:
        return f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"

    crawl_day = max(a.pub_date for a in articles)
    crawl_date = f"{crawl_day}T12:00:00Z"
    writer = WARCWriter(out, gzip=True, warc_version="1.1")
    info = (
        f"software: strongroom sample generator\r\nformat: WARC File Format 1.1\r\n"
        f"conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n"
        f"isPartOf: {articles[0].journal.publisher}-harvest\r\n"
        f"description: harvest of {articles[0].journal.journal_title}\r\n"
    ).encode()
    writer.write_record(
        writer.create_warc_record(
            "",
            "warcinfo",
            payload=io.BytesIO(info),
            length=len(info),
            warc_headers_dict={"WARC-Record-ID": record_id(), "WARC-Date": crawl_date, "WARC-Filename": filename},
        )
    )
    second = 0
    for article in articles:
        host = article.journal.host
        for url, body, ctype in (
            (article.url, landing_page(article), "text/html; charset=utf-8"),
            (article.pdf_url, write_pdf(article), "application/pdf"),
        ):
            second += 1
            when = f"{crawl_day}T12:{second // 60 % 60:02d}:{second % 60:02d}Z"
            resp_headers = StatusAndHeaders(
                "200 OK",
                [
                    ("Content-Type", ctype),
                    ("Content-Length", str(len(body))),
                    ("Date", _http_date(crawl_day)),
                    ("Server", "nginx"),
                ],
                protocol="HTTP/1.1",
            )
            resp = writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(body),
                length=len(body),
                http_headers=resp_headers,
                warc_headers_dict={"WARC-Record-ID": record_id(), "WARC-Date": when},
            )
            path = url.split(host, 1)[1]
            req_headers = StatusAndHeaders(
                f"GET {path} HTTP/1.1",
                [("Host", host), ("User-Agent", "strongroom-sample-harvester/1.0"), ("Accept", "*/*")],
                is_http_request=True,
            )
            req = writer.create_warc_record(
                url,
                "request",
                http_headers=req_headers,
                warc_headers_dict={"WARC-Record-ID": record_id(), "WARC-Date": when},
            )
            writer.write_request_response_pair(req, resp)


# ---------------------------------------------------------------- packages


def _write_big_file(path: Path, size: int, seed: int) -> None:
    """size bytes of seeded pseudo-random data, 1 MiB at a time (each MiB stamped with its index)."""
    block = random.Random(f"big:{seed}").randbytes(1 << 20)
    with path.open("wb") as fh:
        written, counter = 0, 0
        while written < size:
            chunk = struct.pack(">QQ", seed & 0xFFFFFFFFFFFFFFFF, counter) + block[16:]
            chunk = chunk[: size - written]
            fh.write(chunk)
            written += len(chunk)
            counter += 1


def _check_segment(what: str, value: str) -> None:
    if not SEGMENT.match(value):
        raise ValueError(f"{what} {value!r} is not a valid name: use lower-case letters, digits, '.', '_' or '-'")


def make_package(
    dest_dir: Path,
    *,
    publisher: str,
    title: str,
    au: str,
    articles: list[SampleArticle],
    fmt: PackageFormat = "zip",
    warc: bool = False,
    big_file_bytes: int = 0,
    extra_bag_info: dict[str, str] | None = None,
    seed: int = 0,
    name: str | None = None,
    after_bagging: Callable[[Path], None] | None = None,
) -> Path:
    """Build a BagIt bag of the articles (and a harvest WARC, and a big file) and archive it into dest_dir.

    The archive holds the bag as one top-level folder named like the package. ``after_bagging``
    gets the bag directory after the manifests are written: tests use it to damage a bag.
    """
    if not articles:
        raise ValueError("a package needs at least one article")
    if fmt not in ("zip", "tar", "tar.gz"):
        raise ValueError(f"fmt must be 'zip', 'tar' or 'tar.gz', not {fmt!r}")
    for what, value in (("publisher", publisher), ("title", title), ("AU", au)):
        _check_segment(what, value)
    name = name or f"{title}-{au}" + ("-harvest" if warc else "")
    _check_segment("package name", name)
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    journal = articles[0].journal

    with tempfile.TemporaryDirectory(dir=dest_dir, prefix=".bagging-") as tmp:
        bag_dir = Path(tmp) / name
        bag_dir.mkdir()
        for article in articles:
            folder = bag_dir / article.id
            folder.mkdir()
            (folder / "article.xml").write_bytes(write_jats(article))
            (folder / "article.pdf").write_bytes(write_pdf(article))
            (folder / "fig1.png").write_bytes(write_png(article))
        if warc:
            (bag_dir / "harvest").mkdir()
            warc_name = f"{name}.warc.gz"
            with (bag_dir / "harvest" / warc_name).open("wb") as fh:
                write_warc(fh, articles, filename=warc_name, seed=seed)
        if big_file_bytes:
            (bag_dir / "supplement").mkdir()
            _write_big_file(bag_dir / "supplement" / "dataset.bin", big_file_bytes, seed)

        bagging_date = max(a.pub_date for a in articles)
        bag_info = {
            "Source-Organization": journal.publisher_name,
            "Contact-Email": f"archive@{journal.host}",
            "External-Identifier": f"{publisher}/{title}/{au}/{name}",
            "External-Description": f"{journal.journal_title}, {len(articles)} article(s)"
            + (" and a web harvest" if warc else ""),
            "Strongroom-Publisher": publisher,
            "Strongroom-Title": title,
            "Strongroom-AU": au,
            "ISSN": journal.issn,
            "EISSN": journal.eissn,
            "Bagging-Date": bagging_date,
        }
        bag_info.update(extra_bag_info or {})
        bagit.make_bag(str(bag_dir), bag_info=bag_info, checksums=["sha256", "sha512"])
        if after_bagging is not None:
            after_bagging(bag_dir)

        suffix = {"zip": ".zip", "tar": ".tar", "tar.gz": ".tar.gz"}[fmt]
        target = dest_dir / f"{name}{suffix}"
        partial = dest_dir / f".{name}{suffix}.partial"
        mtime = datetime.fromisoformat(bagging_date).replace(tzinfo=UTC)
        if fmt == "zip":
            _zip(bag_dir, partial, mtime)
        else:
            _tar(bag_dir, partial, mtime, compress=fmt == "tar.gz", fast=big_file_bytes > 0)
        partial.replace(target)
    return target


def _walk(bag_dir: Path) -> list[Path]:
    """Every file and directory under bag_dir, sorted, so archives come out byte-for-byte the same."""
    return sorted(bag_dir.rglob("*"), key=lambda p: p.relative_to(bag_dir).as_posix())


_STORED = (".png", ".pdf", ".gz", ".bin")  # already compressed or incompressible


def _zip(bag_dir: Path, target: Path, mtime: datetime) -> None:
    stamp = mtime.timetuple()[:6]
    top = bag_dir.name
    with zipfile.ZipFile(target, "w", allowZip64=True) as zf:
        for path in _walk(bag_dir):
            arcname = f"{top}/{path.relative_to(bag_dir).as_posix()}"
            if path.is_dir():
                info = zipfile.ZipInfo(arcname + "/", stamp)
                info.external_attr = (0o40755 << 16) | 0x10
                zf.writestr(info, b"")
                continue
            info = zipfile.ZipInfo(arcname, stamp)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_STORED if path.suffix in _STORED else zipfile.ZIP_DEFLATED
            info.file_size = path.stat().st_size
            with path.open("rb") as src, zf.open(info, "w", force_zip64=info.file_size > 0x7FFFFFFF) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def _tar(bag_dir: Path, target: Path, mtime: datetime, *, compress: bool, fast: bool) -> None:
    def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime = int(mtime.timestamp())
        info.uid = info.gid = 0
        info.uname = info.gname = "strongroom"
        info.mode = 0o755 if info.isdir() else 0o644
        return info

    top = bag_dir.name
    with open(target, "wb") as raw:
        # gzip via GzipFile so the header's mtime and name are fixed (tarfile would stamp them).
        stream = (
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=1 if fast else 6)
            if compress
            else raw
        )
        try:
            with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tf:
                tf.addfile(normalise(tf.gettarinfo(str(bag_dir), arcname=top)))
                for path in _walk(bag_dir):
                    info = normalise(tf.gettarinfo(str(path), arcname=f"{top}/{path.relative_to(bag_dir).as_posix()}"))
                    if info.isreg():
                        with path.open("rb") as src:
                            tf.addfile(info, src)
                    else:
                        tf.addfile(info)
        finally:
            if compress:
                stream.close()


# ---------------------------------------------------------------- the demo

SOCIETY = JournalSpec(
    publisher="northfield-society",
    publisher_name="Northfield Society for Marine Biology",
    host="journals.northfield-society.example",
    title="jmbe",
    journal_title="Journal of Marine Biology and Ecology",
    issn=make_issn(2049310),
    eissn=make_issn(2049311),
    field="biology",
    year=2023,
    volume=41,
    issues=2,
)
PRESS = JournalSpec(
    publisher="lakeside-up",
    publisher_name="Lakeside University Press",
    host="press.lakeside-university.example",
    title="lrh",
    journal_title="Lakeside Review of Regional History",
    issn=make_issn(1758220),
    eissn=make_issn(1758221),
    field="history",
    year=2024,
    volume=7,
    issues=1,
    elocation=True,
)


def _corrupt_first_pdf(bag_dir: Path) -> None:
    """Flip bytes in one payload file after its checksums were written (what a bad transfer does)."""
    pdf = sorted((bag_dir / "data").rglob("article.pdf"))[0]
    data = bytearray(pdf.read_bytes())
    data[200:216] = bytes(b ^ 0xFF for b in data[200:216])
    pdf.write_bytes(bytes(data))


def make_demo_packages(dest_dir: Path) -> list[tuple[str, str, str, Path]]:
    """The demo's deposits: (publisher, title, au, archive path), the last one deliberately bad.

    Northfield Society deposits two years of its journal (6 + 6 articles, zip and tar.gz);
    Lakeside University Press deposits one year with a web-harvest WARC (tar). The bad
    package claims AU 2023 in its bag-info while it is deposited under 2024, and one of
    its PDFs was damaged after bagging.
    """
    dest_dir = Path(dest_dir)
    out = []
    s23, s24 = SOCIETY, SOCIETY.for_year(2024)
    out.append(
        (
            s23.publisher,
            s23.title,
            "2023",
            make_package(
                dest_dir,
                publisher=s23.publisher,
                title=s23.title,
                au="2023",
                articles=make_articles(6, 1, s23),
                fmt="zip",
                seed=1,
            ),
        )
    )
    out.append(
        (
            s24.publisher,
            s24.title,
            "2024",
            make_package(
                dest_dir,
                publisher=s24.publisher,
                title=s24.title,
                au="2024",
                articles=make_articles(6, 2, s24),
                fmt="tar.gz",
                seed=2,
            ),
        )
    )
    out.append(
        (
            PRESS.publisher,
            PRESS.title,
            "2024",
            make_package(
                dest_dir,
                publisher=PRESS.publisher,
                title=PRESS.title,
                au="2024",
                articles=make_articles(4, 3, PRESS),
                fmt="tar",
                warc=True,
                seed=3,
            ),
        )
    )
    out.append(
        (
            s24.publisher,
            s24.title,
            "2024",
            make_package(
                dest_dir,
                publisher=s24.publisher,
                title=s24.title,
                au="2024",
                articles=make_articles(2, 4, s24, start=7),
                fmt="zip",
                seed=4,
                name="jmbe-2024-late",
                extra_bag_info={"Strongroom-AU": "2023"},
                after_bagging=_corrupt_first_pdf,
            ),
        )
    )
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m strongroom.local.demo.samples DEST_DIR", file=sys.stderr)
        return 2
    for publisher, title, au, path in make_demo_packages(Path(args[0])):
        print(f"incoming/{publisher}/{title}/{au}/{path.name}\t{path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
