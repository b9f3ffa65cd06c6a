"""The sample generator makes valid bags, real PDFs and PNGs, and the same bytes for the same seed."""

from __future__ import annotations

import re
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import bagit
import pytest

from strongroom.domain.au import SEGMENT
from strongroom.domain.formats import count_warc_records, identify
from strongroom.local.demo.samples import (
    PRESS,
    SOCIETY,
    JournalSpec,
    issn_check_digit,
    make_articles,
    make_demo_packages,
    make_package,
    orcid_check_digit,
    write_pdf,
    write_png,
)


def extract(archive: Path, into: Path) -> Path:
    """Unpack an archive and return its one top-level folder (the bag)."""
    into.mkdir(parents=True, exist_ok=True)
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(into)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(into, filter="data")
    (top,) = list(into.iterdir())
    return top


def valid_bag(path: Path) -> bagit.Bag:
    bag = bagit.Bag(str(path))
    bag.validate()
    return bag


@pytest.mark.parametrize("fmt", ["zip", "tar", "tar.gz"])
def test_package_is_a_valid_bag(tmp_path, fmt):
    articles = make_articles(2, 5, SOCIETY)
    archive = make_package(
        tmp_path / "out",
        publisher="northfield-society",
        title="jmbe",
        au="2023",
        articles=articles,
        fmt=fmt,
        extra_bag_info={"Internal-Sender-Identifier": "x1"},
    )
    assert archive.name == f"jmbe-2023.{fmt}"
    assert [p.name for p in (tmp_path / "out").iterdir()] == [archive.name]  # no scratch left behind
    bag = valid_bag(extract(archive, tmp_path / "x"))
    assert set(bag.algorithms) == {"sha256", "sha512"}
    assert bag.info["Strongroom-Publisher"] == "northfield-society"
    assert bag.info["Strongroom-Title"] == "jmbe"
    assert bag.info["Strongroom-AU"] == "2023"
    assert bag.info["Source-Organization"] == SOCIETY.publisher_name
    assert bag.info["ISSN"] == SOCIETY.issn
    assert bag.info["External-Identifier"] == "northfield-society/jmbe/2023/jmbe-2023"
    assert bag.info["Internal-Sender-Identifier"] == "x1"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", bag.info["Bagging-Date"])
    assert sorted(bag.payload_files()) == sorted(
        f"data/{a.id}/{name}" for a in articles for name in ("article.xml", "article.pdf", "fig1.png")
    )


def test_harvest_and_big_file(tmp_path):
    articles = make_articles(2, 9, PRESS)
    size = 2 * (1 << 20) + 12345
    archive = make_package(
        tmp_path,
        publisher="lakeside-up",
        title="lrh",
        au="2024",
        articles=articles,
        fmt="tar.gz",
        warc=True,
        big_file_bytes=size,
        seed=9,
    )
    bag_dir = extract(archive, tmp_path / "x")
    valid_bag(bag_dir)
    warc = bag_dir / "data" / "harvest" / "lrh-2024-harvest.warc.gz"
    assert identify(warc).extension == ".warc.gz"
    summary = count_warc_records(warc)
    assert summary.by_type == {"warcinfo": 1, "request": 4, "response": 4}
    big = bag_dir / "data" / "supplement" / "dataset.bin"
    assert big.stat().st_size == size
    with big.open("rb") as fh:
        first, second = fh.read(1 << 20), fh.read(1 << 20)
    assert first != second and first[16:] == second[16:]  # the same block, each stamped with its index


def test_same_seed_same_bytes(tmp_path):
    def build(where: str, fmt: str, seed: int) -> bytes:
        arts = make_articles(3, seed, PRESS)
        return make_package(
            tmp_path / where,
            publisher="lakeside-up",
            title="lrh",
            au="2024",
            articles=arts,
            fmt=fmt,
            warc=True,
            big_file_bytes=1000,
            seed=seed,
        ).read_bytes()

    for fmt in ("zip", "tar.gz"):
        assert build(f"a-{fmt}", fmt, 1) == build(f"b-{fmt}", fmt, 1)
    assert build("c", "zip", 2) != build("d", "zip", 1)
    assert make_articles(4, 3, SOCIETY) == make_articles(4, 3, SOCIETY)
    assert make_articles(4, 3, SOCIETY) != make_articles(4, 4, SOCIETY)


def test_articles_look_real():
    articles = make_articles(8, 1, SOCIETY)
    assert [a.doi for a in articles] == [f"10.5555/jmbe.2023.{n}" for n in range(1, 9)]
    assert {a.issue for a in articles} == {"1", "2"}
    pages = [(int(a.fpage), int(a.lpage)) for a in articles]
    assert all(f <= last for f, last in pages) and all(pages[i][1] < pages[i + 1][0] for i in range(7))
    for a in articles:
        assert SEGMENT.match(a.id)
        assert a.url == f"https://{SOCIETY.host}/jmbe/41/{a.issue}/{a.number}"
        assert a.license_url == "https://creativecommons.org/licenses/by/4.0/"
        for author in a.authors:
            digits = author.orcid.removeprefix("https://orcid.org/").replace("-", "")
            assert len(digits) == 16 and orcid_check_digit(digits[:15]) == digits[15]
    for issn in (SOCIETY.issn, SOCIETY.eissn, PRESS.issn, PRESS.eissn):
        digits = issn.replace("-", "")
        assert issn_check_digit(digits[:7]) == digits[7]
    assert orcid_check_digit("000000021825009") == "7"  # ORCID's own documented example
    assert all(a.elocation_id and a.fpage is None for a in make_articles(3, 1, PRESS))


