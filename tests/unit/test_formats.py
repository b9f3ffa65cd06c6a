"""Format identification, WARC summaries and the payload description."""

from __future__ import annotations

import gzip
import io

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from strongroom.domain.describe import describe
from strongroom.domain.formats import WarcError, count_warc_records, identify
from strongroom.local.demo.samples import (
    PRESS,
    SOCIETY,
    make_articles,
    write_jats,
    write_pdf,
    write_png,
    write_warc,
)


@pytest.fixture(scope="module")
def articles():
    return make_articles(3, 11, PRESS)


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def warc_gz(articles) -> bytes:
    out = io.BytesIO()
    write_warc(out, articles, filename="h.warc.gz", seed=1)
    return out.getvalue()


@pytest.mark.parametrize(
    "name, data, mime, ext",
    [
        ("a.pdf", b"%PDF-1.7\n%\xe2\xe3\n1 0 obj", "application/pdf", ".pdf"),
        ("a.bin", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png", ".png"),
        ("a.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg", ".jpg"),
        ("a.gif", b"GIF89a\x01\x00\x01\x00", "image/gif", ".gif"),
        ("a.tif", b"II*\x00\x08\x00\x00\x00", "image/tiff", ".tif"),
        ("a.tif", b"MM\x00*\x00\x00\x00\x08", "image/tiff", ".tif"),
        (
            "a.xml",
            b'<?xml version="1.0"?>\n<!-- c -->\n<!DOCTYPE article PUBLIC "-//NLM//DTD JATS//EN" "x.dtd" '
            b'[<!ENTITY a "b">]>\n<article dtd-version="1.3"><front/>',
            "application/jats+xml",
            ".xml",
        ),
        ("a.xml", b"\xef\xbb\xbf<j:article xmlns:j='urn:x'/>", "application/jats+xml", ".xml"),
        ("a.xml", b'<?xml version="1.0"?><collection><item/></collection>', "application/xml", ".xml"),
        ("a.htm", b"<!DOCTYPE html><html><body>hi</body></html>", "text/html", ".html"),
        ("a.txt", "Readme — plain text, ünïcödé.\n".encode(), "text/plain", ".txt"),
        ("a.dat", b"\x00\x01\x02\x03\xfe\xff" * 10, "application/octet-stream", None),
        ("a.warc", b"WARC/1.1\r\nWARC-Type: warcinfo\r\n", "application/warc", ".warc"),
    ],
)
def test_identify_by_content(tmp_path, name, data, mime, ext):
    fmt = identify(write(tmp_path, name, data))
    assert (fmt.mime, fmt.extension) == (mime, ext)


def test_identify_generated_files(tmp_path, articles):
    a = articles[0]
    assert identify(write(tmp_path, "article.xml", write_jats(a))).mime == "application/jats+xml"
    assert identify(write(tmp_path, "article.pdf", write_pdf(a))).mime == "application/pdf"
    assert identify(write(tmp_path, "fig1.png", write_png(a))).mime == "image/png"
    fmt = identify(write(tmp_path, "x.warc.gz", warc_gz(articles)))
    assert (fmt.mime, fmt.extension) == ("application/warc", ".warc.gz")
    plain = identify(write(tmp_path, "x.gz", gzip.compress(b"just text\n", mtime=0)))
    assert plain.mime == "application/gzip"
    assert identify(write(tmp_path, "empty", b"")).name == "Empty file"


def test_identify_reads_only_the_head(tmp_path):
    path = write(tmp_path, "big.xml", b"<article>" + b" " * 5_000_000 + b"\x00\xff")
    assert identify(path).mime == "application/jats+xml"


def test_warc_record_counts(tmp_path, articles):
    summary = count_warc_records(write(tmp_path, "h.warc.gz", warc_gz(articles)))
    n = len(articles)
    assert summary.records == 1 + 4 * n
    assert summary.by_type == {"request": 2 * n, "response": 2 * n, "warcinfo": 1}
    assert summary.response_urls == 2 * n  # a landing page and a PDF each
    assert summary.as_dict()["records"] == summary.records


def test_uncompressed_warc(tmp_path):
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False)
    body = b"<html>hello</html>"
    headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    writer.write_record(
        writer.create_warc_record(
            "https://example.org/", "response", payload=io.BytesIO(body), length=len(body), http_headers=headers
        )
    )
    path = write(tmp_path, "u.warc", out.getvalue())
    assert identify(path).mime == "application/warc"
    assert count_warc_records(path).by_type == {"response": 1}


