"""Dark stays dark: with several AUs deposited and one released, crawl every link of the public site
and ask the replay for every URL of every AU. Nothing of an unreleased AU is reachable (no page, no
file, no capture, no listing, no sitemap/KBART/search entry); the released one is. Withdraw it and
crawl again: now it is gone too.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import deque
from urllib.parse import quote, urljoin, urlsplit

import pytest

from tests.integration.release_world import DepositedAu, ReleaseWorld, get

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("archive")]

LINK = re.compile(rb"""(?:href|src)\s*=\s*["']([^"'#\s]+)""", re.I)
LOC = re.compile(rb"<loc>([^<]+)</loc>")
SEEDS = ("/", "/sitemap.xml", "/robots.txt", "/search/index.json")


def crawl(site: str, limit: int = 3000) -> dict[str, tuple[int, bytes, str]]:
    """Every same-site URL reachable from the seeds by href/src (and sitemap <loc>s)."""
    seen: dict[str, tuple[int, bytes, str]] = {}
    queue = deque(site + s for s in SEEDS)
    host = urlsplit(site).netloc
    while queue and len(seen) < limit:
        url = queue.popleft().split("#")[0]
        if url in seen:
            continue
        seen[url] = answer = get(url)
        status, body, ctype = answer
        if status != 200 or not any(t in ctype for t in ("html", "xml", "text", "json")):
            continue
        for raw in LINK.findall(body) + LOC.findall(body):
            link = quote(urljoin(url, raw.decode("utf-8", "replace").replace("&amp;", "&")), safe=":/?&=%~+@,;")
            if urlsplit(link).netloc == host and link not in seen:
                queue.append(link)
    return seen


def published_aus(w: ReleaseWorld) -> set[str]:
    status, body = w.call("GET", "/releases")
    assert status == 200, body
    return {au for r in body["releases"] if r["state"] == "published" for au in r["aus"]}


def leaks(pages: dict, au: DepositedAu) -> list[str]:
    """Where the crawl shows anything of `au`: its metadata in a page, or its PDFs' bytes."""
    found = []
    digests = au.pdf_digests()
    for url, (status, body, _) in pages.items():
        if status != 200:
            continue
        if hashlib.sha256(body).hexdigest() in digests:
            found.append(f"{url}: serves a PDF of {au.au}")
        text = body.decode("utf-8", "replace")
        public_ids = "/attestation/" in url  # the audit's attestation names AU ids on purpose, never content
        for marker in au.markers():
            # whole tokens only: .../lrh/1/1/1 must not match .../lrh/1/1/11 of another AU
            if re.search(re.escape(marker) + r"(?![0-9A-Za-z_.-])", text) and not (public_ids and marker == au.au):
                found.append(f"{url}: shows {marker!r} of {au.au}")
    return found


def replay_leaks(w: ReleaseWorld, au: DepositedAu, collections: set[str]) -> list[str]:
    found = []
    for coll in sorted(collections | {au.collection}):
        for url in au.urls():
            status, body, _ = get(f"{w.replay}/{coll}/id_/{url}")
            if status == 200:
                found.append(f"replay {coll} serves {url} of {au.au}")
            status, cdx, _ = get(f"{w.replay}/{coll}/cdx?url={quote(url, safe=':/')}&output=json")
            if status == 200 and cdx.strip():
                found.append(f"replay {coll} lists {url} of {au.au}: {cdx[:120]!r}")
        host = urlsplit(au.articles[0].url).netloc
        status, cdx, _ = get(f"{w.replay}/{coll}/cdx?url={host}&matchType=domain&output=json")
        listed = {json.loads(line)["url"] for line in cdx.splitlines() if line.strip()} if status == 200 else set()
        found += [f"replay {coll} lists {u} of {au.au} in its domain listing" for u in au.urls() if u in listed]
    return found


def direct_leaks(w: ReleaseWorld, au: DepositedAu) -> list[str]:
    """The AU's would-be site paths, asked for directly (not only by following links)."""
    base = f"{w.site}/{au.au}/"
    paths = [base, f"{base}files/", *(f"{base}articles/{a.id.lower()}/" for a in au.articles)]
    return [f"{p} answers {s}" for p in paths for s, _, _ in [get(p)] if s == 200]


def collections_served(pages: dict) -> set[str]:
    return {m.decode() for _, body, _ in pages.values() for m in re.findall(rb"/([a-z0-9._-]+)/\d{14}", body)}


def test_dark_stays_dark_before_and_after_a_withdrawal(dark_world):
    w = dark_world
    target = w.harvested_2024
    if target.au not in published_aus(w):
        w.release(target)
    release_id = next(
        r["id"]
        for r in w.call("GET", "/releases")[1]["releases"]
        if r["state"] == "published" and target.au in r["aus"]
    )
    public = published_aus(w)
    dark = [au for au in w.aus if au.au not in public]
    assert w.harvested_2023 in dark  # same title as the released AU, another year: must stay dark

    pages = crawl(w.site)
    assert len(pages) > 10, sorted(pages)
    assert leaks(pages, target), "the released AU is not on the site"
    assert any(target.articles[0].title in body.decode("utf-8", "replace") for _, body, _ in pages.values())
    problems = [p for au in dark for p in leaks(pages, au) + direct_leaks(w, au)]
    collections = {au.collection for au in w.aus} | collections_served(pages)
    problems += [p for au in dark for p in replay_leaks(w, au, collections)]
    assert not problems, "\n".join(problems)
    # the released AU's harvested page replays
    assert get(f"{w.replay}/{target.collection}/id_/{target.articles[0].url}")[0] == 200

    w.withdraw(release_id, "court order: takedown of the 2024 volume")
    pages = crawl(w.site)
    problems = [p for au in dark + [target] for p in leaks(pages, au) + direct_leaks(w, au)]
    problems += [p for au in dark + [target] for p in replay_leaks(w, au, collections)]
    assert not problems, "\n".join(problems)
    status, r = w.call("GET", f"/releases/{release_id}")
    assert r["state"] == "withdrawn" and "court order" in r["withdrawal_reason"]