def test_pdf_structure_is_exact():
    article = make_articles(1, 2, SOCIETY)[0]
    pdf = write_pdf(article)
    assert pdf.startswith(b"%PDF-1.4\n")
    assert pdf.rstrip().endswith(b"%%EOF")
    startxref = int(re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", pdf).group(1))
    assert pdf[startxref:].startswith(b"xref\n")
    section = re.match(rb"xref\n0 (\d+)\n", pdf[startxref:])
    count = int(section.group(1))
    table = pdf[startxref + section.end() :]
    entries = [table[i * 20 : (i + 1) * 20] for i in range(count)]
    assert entries[0] == b"0000000000 65535 f\r\n"
    for number, entry in enumerate(entries[1:], start=1):
        assert re.fullmatch(rb"\d{10} 00000 n\r\n", entry)
        offset = int(entry[:10])
        assert pdf[offset:].startswith(b"%d 0 obj\n" % number), number
    trailer = table[count * 20 :]
    assert trailer.startswith(b"trailer\n") and b"/Size %d" % count in trailer and b"/Root 1 0 R" in trailer
    # The content stream's /Length is the real length, and it shows the title.
    match = re.search(rb"<< /Length (\d+) >>\nstream\n", pdf)
    stream = pdf[match.end() : match.end() + int(match.group(1))]
    assert pdf[match.end() + int(match.group(1)) :].startswith(b"\nendstream")
    first_line = article.title.split()[0].encode()
    assert first_line in stream and b"BT" in stream and b"ET" in stream


def test_pdf_escapes_awkward_text():
    from dataclasses import replace

    article = replace(make_articles(1, 2, SOCIETY)[0], title=r"Parens (and) back\slash — ünïcode 中文")
    pdf = write_pdf(article)
    assert rb"Parens \(and\) back\\slash" in pdf
    assert identify_bytes(pdf) == "application/pdf"


def identify_bytes(data: bytes) -> str:
    from strongroom.domain.formats import identify_head

    return identify_head(data).mime


def test_png_chunks_are_valid():
    png = write_png(make_articles(1, 3, SOCIETY)[0], width=120, height=80)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    pos, chunks = 8, []
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + data) & 0xFFFFFFFF, kind
        chunks.append((kind, data))
        pos += 12 + length
    kinds = [k for k, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    width, height, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
    assert (width, height, depth, colour) == (120, 80, 8, 2)
    raw = zlib.decompress(b"".join(d for k, d in chunks if k == b"IDAT"))
    assert len(raw) == height * (1 + 3 * width)
    assert all(raw[y * (1 + 3 * width)] == 0 for y in range(height))  # filter byte per row
    assert len(set(raw)) > 5  # not a blank image


def test_bad_names_and_arguments_are_refused(tmp_path):
    articles = make_articles(1, 0, SOCIETY)
    with pytest.raises(ValueError, match="publisher"):
        make_package(tmp_path, publisher="Bad Name", title="jmbe", au="2023", articles=articles)
    with pytest.raises(ValueError, match="fmt"):
        make_package(tmp_path, publisher="p", title="jmbe", au="2023", articles=articles, fmt="rar")
    with pytest.raises(ValueError, match="article"):
        make_package(tmp_path, publisher="p", title="jmbe", au="2023", articles=[])


def test_demo_packages(tmp_path):
    demo = make_demo_packages(tmp_path)
    assert len({publisher for publisher, *_ in demo}) == 2
    for publisher, title, au, path in demo:
        assert all(SEGMENT.match(s) for s in (publisher, title, au))
        assert path.exists()
    *good, bad = demo
    for i, (publisher, title, au, path) in enumerate(good):
        bag = valid_bag(extract(path, tmp_path / f"good{i}"))
        assert (bag.info["Strongroom-Publisher"], bag.info["Strongroom-Title"], bag.info["Strongroom-AU"]) == (
            publisher,
            title,
            au,
        )
    assert any((extract(p, tmp_path / f"w{i}") / "data" / "harvest").is_dir() for i, (*_, p) in enumerate(good))
    bad_bag = bagit.Bag(str(extract(bad[3], tmp_path / "bad")))
    with pytest.raises(bagit.BagValidationError):
        bad_bag.validate()
    assert bad_bag.info["Strongroom-AU"] != bad[2]


def test_a_journal_needs_only_its_names():
    spec = JournalSpec(publisher="acme", title="jbio")
    assert spec.publisher_name == "Acme Publishing" and spec.host == "journals.acme.example"
    assert spec.journal_title and spec.issn != spec.eissn
    assert JournalSpec(publisher="acme", title="jbio") == spec  # derived the same way every time
    article = make_articles(1, 0, spec)[0]
    assert article.doi == "10.5555/jbio.2024.1" and article.url.startswith("https://journals.acme.example/jbio/1/")
