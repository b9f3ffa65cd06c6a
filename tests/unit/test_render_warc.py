"""The title WARCs and their CDXJ: readable by warcio, every deposited file present, harvests copied as they were."""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.timeutils import iso_date_to_timestamp

from strongroom.local.demo.site import sample_titles
from strongroom.render.cdxj import write_cdxj
from strongroom.render.model import ReleasedArticle, ReleasedAu, ReleasedFile
from strongroom.render.urls import SitePlan, url_key
from strongroom.render.warc import FixityError, labelled_sha256, write_title_warc

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SITE = "https://archive.example/site"


@pytest.fixture(scope="module")
def titles(tmp_path_factory):
    return sample_titles(tmp_path_factory.mktemp("samples"), articles=3)


def records(path: Path) -> list[dict]:
    """Every record with its headers, its payload's sha256 and its offset."""
    import hashlib

    found = []
    with path.open("rb") as fh:
        it = ArchiveIterator(fh)
        for record in it:
            payload = record.content_stream().read()
            found.append(
                {
                    "type": record.rec_type,
                    "url": record.rec_headers.get_header("WARC-Target-URI"),
                    "date": record.rec_headers.get_header("WARC-Date"),
                    "id": record.rec_headers.get_header("WARC-Record-ID"),
                    "content_type": record.rec_headers.get_header("Content-Type"),
                    "http_type": record.http_headers.get_header("Content-Type") if record.http_headers else None,
                    "sha256": hashlib.sha256(payload).hexdigest(),
                    "payload": payload,
                    "version": record.rec_headers.protocol,
                    "offset": it.get_record_offset(),
                }
            )
    return found


def test_every_deposited_file_is_a_resource_record_with_its_type(titles, tmp_path):
    title = titles[0]  # deposited files only
    plan = SitePlan(titles, SITE)
    result = write_title_warc(title, plan, tmp_path / "t.warc.gz", now=NOW)
    found = records(result.path)
    assert found[0]["type"] == "warcinfo" and found[0]["version"] == "WARC/1.1"
    info = found[0]["payload"].decode()
    assert "license: https://creativecommons.org/licenses/by/4.0/" in info
    assert "trigger: publisher-consent" in info and "release-date: 2025-03-01" in info
    resources = {r["url"]: r for r in found if r["type"] == "resource"}
    files = [(au, f) for au in title.aus for f in au.files]
    assert len(resources) == len(files) == result.deposited_records
    for au, f in files:
        record = resources[plan.file_url(au, f)]
        assert record["content_type"] == f.mime
        assert record["sha256"] == f.sha256
        assert record["date"].startswith(f"{int(au.au) + 1}-02-01T09:30:00")  # the AU's deposit time
    pdfs = [r for r in resources.values() if r["content_type"] == "application/pdf"]
    assert pdfs and all(r["payload"].startswith(b"%PDF-") for r in pdfs)
    # Article files live under the article's landing URL (its self-uri), the rest on the site.
    article = title.aus[0].articles[0]
    assert plan.file_url(title.aus[0], article.pdf) == article.article.self_uris[0] + "/article.pdf"


def test_warcio_verifies_every_digest(titles, tmp_path):
    from warcio.cli import main as warcio_main

    plan = SitePlan(titles, SITE)
    for title in titles:
        path = write_title_warc(title, plan, tmp_path / f"{title.title_id}.warc.gz", now=NOW).path
        with pytest.raises(SystemExit) as done:
            warcio_main(["check", str(path)])
        assert done.value.code == 0


def test_harvest_records_are_copied_byte_for_byte(titles, tmp_path):
    title = titles[1]
    plan = SitePlan(titles, SITE)
    result = write_title_warc(title, plan, tmp_path / "lrh.warc.gz", now=NOW)
    (harvest,) = [f for f in title.aus[0].files if f.is_warc]
    with harvest.open() as fh:
        original = fh.read()
    assert original in result.path.read_bytes()  # the gzip members, unchanged and in order
    with io.BytesIO(original) as fh:
        source = [(r.rec_type, r.rec_headers.get_header("WARC-Record-ID")) for r in ArchiveIterator(fh)]
    copied = [(r["type"], r["id"]) for r in records(result.path)][1 : 1 + len(source)]
    assert copied == source
    # The harvest's landing pages are what the site links to in the replay.
    for entry in title.aus[0].articles:
        capture = result.capture_of(entry.article.self_uris[0])
        assert capture.source == "harvest" and capture.mime == "text/html" and capture.status == "200"


