"""What the release renderer is given: released titles, their AUs, articles and files.

The renderer is pure: it never reads a bucket or the catalog. Whoever wires it (the release
flow) builds these from the OCFL inventory and the ingest description, and passes files as
``open()`` callables so that bytes stream from a node only when they are copied.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO

from strongroom.domain.au import SEGMENT, AuId
from strongroom.domain.jats import Article
from strongroom.domain.release import TRIGGERS, Trigger

WARC_MIME = "application/warc"


def opener(path: Path) -> Callable[[], BinaryIO]:
    """A ReleasedFile's open for a local file: each call opens it anew for reading bytes."""
    return lambda: path.open("rb")


@dataclass(frozen=True)
class ReleasedFile:
    """One preserved file: its OCFL logical path, fixity and type, and a way to stream its bytes."""

    path: str  # OCFL logical path, '/'-separated, e.g. jmbe-2023/data/jmbe.2023.1/article.pdf
    size: int
    sha256: str
    sha512: str
    mime: str
    open: Callable[[], BinaryIO] = field(repr=False, compare=False)

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    @property
    def is_warc(self) -> bool:
        return self.mime == WARC_MIME


@dataclass(frozen=True)
class ReleasedArticle:
    """An article's metadata (from its JATS) and the files that belong to it (the JATS included)."""

    article: Article
    files: tuple[ReleasedFile, ...]
    xml_path: str | None = None  # logical path of the JATS file, when there is one

    @property
    def pdf(self) -> ReleasedFile | None:
        return next((f for f in self.files if f.mime == "application/pdf"), None)


@dataclass(frozen=True)
class ReleasedAu:
    """One released AU at one OCFL version: every file of it, and the articles among them."""

    au_id: str  # publisher/title/au
    ocfl_version: str  # v3
    articles: tuple[ReleasedArticle, ...]
    files: tuple[ReleasedFile, ...]
    # When the content reached the archive; stamps the WARC records of deposited files.
    deposited: datetime | None = None

    def __post_init__(self) -> None:
        AuId.parse(self.au_id)  # refuses ids that are unsafe as paths and URLs
        known = {f.path for f in self.files}
        for entry in self.articles:
            stray = [f.path for f in entry.files if f.path not in known]
            if stray:
                raise ValueError(
                    f"AU {self.au_id}: article files {stray} are not among the AU's files; "
                    "list every file of the AU in files and reuse the same objects in articles"
                )

    @property
    def au(self) -> str:
        return AuId.parse(self.au_id).au


@dataclass(frozen=True)
class ReleasedTitle:
    """A title at release: who published it, under which license it is now public, and why."""

    publisher_id: str
    publisher_name: str
    title_id: str
    journal_title: str
    issn: str | None
    eissn: str | None
    license_id: str  # SPDX-style id, e.g. CC-BY-4.0
    license_url: str
    license_name: str  # e.g. Creative Commons Attribution 4.0 International
    trigger: Trigger
    trigger_date: date
    release_date: date
    attestation_url: str | None
    aus: tuple[ReleasedAu, ...]

    def __post_init__(self) -> None:
        for what, value in (("publisher id", self.publisher_id), ("title id", self.title_id)):
            if not SEGMENT.match(value):
                raise ValueError(f"{what} {value!r} is not a safe name (lower-case letters, digits, '.', '_', '-')")
        if self.trigger not in TRIGGERS:
            raise ValueError(f"trigger {self.trigger!r} is not one of {sorted(TRIGGERS)}")
        for au in self.aus:
            parsed = AuId.parse(au.au_id)
            if (parsed.publisher, parsed.title) != (self.publisher_id, self.title_id):
                raise ValueError(f"AU {au.au_id} does not belong to {self.publisher_id}/{self.title_id}")

    @property
    def collection(self) -> str:
        """The pywb collection name; replay URLs are <replay>/<collection>/<timestamp>/<url>."""
        return replay_collection(self.publisher_id, self.title_id)

    @property
    def trigger_text(self) -> str:
        return TRIGGERS[self.trigger]


def replay_collection(publisher_id: str, title_id: str) -> str:
    """publisher_title: title ids are unique only within a publisher, and '_' is in no id, so two
    publishers' titles of the same id never share a collection."""
    return f"{publisher_id}_{title_id}"


_UNSAFE = re.compile(r"[^a-z0-9._-]+")


def slug(text: str, fallback: str = "item") -> str:
    """A lower-case path segment for text; stable, so page URLs do not move between renders."""
    value = _UNSAFE.sub("-", text.lower()).strip("-.")[:64]
    return value or fallback
