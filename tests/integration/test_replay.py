"""Replay of a rendered release by pywb itself: a harvested page and a deposited PDF come back with 200,
and the banner names the journal, its license and the release date.

Runs the real `wayback -d` server in a process of its own: importing pywb's app here would
monkey-patch this test process with gevent (ssl, sockets) and break the tests that share it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from strongroom.local.demo.site import sample_titles
from strongroom.render import render_release
from strongroom.render.urls import SitePlan

pytestmark = pytest.mark.integration
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
JOURNAL = "Lakeside Review {{ 7*7 }} of <Regional> History"


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("replay")
    titles = sample_titles(root / "in", articles=2)
    titles[1] = replace(titles[1], journal_title=JOURNAL)
    report = render_release(
        titles,
        root / "out",
        site_base_url="https://site.example",
        now=NOW,
        replay_base_url="https://replay.example",
        use_pagefind=False,
    )
    return titles, report


def targets(titles):
    """(collection, timestamp, url, expected bytes prefix, content type) for a harvested page and a deposited PDF."""
    plan = SitePlan(titles, "https://site.example")
    press, society = titles[1], titles[0]
    page = press.aus[0].articles[0]
    au = society.aus[0]
    pdf = au.articles[0].pdf
    with pdf.open() as fh:
        pdf_bytes = fh.read()
    return [
        (press.collection, "2024", page.article.self_uris[0], page.article.title.encode(), "text/html"),
        (society.collection, "2024", plan.file_url(au, pdf), pdf_bytes, "application/pdf"),
    ]


def check_banner(html: str) -> None:
    assert "Lakeside Review &#123;&#123; 7*7 &#125;&#125; of &lt;Regional&gt; History" in html
    assert "Review 49" not in html
    assert 'rel="license" href="https://creativecommons.org/licenses/by/4.0/"' in html
    assert "Creative Commons Attribution 4.0 International" in html
    assert '<time datetime="2025-03-01">2025-03-01</time>' in html


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_replay_with_the_wayback_server(release):
    titles, report = release
    wayback = Path(sys.executable).with_name("wayback")
    assert wayback.exists(), "pywb's wayback script is not next to this Python: run `make venv`"
    port = _free_port()
    proc = subprocess.Popen(
        [str(wayback), "-p", str(port), "-b", "127.0.0.1", "-d", str(report.replay_root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        "wayback did not start: " + proc.stderr.read().decode(errors="replace")
                    ) from None
                time.sleep(0.2)
        for coll, ts, url, expected, mime in targets(titles):
            with urllib.request.urlopen(f"{base}/{coll}/{ts}id_/{url}", timeout=10) as resp:
                assert resp.status == 200 and resp.headers["Content-Type"].startswith(mime)
                body = resp.read()
                assert body == expected if mime == "application/pdf" else expected in body
            with urllib.request.urlopen(f"{base}/{coll}/{ts}/{url}", timeout=10) as resp:
                assert resp.status == 200
                html = resp.read().decode("utf-8")
                if coll == titles[1].collection:
                    check_banner(html)
                else:
                    assert "Journal of Marine Biology and Ecology" in html
        with urllib.request.urlopen(
            f"{base}/{titles[1].collection}/2024mp_/{targets(titles)[0][2]}", timeout=10
        ) as resp:
            assert resp.status == 200 and b"wombat" in resp.read()  # pywb's own head insert is kept
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