def test_the_harvest_wins_when_a_deposited_file_has_its_url(titles, tmp_path):
    """A JATS self-uri naming the PDF's web address, which the harvest also captured: one record, the harvest's."""
    title = titles[1]
    au = title.aus[0]
    entries = tuple(
        ReleasedArticle(
            replace(e.article, self_uris=(e.article.self_uris[0], e.article.self_uris[0] + ".pdf")), e.files, e.xml_path
        )
        for e in au.articles
    )
    title = replace(title, aus=(replace(au, articles=entries),))
    plan = SitePlan([title], SITE)
    result = write_title_warc(title, plan, tmp_path / "lrh.warc.gz", now=NOW)
    pdf_paths = sorted(e.pdf.path for e in entries)
    assert sorted(result.skipped_for_harvest) == pdf_paths
    found = records(result.path)
    for entry in entries:
        url = entry.article.self_uris[0] + ".pdf"
        assert plan.file_url(au, entry.pdf) == url
        kinds = [r["type"] for r in found if r["url"] == url and r["type"] != "request"]
        assert kinds == ["response"]
        assert result.files[(au.au_id, entry.pdf.path)].source == "harvest"


def test_an_uncompressed_harvest_is_wrapped_record_by_record(titles, tmp_path):
    title = titles[1]
    au = title.aus[0]
    (harvest,) = [f for f in au.files if f.is_warc]
    with harvest.open() as fh:
        plain = gzip.decompress(fh.read())
    import hashlib

    plain_path = tmp_path / "plain.warc"
    plain_path.write_bytes(plain)
    plain_file = ReleasedFile(
        harvest.path.replace(".warc.gz", ".warc"),
        len(plain),
        hashlib.sha256(plain).hexdigest(),
        hashlib.sha512(plain).hexdigest(),
        "application/warc",
        partial(plain_path.open, "rb"),
    )
    files = tuple(plain_file if f is harvest else f for f in au.files)
    title = replace(title, aus=(ReleasedAu(au.au_id, au.ocfl_version, au.articles, files, au.deposited),))
    result = write_title_warc(title, SitePlan([title], SITE), tmp_path / "out.warc.gz", now=NOW)
    with io.BytesIO(plain) as fh:
        source = [(r.rec_headers.get_header("WARC-Record-ID"), r.content_stream().read()) for r in ArchiveIterator(fh)]
    copied = [(r["id"], r["payload"]) for r in records(result.path)][1 : 1 + len(source)]
    assert copied == source and result.harvested_records == len(source)


def test_damaged_bytes_stop_the_warc(titles, tmp_path):
    title = titles[0]
    au = title.aus[0]
    victim = au.files[0]
    damaged = replace(victim, open=lambda: io.BytesIO(b"not what was deposited"))
    files = tuple(damaged if f is victim else f for f in au.files)
    articles = tuple(
        ReleasedArticle(e.article, tuple(damaged if f is victim else f for f in e.files), e.xml_path)
        for e in au.articles
    )
    title = replace(title, aus=(ReleasedAu(au.au_id, au.ocfl_version, articles, files, au.deposited),))
    with pytest.raises(FixityError, match=victim.path):
        write_title_warc(title, SitePlan([title], SITE), tmp_path / "bad.warc.gz", now=NOW)
    assert list(tmp_path.iterdir()) == []  # no WARC, no partial file


def test_cdxj_is_sorted_and_covers_every_replayable_record(titles, tmp_path):
    plan = SitePlan(titles, SITE)
    for title in titles:
        result = write_title_warc(title, plan, tmp_path / f"{title.title_id}.warc.gz", now=NOW)
        index = tmp_path / f"{title.title_id}.cdxj"
        count = write_cdxj(result.path, index)
        lines = index.read_text("utf-8").splitlines()
        assert len(lines) == count
        assert lines == sorted(lines)
        assert [line.encode() for line in lines] == sorted(line.encode() for line in lines)  # byte order too
        entries = set()
        for line in lines:
            key, ts, data = line.split(" ", 2)
            fields = json.loads(data)
            assert key == url_key(fields["url"]) and fields["filename"] == result.path.name
            entries.add((fields["url"], ts, int(fields["offset"])))
        expected = {
            (r["url"], iso_date_to_timestamp(r["date"]), r["offset"])
            for r in records(result.path)
            if r["type"] in ("response", "resource", "revisit")
        }
        assert entries == expected


def test_labelled_digest_is_warcios_form():
    assert labelled_sha256("00" * 32) == "sha256:" + "A" * 52 + "===="
