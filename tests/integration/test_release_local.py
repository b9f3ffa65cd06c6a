"""Release against the real local archive: signed HTTP calls to the API, the worker run by the router,
and the site and the replay serving the released title's article page and PDF with 200.

`release_world` (session-scoped, tests/integration/release_world.py) deposits three AUs of two
new publishers: a harvested journal in two years (with WARCs) and a files-only journal.
"""

from __future__ import annotations

import pytest

from strongroom.local.demo.samples import (
    write_pdf,
)
from tests.integration.release_world import cli, get, proposal

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("archive")]


def test_unsigned_and_publisher_calls_are_refused(release_world):
    w = release_world
    body = proposal([w.files_only.au])
    status, err = w.call("POST", "/releases", None, body)  # as API Gateway answers it (401 before)
    assert status == 403 and err["message"] == "Missing Authentication Token"
    publisher = w.files_only.au.split("/")[0]
    status, err = w.call("POST", "/releases", publisher, body)
    assert status == 403 and "not a release admin" in err["message"]
    assert w.call("GET", "/releases", publisher)[0] == 403


def test_a_released_au_is_served_by_site_and_replay(release_world):
    w = release_world
    au = w.files_only
    status, r = w.call("POST", "/releases", "alice", proposal([au.au], board_for=8))
    assert status in (200, 201), r
    assert w.call("POST", f"/releases/{r['id']}/approve", "alice")[0] == 403  # two-person rule
    done = w.release(au, board_for=8)
    urls = done["urls"]["titles"][au.au.rsplit("/", 1)[0]]
    assert urls["site"].startswith(w.site)

    publisher, title, year = au.au.split("/")
    status, page, ctype = get(f"{w.site}/{publisher}/{title}/{year}/")
    assert status == 200 and ctype.startswith("text/html") and au.articles[0].title.encode()[:20] in page
    article = au.articles[0]
    status, body, ctype = get(f"{w.site}/{publisher}/{title}/{year}/articles/{article.id.lower()}/")
    assert status == 200 and ctype.startswith("text/html"), body[:200]
    assert b'rel="license"' in body and b"citation_pdf_url" in body
    pdf_href = next(line for line in body.decode().split('"') if line.endswith(".pdf"))
    status, pdf, ctype = get(
        f"{w.site}/{publisher}/{title}/{year}/articles/{article.id.lower()}/{pdf_href}"
        if not pdf_href.startswith(("http", "/"))
        else (pdf_href if pdf_href.startswith("http") else w.site + pdf_href)
    )
    assert status == 200 and ctype == "application/pdf" and pdf == write_pdf(article)

    # replay: the deposited PDF at its archive URL (the landing page + its path), raw and framed
    pdf_url = f"{article.url.rstrip('/')}/article.pdf"
    status, cdx, _ = get(f"{w.replay}/{publisher}_{title}/cdx?url={pdf_url}&output=json")
    assert status == 200 and cdx.strip(), cdx
    status, raw, ctype = get(f"{w.replay}/{publisher}_{title}/id_/{pdf_url}")
    assert status == 200 and raw == write_pdf(article)
    status, framed, _ = get(f"{w.replay}/{publisher}_{title}/{pdf_url}")
    assert status == 200

    # the CLI shows the same release with its URLs
    out = cli(w.archive, "release", "show", r["id"])
    assert "PUBLISHED" in out and urls["site"] in out and urls["replay"] in out
    assert r["id"] in cli(w.archive, "release", "list")


def test_a_harvested_article_page_is_replayed(release_world):
    w = release_world
    au = w.harvested_2024
    if au.au not in w.release_ids:
        w.release(au)
    article = au.articles[0]
    status, page, ctype = get(f"{w.replay}/{au.collection}/id_/{article.url}")
    assert status == 200 and ctype.startswith("text/html") and article.title.encode()[:20] in page
    status, pdf, ctype = get(f"{w.replay}/{au.collection}/id_/{article.pdf_url}")
    assert status == 200 and pdf == write_pdf(article)
