"""Which AUs to poll this run: every AU at least every interval, spread out, within a byte budget.

Each AU's due date moves by a fixed per-AU jitter (derived from its id, so it is the same
on every run and every machine): AUs ingested together are not all polled on the same
day, and the load of a run stays even. The budget is counted in bytes of one copy of each
AU, which is what every node reads in its own region during the poll.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta, timezone
from typing import Mapping, Sequence

from strongroom.domain.catalog import AuRecord


def jitter(au: str, jitter_days: float) -> timedelta:
    """The AU's fixed offset in [-jitter_days, +jitter_days], from sha256 of its id (deterministic)."""
    if jitter_days <= 0:
        return timedelta(0)
    fraction = int.from_bytes(hashlib.sha256(au.encode("utf-8")).digest()[:8], "big") / 2**64  # [0, 1)
    return timedelta(days=(2 * fraction - 1) * jitter_days)


def _parse(when: datetime | str | None) -> datetime | None:
    if when is None or when == "":
        return None
    if isinstance(when, str):
        when = datetime.fromisoformat(when.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError(f"poll time {when!r} has no time zone; store times as UTC, e.g. 2026-01-01T00:00:00+00:00")
    return when


def next_poll_due(au: str, last_poll: datetime | str | None, interval_days: float,
                  jitter_days: float) -> datetime | None:
    """When the AU is next due: last poll + interval + its jitter; None when never polled (due now)."""
    last = _parse(last_poll)
    if last is None:
        return None
    return last + timedelta(days=interval_days) + jitter(au, jitter_days)


def is_due(au: str, last_poll: datetime | str | None, now: datetime, interval_days: float,
           jitter_days: float) -> bool:
    due = next_poll_due(au, last_poll, interval_days, jitter_days)
    return due is None or due <= now


def plan_polls(records: Sequence[AuRecord], last_polls: Mapping[str, datetime | str | None], now: datetime,
               interval_days: float, budget_bytes: int, jitter_days: float,
               rng: random.Random | None = None) -> list[str]:
    """The AUs to poll now, in order.

    Due: never polled, or last polled longer ago than interval_days (+/- the AU's jitter).
    last_polls overrides record.last_poll per AU (e.g. from a poll log). Order: never-polled
    first, then newest ingest first (AuRecord.updated), so new content is checked soon after
    it lands. AUs are taken while they fit in budget_bytes (bytes of one copy); one that does
    not fit is skipped for smaller ones behind it, and is first in line next run. At least one
    due AU is always planned, however large. rng, when given, shuffles AUs whose order would
    otherwise tie (same ingest time) instead of taking them by name.
    """
    if now.tzinfo is None:
        raise ValueError("now has no time zone; pass datetime.now(timezone.utc)")
    due: list[tuple[bool, float, float, str, AuRecord]] = []
    for record in records:
        last = last_polls[record.au] if record.au in last_polls else record.last_poll
        if is_due(record.au, last, now, interval_days, jitter_days):
            tie = rng.random() if rng is not None else 0.0
            due.append((_parse(last) is not None, _negated(record.updated), tie, record.au, record))
    due.sort(key=lambda t: t[:4])
    planned: list[str] = []
    spent = 0
    for *_, record in due:
        size = max(record.bytes, 0)
        if not planned or spent + size <= budget_bytes:
            planned.append(record.au)
            spent += size
    return planned


def _negated(updated: str) -> float:
    """A sort key that puts later ISO timestamps first (and records without one last)."""
    try:
        return -_parse(updated).astimezone(timezone.utc).timestamp()
    except (ValueError, AttributeError):
        return float("inf")
