"""The release world: three AUs of two publishers deposited into the local archive, one title
released (session-scoped, shared by test_release_local.py and test_dark_stays_dark.py)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest

from strongroom.local.api import call_api
from strongroom.local.demo.samples import (
    JournalSpec,
    SampleArticle,
    make_articles,
    make_package,
    write_pdf,
)
from strongroom.local.serve import wait_for_render

DEPOSITED = ("article.pdf", "article.xml", "fig1.png")  # each sample article's files


@dataclass
class DepositedAu:
    au: str
    articles: list[SampleArticle]
    warc: bool

    @property
    def collection(self) -> str:
        return "_".join(self.au.split("/")[:2])

    def urls(self) -> list[str]:
        """Everything this AU lived at: harvested landing pages and PDFs, DOIs, and the archive
        URLs of deposited files (the landing page + the file's path in the article's folder)."""
        return [
            u
            for a in self.articles
            for u in (
                a.url,
                a.pdf_url,
                f"https://doi.org/{a.doi}",
                *(f"{a.url.rstrip('/')}/{name}" for name in DEPOSITED),
            )
        ]

    def markers(self) -> list[str]:
        """Text that would give this AU away on a public page."""
        return [m for a in self.articles for m in (a.title, a.doi, a.url, a.pdf_url)] + [self.au]

    def pdf_digests(self) -> set[str]:
        return {hashlib.sha256(write_pdf(a)).hexdigest() for a in self.articles}


@dataclass
class ReleaseWorld:
    archive: object
    harvested_2023: DepositedAu
    harvested_2024: DepositedAu
    files_only: DepositedAu
    release_ids: dict = field(default_factory=dict)

    @property
    def aus(self) -> list[DepositedAu]:
        return [self.harvested_2023, self.harvested_2024, self.files_only]

    @property
    def ports(self) -> dict:
        return self.archive.endpoints.ports

    @property
    def site(self) -> str:
        return f"http://127.0.0.1:{self.ports['site']}"

    @property
    def replay(self) -> str:
        return f"http://127.0.0.1:{self.ports['replay']}"

    def call(self, method: str, path: str, who: str | None = "alice", body: dict | None = None):
        from strongroom.local import runtime

        endpoints = runtime.connect(self.archive.data_dir)
        identity = endpoints.credentials(who) if who else None
        return call_api(f"http://127.0.0.1:{self.ports['api']}", method, path, identity, endpoints.region, body)

    def release(self, au: DepositedAu, *, board_for: int = 9) -> dict:
        """Propose (alice), approve (bob), wait until published and served."""
        from strongroom.commands.release import wait_for

        status, r = self.call("POST", "/releases", "alice", proposal([au.au], board_for=board_for))
        assert status in (200, 201), r
        status, a = self.call("POST", f"/releases/{r['id']}/approve", "bob")
        assert status == 202, a
        done = wait_for(self.archive.data_dir, r["id"], timeout=120)
        assert done["state"] == "published", done
        wait_for_render([self.site + "/", self.replay + "/"], done["render_id"])
        self.release_ids[au.au] = r["id"]
        return done

    def withdraw(self, release_id: str, reason: str) -> dict:
        from strongroom.commands.release import wait_for

        status, r = self.call("POST", f"/releases/{release_id}/withdraw", "alice", {"reason": reason})
        assert status == 202, r
        done = wait_for(self.archive.data_dir, release_id, states=("withdrawn",), timeout=120)
        pointer = done["progress"]["render_id"]
        wait_for_render([self.site + "/", self.replay + "/"], pointer)
        return done


def proposal(aus: list[str], board_for: int = 9) -> dict:
    since = (date.today() - timedelta(days=400)).isoformat()
    return {
        "aus": aus,
        "trigger": "publisher-ceased",
        "license": "CC-BY-4.0",
        "evidence": {
            "unavailable_since": since,
            "ceased_on": since,
            "board": {"for": board_for, "against": 1, "abstain": 0},
        },
    }


def cli(archive, *args) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "strongroom.commands.cli", "--data", str(archive.data_dir), *args],
        env=archive.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"strongroom {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get("Content-Type", "")


def deposit_release_world(local_archive, tmp_path_factory) -> ReleaseWorld:
    """Two new publishers (named afresh each time) and their three AUs, deposited and preserved.
    Each world's articles are its own (seeds and article numbers from the tag): a world that keeps
    its AUs dark must not find another world's released articles with the same titles and DOIs."""
    tag = uuid.uuid4().hex[:6]
    own = int(tag, 16) % 100_000 * 100
    press, society = f"press-{tag}", f"society-{tag}"
    tmp = tmp_path_factory.mktemp("release-packages")
    deposited = []
    for publisher in (press, society):
        cli(local_archive, "local", "add-publisher", publisher)
    for publisher, title, au, warc, seed, start in (
        (press, "lrh", "2023", True, 31, 1),
        (press, "lrh", "2024", True, 32, 11),
        (society, "jmbe", "2024", False, 33, 1),
    ):
        journal = JournalSpec(publisher=publisher, title=title, field="history" if warc else "biology", year=int(au))
        articles = make_articles(2, seed + own, journal, start=start + own)
        out = tmp / f"{publisher}-{au}"
        out.mkdir()
        package = make_package(
            out,
            publisher=publisher,
            title=title,
            au=au,
            articles=articles,
            warc=warc,
            seed=seed + own,
            fmt="tar" if warc else "zip",
        )
        cli(local_archive, "deposit", str(package), "--publisher", publisher, "--title", title, "--au", au)
        deposited.append(DepositedAu(f"{publisher}/{title}/{au}", articles, warc))
    return ReleaseWorld(local_archive, *deposited)


# --- the API over signed HTTP ------------------------------------------------------------------


@pytest.fixture(scope="session")
def release_world(local_archive, tmp_path_factory) -> ReleaseWorld:
    """The release tests' world."""
    return deposit_release_world(local_archive, tmp_path_factory)


@pytest.fixture(scope="session")
def dark_world(local_archive, tmp_path_factory) -> ReleaseWorld:
    """A world of its own for the dark-stays-dark crawl, which withdraws what it released: the
    release tests must not see their AUs withdrawn behind their backs."""
    return deposit_release_world(local_archive, tmp_path_factory)
