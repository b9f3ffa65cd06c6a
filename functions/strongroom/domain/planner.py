"""Which AUs to poll this run: every AU at least every interval, spread out, within a byte budget.

Each AU's due date moves by a fixed per-AU jitter (derived from its id, so it is the same
on every run and every machine): AUs ingested together are not all polled on the same
day, and the load of a run stays even. The budget is counted in bytes of one copy of each
AU, which is what every node reads in its own region during the poll.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from strongroom.domain.catalog import AuRecord
from strongroom.domain.schedule import is_due, parse_time


def plan_polls(
    records: Sequence[AuRecord],
    last_polls: Mapping[str, datetime | str | None],
    now: datetime,
    interval_days: float,
    budget_bytes: int,
    jitter_days: float,
    rng: random.Random | None = None,
) -> list[str]:
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
            due.append((parse_time(last) is not None, _negated(record.updated), tie, record.au, record))
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
        when = parse_time(updated)
    except ValueError:
        return float("inf")
    return float("inf") if when is None else -when.astimezone(UTC).timestamp()
