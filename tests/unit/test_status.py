"""`strongroom status`: totals from the summary items, and a page of AUs, never all of a large archive."""

from __future__ import annotations

import json

import pytest

from strongroom.domain.archive import AuditSettings
from strongroom.domain.catalog import AuRecord
from strongroom.render.status import report
from tests.fakes import MemoryCatalog

REGIONS = ["us-east-1", "eu-west-1", "ap-east-1"]
AUDIT = AuditSettings(interval_days=90, quorum=2, budget_bytes_per_run=10**12, jitter_days=0)


class NoWholeReads(MemoryCatalog):
    """A catalog too large to read whole: list_aus fails the test."""

    def list_aus(self):
        raise AssertionError("status read every AU")


def _fill(catalog, aus):
    for au in aus:
        catalog.put_au(AuRecord(au=au, head="v1", files=2, bytes=1000, articles=1, copies={"us-east-1": "v1"}))
    return catalog


AUS = ["acme/bio/1", "acme/bio/2", "acme/chem/1", "zeta/t/1", "zeta/t/2"]


def test_a_small_archive_is_listed_whole_with_its_totals():
    out = report(_fill(MemoryCatalog(), AUS), REGIONS, AUDIT)
    assert [line.split()[0] for line in out.splitlines()[2:7]] == AUS
    assert "3 titles, 5 AUs, 5.0 KB in each of 3 nodes; 10 files, 5 articles; 10 copies pending" in out
    assert "not shown" not in out


def test_an_archive_over_the_limit_prints_its_totals_and_how_to_list_without_reading_every_au():
    out = report(_fill(NoWholeReads(), AUS), REGIONS, AUDIT, limit=4)
    assert not any(line.startswith(AUS[0]) for line in out.splitlines())
    assert "3 titles, 5 AUs" in out
    assert "5 AUs not shown; list them a publisher or a title at a time: --publisher P or --title P/T" in out


def test_one_publisher_title_by_title_up_to_the_limit():
    out = report(_fill(NoWholeReads(), AUS), REGIONS, AUDIT, publisher="acme", limit=2)
    listed = [line.split()[0] for line in out.splitlines() if line.startswith(("acme/", "zeta/"))]
    assert listed == ["acme/bio/1", "acme/bio/2"]
    assert "acme: 2 titles, 3 AUs" in out and "archive: 3 titles, 5 AUs" in out
    assert "1 AUs not shown; `strongroom status --publisher acme --limit 3` lists them all" in out


def test_one_title_up_to_the_limit():
    out = report(_fill(NoWholeReads(), AUS), REGIONS, AUDIT, title="acme/bio", limit=1)
    assert [line.split()[0] for line in out.splitlines() if line.startswith("acme/")] == ["acme/bio/1"]
    assert "1 AUs not shown; `strongroom status --title acme/bio --limit 2` lists them all" in out
    assert "no AUs of" in report(_fill(NoWholeReads(), AUS), REGIONS, AUDIT, title="acme/none")


@pytest.mark.parametrize("limit", [10, 2])
def test_json_keeps_its_rows_and_adds_the_totals(limit):
    doc = json.loads(
        report(_fill(NoWholeReads() if limit < 5 else MemoryCatalog(), AUS), REGIONS, AUDIT, limit=limit, json_out=True)
    )
    assert [r["au"] for r in doc["aus"]] == (AUS if limit >= 5 else [])
    assert doc["not_shown"] == (0 if limit >= 5 else 5)
    assert doc["totals"]["aus"] == 5 and doc["totals"]["titles"] == 3 and doc["totals"]["copies_pending"] == 10
    one = json.loads(report(_fill(MemoryCatalog(), AUS), REGIONS, AUDIT, publisher="zeta", json_out=True))
    assert [r["au"] for r in one["aus"]] == ["zeta/t/1", "zeta/t/2"]
    assert one["publisher_totals"]["aus"] == 2 and one["totals"]["aus"] == 5


def test_an_empty_archive_says_how_to_deposit():
    assert report(NoWholeReads(), REGIONS, AUDIT).startswith("The archive holds no AUs yet")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["status", "--title", "acme"], "--title acme: give publisher/title, e.g. --title acme/jbio"),
        (["status", "--limit", "0"], "--limit 0: give how many AUs to list at most, 1 or more"),
    ],
)
def test_bad_filters_are_refused_with_what_to_give(argv, message, tmp_path):
    from strongroom.commands import archive, cli

    args = cli._parser().parse_args(["--data", str(tmp_path), *argv])
    with pytest.raises(SystemExit, match=message):
        archive.status(args)
