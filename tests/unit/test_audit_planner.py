"""The poll planner: who is due, in what order, within what budget; jitter that is stable per AU."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from strongroom.config import settings
from strongroom.domain.catalog import AuRecord
from strongroom.domain.planner import plan_polls
from strongroom.domain.schedule import jitter, next_poll_due
from strongroom.flows.audit import due_aus
from strongroom.flows.ingest import Archive
from tests.fakes import MemoryBlobStore, MemoryCatalog

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def rec(au: str, bytes_: int = 10, updated: str = "2026-01-01T00:00:00+00:00", last_poll: str | None = None):
    return AuRecord(au=au, head="v1", files=1, bytes=bytes_, updated=updated, last_poll=last_poll)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def test_never_polled_is_due_and_recently_polled_is_not():
    records = [rec("a/t/never"), rec("a/t/fresh"), rec("a/t/old")]
    last = {"a/t/never": None, "a/t/fresh": ago(1), "a/t/old": ago(200)}
    planned = plan_polls(records, last, NOW, interval_days=90, budget_bytes=10**9, jitter_days=7)
    assert set(planned) == {"a/t/never", "a/t/old"}


def test_the_due_date_is_interval_plus_the_aus_own_jitter():
    last = ago(90)
    for au in (f"acme/t/{i}" for i in range(50)):
        due = next_poll_due(au, last, 90, 7)
        assert due == last + timedelta(days=90) + jitter(au, 7)
        assert abs((due - NOW).total_seconds()) <= 7 * 86400
        just_before, just_after = due - timedelta(seconds=1), due + timedelta(seconds=1)
        assert plan_polls([rec(au)], {au: last}, just_before, 90, 10**9, 7) == []
        assert plan_polls([rec(au)], {au: last}, just_after, 90, 10**9, 7) == [au]


def test_jitter_is_deterministic_bounded_and_spreads_aus():
    values = [jitter(f"acme/t/{i}", 7) for i in range(200)]
    assert values == [jitter(f"acme/t/{i}", 7) for i in range(200)]  # same every run
    assert all(abs(v) <= timedelta(days=7) for v in values)
    assert len(set(values)) == 200
    assert min(values) < timedelta(days=-5) and max(values) > timedelta(days=5)
    assert jitter("acme/t/1", 0) == timedelta(0)


def test_newest_ingests_first_and_never_polled_before_overdue():
    records = [
        rec("a/t/old-ingest", updated="2025-01-01T00:00:00+00:00"),
        rec("a/t/new-ingest", updated="2026-11-01T00:00:00+00:00"),
        rec("a/t/mid-ingest", updated="2026-03-01T00:00:00+00:00"),
        rec("a/t/overdue", updated="2026-11-20T00:00:00+00:00", last_poll=ago(300).isoformat()),
    ]
    planned = plan_polls(records, {}, NOW, 90, 10**9, 7)
    assert planned == ["a/t/new-ingest", "a/t/mid-ingest", "a/t/old-ingest", "a/t/overdue"]


def test_the_budget_limits_a_run_but_one_au_always_goes():
    records = [rec(f"a/t/{i}", bytes_=10, updated=f"2026-01-{10 + i:02d}T00:00:00+00:00") for i in range(5)]
    assert plan_polls(records, {}, NOW, 90, 25, 7) == ["a/t/4", "a/t/3"]
    huge = [rec("a/t/huge", bytes_=10**12, updated="2026-06-01T00:00:00+00:00")] + records
    assert plan_polls(huge, {}, NOW, 90, 25, 7) == ["a/t/huge"]  # alone over budget, still polled


def test_an_au_too_big_for_what_is_left_lets_smaller_ones_through():
    records = [
        rec("a/t/first", 10, "2026-03-01T00:00:00+00:00"),
        rec("a/t/big", 100, "2026-02-01T00:00:00+00:00"),
        rec("a/t/small", 5, "2026-01-01T00:00:00+00:00"),
    ]
    assert plan_polls(records, {}, NOW, 90, 20, 7) == ["a/t/first", "a/t/small"]
    # the next run (first and small polled now) starts with big
    last = {"a/t/first": NOW, "a/t/small": NOW}
    assert plan_polls(records, last, NOW + timedelta(hours=1), 90, 20, 7) == ["a/t/big"]


def test_last_polls_override_the_record_and_rng_only_breaks_ties():
    records = [rec(f"a/t/{i}", last_poll=ago(1).isoformat()) for i in range(6)]
    assert plan_polls(records, {}, NOW, 90, 10**9, 7) == []
    overdue = {r.au: ago(365) for r in records}
    by_name = plan_polls(records, overdue, NOW, 90, 10**9, 7)
    assert by_name == sorted(by_name)
    shuffled = plan_polls(records, overdue, NOW, 90, 10**9, 7, rng=random.Random(3))
    assert sorted(shuffled) == by_name
    assert shuffled == plan_polls(records, overdue, NOW, 90, 10**9, 7, rng=random.Random(3))


def test_the_record_knows_its_next_poll():
    r = rec("a/t/x", last_poll="2026-01-01T00:00:00+00:00")
    assert r.next_poll_due(90, 7) == next_poll_due("a/t/x", "2026-01-01T00:00:00+00:00", 90, 7)
    assert rec("a/t/y").next_poll_due(90, 7) is None
    assert AuRecord.from_dict(r.as_dict()) == r


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="time zone"):
        plan_polls([rec("a/t/x")], {}, datetime(2026, 1, 1), 90, 10, 7)
    with pytest.raises(ValueError, match="time zone"):
        next_poll_due("a/t/x", datetime(2026, 1, 1), 90, 7)


# -- the planner flow over the catalog's poll index -------------------------------------------


class IndexOnlyCatalog(MemoryCatalog):
    """A catalog that refuses to be read whole: the planner must find due AUs through the index."""

    def list_aus(self):
        raise AssertionError("the planner scanned the whole catalog")


def _archive(catalog, **audit) -> Archive:
    cfg = settings()
    return Archive(
        ingest=MemoryBlobStore("ingest"),
        nodes=[],
        catalog=catalog,
        limits=cfg.limits,
        audit=replace(cfg.audit, **audit),
    )


def test_due_aus_reads_the_index_and_plans_what_the_whole_catalog_would():
    # AUs polled around the due line, where each one's own jitter decides, plus never-polled ones.
    now = datetime(2026, 6, 1, tzinfo=UTC)
    catalog = IndexOnlyCatalog()
    gen = random.Random(7)
    records = []
    for i in range(400):
        last = None if i % 10 == 0 else (now - timedelta(days=gen.uniform(70, 110))).isoformat()
        records.append(
            rec(
                f"p/t/{i:03d}",
                bytes_=1,
                last_poll=last,
                updated=(now - timedelta(days=gen.uniform(100, 200), seconds=i)).isoformat(),
            )
        )
        catalog.put_au(records[-1])
    archive = _archive(catalog, interval_days=90, jitter_days=7, budget_bytes_per_run=10**9, max_aus_per_run=10**6)

    whole = plan_polls(records, {}, now, 90, 10**9, 7)
    assert 40 < len(whole) < 400  # some due only by their jitter, some not due
    assert due_aus(archive, now) == whole


def test_due_aus_takes_at_most_max_aus_per_run_never_polled_first():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    catalog = IndexOnlyCatalog()
    for i in range(50):
        catalog.put_au(rec(f"p/old/{i:02d}", last_poll=(now - timedelta(days=200 + i)).isoformat()))
    for i in range(3):
        catalog.put_au(rec(f"p/new/{i}", updated=(now - timedelta(days=i)).isoformat()))
    archive = _archive(catalog, interval_days=90, jitter_days=7, budget_bytes_per_run=10**9, max_aus_per_run=8)

    planned = due_aus(archive, now)
    assert len(planned) == 8
    assert planned[:3] == ["p/new/0", "p/new/1", "p/new/2"]
    # the rest from the eight longest unpolled (what the index hands over), in the rule's order
    assert set(planned[3:]) < {f"p/old/{i:02d}" for i in range(42, 50)}
