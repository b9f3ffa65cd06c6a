"""The catalog: a derived index of AUs, copies and events, rebuilt from a node bucket at will.

Nothing here is the only record of anything: the OCFL objects in the node buckets are the
archive, and `rebuild` recreates every catalog entry from one of them.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from strongroom.domain.errors import StrongroomError
from strongroom.domain.premis import PremisEvent
from strongroom.domain.schedule import next_poll_due, parse_time

# How the catalog finds AUs without reading all of them (the adapter keeps these as index keys):
#   by title: every AU of one publisher/title, for a release proposal;
#   by poll:  the AUs first in line for a poll, spread over POLL_SHARDS partitions so that no one
#             index partition takes every write, each ordered by poll_order_key.
POLL_SHARDS = 16
NEVER_POLLED = "0#"  # sorts before every poll time, so the never-polled are a range of their own


def poll_shard(au: str) -> str:
    """The AU's partition of the poll index: fixed by its id, spread evenly."""
    return f"{int.from_bytes(hashlib.sha256(au.encode('utf-8')).digest()[:4], 'big') % POLL_SHARDS:02d}"


def poll_time_key(when: datetime | str) -> str:
    """A poll time as a string that sorts as the time does (UTC, fixed width)."""
    parsed = parse_time(when)
    if parsed is None:
        raise ValueError("a poll time is needed")
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def poll_order_key(record: AuRecord) -> str:
    """Where the AU stands in the poll index: never polled, by ingest time; else by last poll.
    Ends with the AU id, so no two AUs tie."""
    if record.last_poll:
        return f"{poll_time_key(record.last_poll)}#{record.au}"
    return f"{NEVER_POLLED}{record.updated or ''}#{record.au}"


def title_of(au: str) -> str:
    """publisher/title of an AU id publisher/title/au."""
    return "/".join(au.split("/")[:2])


# The archive's totals, kept in summary items (one for the archive, one per publisher) that each
# put_au moves by the difference between the old and the new record, so that `strongroom status`
# reads a handful of items instead of every AU. "titles" moves when a title's first AU appears.
SUMMARY_FIELDS = (
    "aus",
    "titles",
    "files",
    "bytes",
    "articles",
    "polls_not_ok",  # AUs whose last poll ended other than ok (repaired, damaged, unrepairable, inconclusive)
    "never_polled",
    "copies_verified",  # copies verified at the AU's head; pending = aus x nodes - this
)


def au_counts(record: AuRecord | None) -> dict[str, int]:
    """What one AU record adds to its summaries (all zero for no record); titles are counted apart."""
    if record is None:
        return dict.fromkeys(SUMMARY_FIELDS, 0)
    status = (record.last_poll_result or {}).get("status")
    return {
        "aus": 1,
        "titles": 0,
        "files": record.files,
        "bytes": record.bytes,
        "articles": record.articles,
        "polls_not_ok": int(bool(record.last_poll) and status != "ok"),
        "never_polled": int(not record.last_poll),
        "copies_verified": len(record.verified_regions()),
    }


def summary_delta(old: AuRecord | None, new: AuRecord, *, new_title: bool) -> dict[str, int]:
    """How much replacing old by new moves the summaries: only the fields that change."""
    before, after = au_counts(old), au_counts(new)
    delta = {k: after[k] - before[k] for k in SUMMARY_FIELDS}
    delta["titles"] = int(new_title)
    return {k: v for k, v in delta.items() if v}


def recount(records: Iterable[AuRecord], publisher: str | None = None) -> dict[str, int]:
    """The summary recounted from every record (for tests and benchmarks; never in a flow)."""
    totals = dict.fromkeys(SUMMARY_FIELDS, 0)
    titles: set[str] = set()
    for record in records:
        if publisher is not None and record.publisher != publisher:
            continue
        for k, v in au_counts(record).items():
            totals[k] += v
        titles.add(title_of(record.au))
    totals["titles"] = len(titles)
    return totals


