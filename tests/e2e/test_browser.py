"""A reader's path through a released title in a real browser (headless Debian Chromium, Playwright).

What only a browser shows: that the links a person clicks lead where they should, that the
PDF they download is the preserved one, that the replay opens with the license notice above
the archived page, that a hostile title stays text (no dialog fires), that nothing is
fetched from outside the release's own hosts, and that the pages hold up for keyboard and
screen-reader users and on a phone. The release comes from the ``deployment`` fixture
(conftest.py), which another setup can replace. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from strongroom.render.site import au_label
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("browser")]

# Facts a page must have for keyboard and screen-reader users (WCAG's basics), read in the page.
A11Y_FACTS = """() => {
  const skip = document.querySelector('a[href^="#"]');
  const target = skip && document.getElementById(skip.getAttribute('href').slice(1));
  return {
    lang: document.documentElement.getAttribute('lang'),
    h1: document.querySelectorAll('h1').length,
    imgsWithoutAlt: [...document.querySelectorAll('img')].filter(i => !i.hasAttribute('alt')).map(i => i.src),
    firstLinkIsSkip: !!skip && skip === document.querySelector('a'),
    skipTarget: target ? target.tagName : null,
    banner: document.querySelectorAll('header[role=banner], body > header').length,
    main: document.querySelectorAll('main, [role=main]').length,
    contentinfo: document.querySelectorAll('footer[role=contentinfo], body > footer').length,
    title: document.title,
  };
}"""
SCROLL = "() => ({scroll: document.scrollingElement.scrollWidth, inner: window.innerWidth})"


def check_accessible(page) -> None:
    facts = page.evaluate(A11Y_FACTS)
    where = page.url
    assert facts["lang"] == "en", where
    assert facts["h1"] == 1, (where, facts)
    assert facts["imgsWithoutAlt"] == [], where
    assert facts["firstLinkIsSkip"] and facts["skipTarget"] == "MAIN", (where, facts)
    assert facts["banner"] >= 1 and facts["main"] == 1 and facts["contentinfo"] >= 1, (where, facts)
    assert facts["title"].strip(), where


def walk_to_article(page, deployment, title, entry) -> None:
    """Home -> title -> volume -> article, by clicking links as a reader would."""
    au = next(a for a in title.aus if entry in a.articles)
    page.goto(deployment.site_url + "/index.html")
    check_accessible(page)
    page.get_by_role("link", name=title.journal_title, exact=True).click()
    assert page.locator("h1").inner_text() == title.journal_title
    check_accessible(page)
    page.get_by_role("link", name=au_label(au), exact=True).click()
    assert page.locator("h1").inner_text().startswith(au_label(au))
    check_accessible(page)
    page.get_by_role("link", name=entry.article.title, exact=True).click()
    page.wait_for_load_state()


def test_a_reader_reads_downloads_and_replays_an_article(deployment, open_browser):
    title, entry = deployment.hostile()
    article = entry.article
    session = open_browser()
    page = session.page()

    walk_to_article(page, deployment, title, entry)
    # The landing page: the markup in the title is shown as characters, in the heading and the tab title.
    assert page.locator("h1").inner_text() == article.title
    assert article.title in page.title()
    check_accessible(page)
    authors = page.get_by_role("list", name="Authors").inner_text()
    for author in article.authors:
        assert f"{author.given} {author.surname}" in authors
    abstract = page.locator("section", has=page.locator("#abstract-heading")).inner_text()
    assert article.abstract.split(". ")[0] in abstract
    statement = page.locator("p.license")
    assert f"“{article.title}”" in statement.inner_text()
    license_link = statement.locator('a[rel="license"]')
    assert license_link.get_attribute("href") == title.license_url
    assert title.license_name in license_link.inner_text()
    screenshot(page, "article-desktop")

    # The PDF: the page states its size and sha256; the download must be those bytes.
    pdf = entry.pdf
    row = page.locator("tr", has=page.get_by_role("link", name="article.pdf", exact=True))
    stated_sha256 = row.locator("code.digest").inner_text().strip()
    stated_size = int(row.locator("data").get_attribute("value"))
    full_text_href = page.get_by_role("link", name="Full text (PDF)").get_attribute("href")
    assert full_text_href == row.get_by_role("link").get_attribute("href")
    with page.expect_download() as info:
        row.get_by_role("link", name="article.pdf").click()
    body = Path(info.value.path()).read_bytes()
    assert body.startswith(b"%PDF-") and body.rstrip().endswith(b"%%EOF")
    assert len(body) == stated_size == pdf.size
    assert hashlib.sha256(body).hexdigest() == stated_sha256 == pdf.sha256

    # The archived copy, through the page's own link: pywb's frame with our notice above the page.
    replay_link = page.get_by_role("link", name="The archived copy, as it was on the web")
    assert replay_link.get_attribute("href").startswith(deployment.replay_url + f"/{title.collection}/")
    replay_link.click()
    page.wait_for_load_state()
    notice = page.locator("header.sr-notice")
    assert title.journal_title in notice.inner_text()
    banner_license = notice.locator('a[rel="license"]')
    assert banner_license.get_attribute("href") == title.license_url
    assert title.license_name in banner_license.inner_text()
    archived = page.frame_locator("#replay_iframe")
    archived_h1 = archived.locator("h1")
    archived_h1.wait_for()
    assert archived_h1.inner_text() == article.title  # the harvested page, its markup still text
    page.wait_for_load_state("networkidle")
    screenshot(page, "replay-desktop")

    assert session.dialogs == [], "a script from metadata or the replay ran"
    assert session.outside() == [], "requests left loopback"
    assert any(u.startswith(deployment.replay_url) for u in session.requests)
    assert session.csp_violations(deployment.site_url) == [], "a page needs something the site's CSP forbids"


def test_search_works_under_the_sites_policy(deployment, open_browser):
    """Pagefind compiles WebAssembly and starts a worker: the CSP must allow exactly that, and no more."""
    title, entry = deployment.hostile()
    session = open_browser()
    page = session.page()
    page.goto(deployment.site_url + "/index.html")
    box = page.locator("#search input[type=text], #search input[type=search]").first
    box.fill("Tide pools")
    page.keyboard.press("Enter")
    result = page.get_by_role("link", name=entry.article.title, exact=True)
    result.wait_for()
    result.click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == entry.article.title
    assert session.dialogs == [] and session.outside() == []
    assert session.csp_violations(deployment.site_url) == [], session.console


def test_pages_fit_a_phone_and_load_nothing_from_elsewhere(deployment, open_browser):
    """375 CSS px wide, as a small phone: no page scrolls sideways, tables included."""
    title, entry = deployment.hostile()
    session = open_browser(
        "phone", viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    page = session.page()
    au = next(a for a in title.aus if entry in a.articles)
    visited = []

    def fits(name: str) -> None:
        page.wait_for_load_state("networkidle")
        size = page.evaluate(SCROLL)
        visited.append((name, page.url, size))
        assert size["inner"] == 375, size
        assert size["scroll"] <= size["inner"], (name, page.url, size)

    page.goto(deployment.site_url + "/index.html")
    fits("home")
    screenshot(page, "home-phone")
    page.get_by_role("link", name=title.journal_title, exact=True).click()
    fits("title")
    screenshot(page, "title-phone")
    page.get_by_role("link", name=au_label(au), exact=True).click()
    fits("volume")  # the widest table: every file of the volume
    screenshot(page, "volume-phone")
    page.get_by_role("link", name=entry.article.title, exact=True).click()
    fits("article")
    screenshot(page, "article-phone")
    assert not page.locator("td.optional").first.is_visible()  # the digest column gives way on a phone

    # Every other title's pages too: long journal names and DOIs must wrap.
    for other in deployment.titles:
        if other is title:
            continue
        page.goto(deployment.site_url + "/index.html")
        page.get_by_role("link", name=other.journal_title, exact=True).click()
        fits(other.title_id)
        other_au = other.aus[0]
        page.get_by_role("link", name=au_label(other_au), exact=True).click()
        fits(f"{other.title_id} volume")
        page.get_by_role("link", name=other_au.articles[0].article.title, exact=True).click()
        fits(f"{other.title_id} article")
        check_accessible(page)

    assert session.dialogs == []
    assert session.outside() == [], "requests left loopback"
