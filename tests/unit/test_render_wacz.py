"""The title WACZ: valid by `wacz validate`, pages from the articles, the license in its datapackage."""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import UTC, datetime

import pytest

from strongroom.local.demo.site import sample_titles
from strongroom.render.urls import SitePlan
from strongroom.render.wacz import validate_wacz, write_wacz
from strongroom.render.warc import write_title_warc

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("wacz")
    titles = sample_titles(root / "in", articles=2)
    plan = SitePlan(titles, "https://archive.example")
    out = {}
    for title in titles:
        warc = write_title_warc(title, plan, root / f"{title.title_id}.warc.gz", now=NOW)
        out[title.title_id] = (title, warc, write_wacz(title, plan, warc, root / f"{title.title_id}.wacz", now=NOW))
    return out


@pytest.mark.parametrize("title_id", ["jmbe", "lrh"])
def test_wacz_validates(made, title_id):
    _, _, result = made[title_id]
    valid, printed = validate_wacz(result.path)
    assert valid, printed
    assert result.size == result.path.stat().st_size
    assert result.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest()


@pytest.mark.parametrize("title_id", ["jmbe", "lrh"])
def test_datapackage_names_the_license_and_its_digest_is_right(made, title_id):
    title, warc, result = made[title_id]
    with zipfile.ZipFile(result.path) as zf:
        body = zf.read("datapackage.json")
        package = json.loads(body)
        digest = json.loads(zf.read("datapackage-digest.json"))
        stored = {i.filename: i.compress_type for i in zf.infolist()}
    assert package["licenses"] == [{"name": "CC-BY-4.0", "path": title.license_url, "title": title.license_name}]
    assert package["title"] == title.journal_title and title.license_url in package["description"]
    assert package["wacz_version"] == "1.1.1" and package["created"] == "2025-03-01T12:00:00Z"
    assert digest == {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(body).hexdigest()}
    assert stored[f"archive/{warc.path.name}"] == zipfile.ZIP_STORED
    assert stored["indexes/index.cdx.gz"] == zipfile.ZIP_STORED


def test_pages_are_the_articles(made):
    title, warc, result = made["lrh"]
    with zipfile.ZipFile(result.path) as zf:
        lines = [json.loads(line) for line in zf.read("pages/pages.jsonl").decode("utf-8").splitlines()]
    assert lines[0]["format"] == "json-pages-1.0"
    articles = [e.article for au in title.aus for e in au.articles]
    assert result.pages == len(articles) == len(lines) - 1
    # The harvest has the landing pages, so the pages are those, with the articles' titles and capture times.
    assert {(p["url"], p["title"]) for p in lines[1:]} == {(a.self_uris[0], a.title) for a in articles}
    assert all(p["ts"].startswith("2024-") for p in lines[1:])

    title, warc, result = made["jmbe"]
    with zipfile.ZipFile(result.path) as zf:
        lines = [json.loads(line) for line in zf.read("pages/pages.jsonl").decode("utf-8").splitlines()]
    assert all(p["url"].endswith("/article.pdf") for p in lines[1:])  # deposited only: the PDFs
    assert len(lines) - 1 == sum(len(au.articles) for au in title.aus)