@dataclass
class AuRecord:
    """What the archive holds of one AU, and where its verified copies are."""

    au: str  # publisher/title/au, also the OCFL object id
    head: str  # the OCFL head version, e.g. "v2"
    files: int
    bytes: int
    articles: int = 0
    journal_title: str | None = None
    issn: str | None = None
    eissn: str | None = None
    publisher_name: str | None = None
    packages: dict[str, int] = field(default_factory=dict)  # package file name -> JATS articles in it
    copies: dict[str, str] = field(default_factory=dict)  # node region -> version verified there
    updated: str = ""
    # Audit (strongroom.flows.audit): when this AU was last polled and what the poll found,
    # {"agreement", "nodes": {region: ok|damaged|repaired|unavailable}, "root_hash", ...}.
    last_poll: str | None = None
    last_poll_result: dict = field(default_factory=dict)
    # OCFL version -> sha512 of the root inventory.json committed at that version: the witness
    # a poll trusts over a majority of nodes (see strongroom.domain.tally.choose_reference).
    inventory_sha512: dict[str, str] = field(default_factory=dict)

    @property
    def publisher(self) -> str:
        return self.au.split("/")[0]

    @property
    def title(self) -> str:
        return self.au.split("/")[1]

    def verified_regions(self) -> list[str]:
        return [region for region, version in self.copies.items() if version == self.head]

    def pending_regions(self, all_regions: Iterable[str]) -> list[str]:
        verified = set(self.verified_regions())
        return [r for r in all_regions if r not in verified]

    def next_poll_due(self, interval_days: int, jitter_days: int):
        """When this AU should next be polled (None: never polled, due now); see schedule.next_poll_due."""
        return next_poll_due(self.au, self.last_poll, interval_days, jitter_days)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AuRecord:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


class StaleWrite(StrongroomError, RuntimeError):
    """The item changed since it was read (optimistic concurrency): read it again and retry."""


class Catalog(Protocol):
    def put_au(self, record: AuRecord) -> None: ...

    def get_au(self, au: str) -> AuRecord | None: ...

    def list_aus(self) -> list[AuRecord]:
        """Every AU: a whole-catalog read, for an admin's listing only; no scheduled flow calls it."""
        ...

    def aus_of_title(self, title: str, limit: int | None = None) -> list[AuRecord]:
        """The AUs of one title (publisher/title) in AU order, from the title index (never a scan);
        the first `limit` of them when a limit is given."""
        ...

    def aus_of_publisher(self, publisher: str, limit: int) -> list[AuRecord]:
        """The first `limit` AUs of one publisher, title by title (title order, then AU order),
        from its title items and the title index (never a scan)."""
        ...

    def title_aus(self, title: str) -> int:
        """How many AUs one title (publisher/title) holds, from its title item (never a scan)."""
        ...

    def summary(self, publisher: str | None = None) -> dict[str, int]:
        """The totals (SUMMARY_FIELDS) of the archive, or of one publisher, from one summary item:
        kept up to date by put_au, so no AU is read. All zero for an empty archive or unknown publisher."""
        ...

    def poll_candidates(self, polled_before: datetime, limit: int) -> list[AuRecord]:
        """The AUs first in line for a poll, from the poll index (never a scan): up to `limit`
        never-polled AUs, newest ingest first, then up to `limit` AUs last polled at or before
        polled_before, oldest poll first. Reads at most POLL_SHARDS x limit index entries of each
        kind, however many AUs the archive holds."""
        ...

    def add_events(self, events: list[PremisEvent]) -> None:
        """Record events; an event already recorded (same identifier) is not duplicated."""
        ...

    def events(self, object_id: str) -> list[PremisEvent]:
        """The events of one AU (or one package key), oldest first."""
        ...

    def try_lock(self, name: str, owner: str, now: float, seconds: float) -> bool:
        """Take the named lease if it is free, expired, or already ours."""
        ...

    def unlock(self, name: str, owner: str) -> None: ...

    def clear(self) -> None:
        """Forget everything derived from the nodes (before a rebuild); release decisions stay."""
        ...

    # Releases (strongroom.domain.release): JSON documents with an "id" and a "revision".

    def get_release(self, release_id: str) -> dict | None: ...

    def list_releases(self) -> list[dict]: ...

    def put_release(self, doc: dict, expected_revision: int) -> None:
        """Store doc if the stored revision is expected_revision (0: none stored yet), else
        raise StaleWrite. doc["revision"] must already be expected_revision + 1."""
        ...


@contextmanager
def au_lease(
    catalog: Catalog, au: str, *, holder: str, seconds: float, wait: float, busy: Callable[[str], Exception]
) -> Iterator[Callable[[], None]]:
    """Hold the AU's lease while a block runs, so ingests and polls of one AU never overlap.

    Waits up to `wait` seconds for another holder; then raises busy(message). Yields a
    renew() for long work, which raises busy(...) if the lease was lost meanwhile.
    """
    name, owner = f"au:{au}", f"{holder}-{uuid.uuid4()}"
    deadline = time.monotonic() + wait
    while not catalog.try_lock(name, owner, time.time(), seconds):
        if time.monotonic() > deadline:
            raise busy(f"{au} is held by another ingest or poll")
        time.sleep(0.2)

    def renew() -> None:
        if not catalog.try_lock(name, owner, time.time(), seconds):
            raise busy(f"the lease on {au} was lost (the work ran past {seconds:.0f} s)")

    try:
        yield renew
    finally:
        catalog.unlock(name, owner)
