"""A released site and its replay, served on loopback, and a headless Debian Chromium to read them.

The browser tests ask only for ``deployment`` (where the site and the replay are, and which
titles were released) and ``open_browser``. Here ``deployment`` renders sample titles with
``render_release`` and serves them: the site by a static HTTP server thread, the replay by
pywb's ``wayback``. To run the same tests against the whole local archive (``strongroom up``
serving the public bucket), override the ``deployment`` fixture in a conftest nearer to
the tests (or in the test module) with one that returns a ``Deployment`` for that archive.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from strongroom.local.demo.samples import (
    CC_BY,
    JournalSpec,
    make_articles,
    make_package,
)
from strongroom.local.demo.site import CC_BY_NAME, sample_titles, unpack
from strongroom.render import render_release
from strongroom.render.from_bag import released_au_from_bags
from strongroom.render.model import ReleasedTitle
from strongroom.render.safety import SITE_HEADERS

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = Path(os.environ.get("STRONGROOM_CHROMIUM", "/usr/bin/chromium"))
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HOSTILE = "Tide pools <script>alert(1)</script> of the outer reef"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
# The flags a CI box needs: no sandbox (root), no GPU, nothing of Chrome's own phoning home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass(frozen=True)
class Deployment:
    """Where a release is served, and what it released (the tests' expected values)."""

    site_url: str  # the home page is <site_url>/index.html
    replay_url: str  # pywb: <replay_url>/<collection>/<timestamp>/<url>
    titles: list[ReleasedTitle]

    def hostile(self) -> tuple[ReleasedTitle, object]:
        """The released (title, article entry) whose article title carries a <script> tag."""
        for title in self.titles:
            for au in title.aus:
                for entry in au.articles:
                    if "<script>" in entry.article.title:
                        return title, entry
        raise LookupError("no released article has a <script> in its title")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hostile_title(dest: Path) -> ReleasedTitle:
    """A third journal, deposited with a web harvest, whose first article's title holds a script tag."""
    spec = JournalSpec(
        publisher="reef-press",
        title="jrs",
        publisher_name="Reef Press",
        journal_title="Journal of Reef Studies",
        year=2024,
        volume=3,
        issues=1,
    )
    articles = make_articles(2, 7, spec)
    articles[0] = replace(articles[0], title=HOSTILE, italic=())
    package = make_package(
        dest / "packages",
        publisher=spec.publisher,
        title=spec.title,
        au="2024",
        articles=articles,
        fmt="zip",
        warc=True,
        seed=7,
    )
    bag = unpack(package, dest / "bags" / "jrs-2024")
    au = released_au_from_bags(
        f"{spec.publisher}/{spec.title}/2024",
        [bag],
        ocfl_version="v1",
        deposited=datetime(2025, 1, 10, 8, 0, tzinfo=UTC),
    )
    return ReleasedTitle(
        publisher_id=spec.publisher,
        publisher_name=spec.publisher_name,
        title_id=spec.title,
        journal_title=spec.journal_title,
        issn=spec.issn,
        eissn=spec.eissn,
        license_id="CC-BY-4.0",
        license_url=CC_BY,
        license_name=CC_BY_NAME,
        trigger="unavailable-6-months",
        trigger_date=date(2025, 1, 20),
        release_date=date(2025, 3, 1),
        attestation_url=None,
        aus=(au,),
    )


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output for failures
        pass

    def end_headers(self) -> None:  # the site's policy, as CloudFront and the local site server send it
        for name, value in SITE_HEADERS.items():
            self.send_header(name, value)
        super().end_headers()


@contextmanager
def serve_static(root: Path, port: int):
    """The site as a static host serves it (index.html for folders, types from the extension), with
    the site's security headers (render.safety), so the pages are read under their real CSP."""
    server = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve_replay(replay_root: Path, port: int):
    """pywb's own server on the rendered replay root, as the replay host runs it."""
    wayback = Path(sys.executable).with_name("wayback")
    proc = subprocess.Popen(
        [str(wayback), "-p", str(port), "-b", "127.0.0.1", "-d", str(replay_root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise AssertionError(
                        "wayback did not start: " + proc.stderr.read().decode(errors="replace")
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """The sample titles plus the hostile one, rendered for and served on two loopback ports."""
    root = tmp_path_factory.mktemp("e2e-release")
    titles = sample_titles(root / "in", articles=2) + [hostile_title(root / "in-hostile")]
    site_port, replay_port = _free_port(), _free_port()
    site_url, replay_url = f"http://127.0.0.1:{site_port}", f"http://127.0.0.1:{replay_port}"
    report = render_release(titles, root / "out", site_base_url=site_url, replay_base_url=replay_url, now=NOW)
    with serve_static(report.site_root, site_port), serve_replay(report.replay_root, replay_port):
        yield Deployment(site_url, replay_url, titles)


def is_loopback(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True  # never leaves the browser
    return (parts.hostname or "") in LOOPBACK


@dataclass
class Session:
    """One browser context and what it saw: every request URL and every dialog."""

    context: object
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)  # (page URL, message)

    def csp_violations(self, origin: str) -> list[str]:
        """What the browser refused on pages of origin because of their Content-Security-Policy."""
        return [text for url, text in self.console if url.startswith(origin) and "Content Security Policy" in text]

    def page(self):
        return self.context.pages[0] if self.context.pages else self.context.new_page()

    def outside(self) -> list[str]:
        return [u for u in self.requests if not is_loopback(u)]


@pytest.fixture(scope="module")
def playwright_driver():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture
def open_browser(playwright_driver, tmp_path):
    """Open a fresh Chromium (own profile) with the given viewport; it records requests and dialogs,
    and refuses (after recording) anything not on loopback so a test never reaches the internet."""
    opened: list[Session] = []

    def launch(name: str = "desktop", **options) -> Session:
        profile = tmp_path / f"profile-{name}"
        context = playwright_driver.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            accept_downloads=True,
            **options,
        )
        session = Session(context)
        context.on("request", lambda request: session.requests.append(request.url))

        def on_dialog(dialog):
            session.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        context.on("dialog", on_dialog)
        context.on("console", lambda m: session.console.append((m.page.url if m.page else "", m.text)))
        context.route("**/*", lambda route: route.continue_() if is_loopback(route.request.url) else route.abort())
        context.set_default_timeout(15_000)
        opened.append(session)
        return session

    try:
        yield launch
    finally:
        for session in opened:
            session.context.close()


def screenshot(page, name: str) -> Path:
    """Keep what the browser showed, for a person to look at (tests/artifacts is not committed)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