def test_truncated_warc_is_a_problem_not_a_crash(tmp_path, articles):
    data = warc_gz(articles)
    path = write(tmp_path, "cut.warc.gz", data[: len(data) // 2])
    with pytest.raises(WarcError) as info:
        count_warc_records(path, display_path="data/harvest/cut.warc.gz")
    problem = info.value.problem
    assert problem.path == "data/harvest/cut.warc.gz"
    assert problem.rule.startswith("warc-") and problem.fix


def test_damaged_warc_payload_fails_its_digest(tmp_path):
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False)
    body = b"<html>" + b"x" * 200 + b"</html>"
    headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    writer.write_record(
        writer.create_warc_record(
            "https://example.org/", "response", payload=io.BytesIO(body), length=len(body), http_headers=headers
        )
    )
    data = out.getvalue().replace(b"x" * 200, b"y" * 200)
    with pytest.raises(WarcError) as info:
        count_warc_records(write(tmp_path, "d.warc", data))
    assert info.value.problem.rule == "warc-digest"


@pytest.mark.parametrize("data", [b"this is not a warc at all\r\n\r\n", b"\x1f\x8b\x08garbage", b""])
def test_not_a_warc(tmp_path, data):
    with pytest.raises(WarcError):
        count_warc_records(write(tmp_path, "bad.warc.gz", data))


def test_describe_bundles_articles_with_their_files(tmp_path, articles):
    bag = tmp_path / "bag"
    paths = []
    for a in articles[:2]:
        for name, data in (("article.xml", write_jats(a)), ("article.pdf", write_pdf(a)), ("fig1.png", write_png(a))):
            write(bag, f"data/{a.id}/{name}", data)
            paths.append(f"data/{a.id}/{name}")
    write(bag, "data/harvest/h.warc.gz", warc_gz(articles))
    write(bag, "data/broken/article.xml", b"<article><front><article-meta><title-group>")
    write(bag, "data/broken/cut.warc.gz", warc_gz(articles)[:300])
    write(bag, "data/notes.txt", b"readme\n")
    paths += ["data/harvest/h.warc.gz", "data/broken/article.xml", "data/broken/cut.warc.gz", "data/notes.txt"]

    desc = describe(bag, paths)
    assert len(desc.files) == len(paths)
    assert desc.total_bytes == sum((bag / p).stat().st_size for p in paths)
    by_doi = {e.article.doi: e for e in desc.articles}
    assert set(by_doi) == {a.doi for a in articles[:2]}
    first = by_doi[articles[0].doi]
    assert first.files == tuple(
        sorted(f"data/{articles[0].id}/{n}" for n in ("article.pdf", "article.xml", "fig1.png"))
    )
    assert [w.path for w in desc.warcs] == ["data/harvest/h.warc.gz"]
    assert {(p.path, p.severity) for p in desc.problems} == {
        ("data/broken/article.xml", "warning"),
        ("data/broken/cut.warc.gz", "warning"),
    }
    formats = {f.path: f.format.mime for f in desc.files}
    assert formats["data/notes.txt"] == "text/plain"
    entry = desc.as_dict()["articles"][0]
    assert entry["title"] and entry["doi"] and entry["files"] and entry["xml_path"].endswith("article.xml")
    assert first.journal_title == PRESS.journal_title  # an entry reads as its article


def test_describe_refuses_paths_outside_the_bag(tmp_path):
    (tmp_path / "bag" / "data").mkdir(parents=True)
    (tmp_path / "outside.txt").write_text("x")
    desc = describe(tmp_path / "bag", ["data/../../outside.txt", "data/missing.pdf"])
    assert desc.files == ()
    assert [p.rule for p in desc.problems] == ["payload-path", "payload-unreadable"]


def test_describe_a_society_article_with_pages(tmp_path):
    a = make_articles(1, 0, SOCIETY)[0]
    write(tmp_path, f"data/{a.id}/article.xml", write_jats(a))
    desc = describe(tmp_path, [f"data/{a.id}/article.xml"])
    assert desc.articles[0].article.fpage == a.fpage
