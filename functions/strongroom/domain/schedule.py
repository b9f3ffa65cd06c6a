"""When one AU is next due for a poll: its last poll, the interval, and a fixed per-AU jitter.

The jitter comes from the AU's id (sha256), so it is the same on every run and every machine:
AUs ingested together are not all due on the same day. Which due AUs a run takes is the
planner's business (strongroom.domain.planner).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta


def jitter(au: str, jitter_days: float) -> timedelta:
    """The AU's fixed offset in [-jitter_days, +jitter_days], from sha256 of its id (deterministic)."""
    if jitter_days <= 0:
        return timedelta(0)
    fraction = int.from_bytes(hashlib.sha256(au.encode("utf-8")).digest()[:8], "big") / 2**64  # [0, 1)
    return timedelta(days=(2 * fraction - 1) * jitter_days)


def parse_time(when: datetime | str | None) -> datetime | None:
    if when is None or when == "":
        return None
    if isinstance(when, str):
        when = datetime.fromisoformat(when.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError(f"poll time {when!r} has no time zone; store times as UTC, e.g. 2026-01-01T00:00:00+00:00")
    return when


def next_poll_due(
    au: str, last_poll: datetime | str | None, interval_days: float, jitter_days: float
) -> datetime | None:
    """When the AU is next due: last poll + interval + its jitter; None when never polled (due now)."""
    last = parse_time(last_poll)
    if last is None:
        return None
    return last + timedelta(days=interval_days) + jitter(au, jitter_days)


def is_due(au: str, last_poll: datetime | str | None, now: datetime, interval_days: float, jitter_days: float) -> bool:
    due = next_poll_due(au, last_poll, interval_days, jitter_days)
    return due is None or due <= now
