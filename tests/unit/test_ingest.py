"""Ingest end to end over in-memory stores: twelve verified copies, or quarantine and a report."""

from __future__ import annotations

import hashlib
import json
import threading
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from strongroom.config import settings
from strongroom.domain import ocfl
from strongroom.domain.au import PackageKey
from strongroom.domain.problems import Rejected
from strongroom.flows import ocfl_store
from strongroom.flows.ingest import Archive, NodeStore, complete_pending, ingest_package
from strongroom.flows.rebuild import rebuild_catalog
from strongroom.local.demo.samples import JournalSpec, make_articles, make_package
from tests.fakes import MemoryBlobStore, MemoryCatalog

AU = "acme/jbio/2024"


@pytest.fixture
def archive(tmp_path) -> Archive:
    cfg = settings()
    return Archive(
        ingest=MemoryBlobStore("ingest"),
        nodes=[NodeStore(n, MemoryBlobStore(n.bucket)) for n in cfg.nodes],
        catalog=MemoryCatalog(),
        limits=cfg.limits,
        audit=cfg.audit,
        clock=lambda: datetime(2026, 11, 21, 12, 0, tzinfo=UTC),
        scratch=tmp_path,
        wait_for_lock=5,
    )


def package(tmp_path: Path, name: str, n=3, seed=1, au="2024", **kw) -> Path:
    journal = JournalSpec(publisher="acme", title="jbio")
    articles = make_articles(n, seed=seed, journal=journal)
    out = tmp_path / name
    out.mkdir()
    made = make_package(out, publisher="acme", title="jbio", au=au, articles=articles, seed=seed, **kw)
    return made.rename(made.with_name(f"{name}.zip"))


def deposit(archive: Archive, path: Path, au: str = AU) -> str:
    key = f"incoming/{au}/{path.name}"
    archive.ingest.put(key, path.read_bytes())
    return key


def receipt(archive: Archive, outcome) -> dict:
    return json.loads(archive.ingest.objects[outcome.report_key])


def test_a_valid_package_is_preserved_on_all_twelve_nodes(archive, tmp_path):
    key = deposit(archive, package(tmp_path, "p1"))
    outcome = ingest_package(archive, key)

    assert outcome.status == "preserved", outcome
    assert outcome.copies == 12
    root = ocfl.object_root(AU)
    node1 = archive.nodes[0].store
    for ns in archive.nodes:
        inv = ocfl_store.read_inventory(ns.store, AU)
        assert inv is not None and inv.head == "v1", ns.node.region
        # every content file is byte-identical to node 1's
        for key_ in (k for k in node1.objects if k.startswith(root + "/v1/content/")):
            assert ns.store.objects[key_] == node1.objects[key_]
    doc = receipt(archive, outcome)
    assert doc["status"] == "preserved" and doc["ocfl"]["version"] == "v1"
    assert doc["copies"]["count"] == "12/12"
    assert any(f["path"].endswith(".pdf") and f["format"]["mime"] == "application/pdf" for f in doc["files"])
    assert len(doc["articles"]) == 3 and all(a["doi"] for a in doc["articles"])
    assert key not in archive.ingest.objects  # left incoming/ ...
    assert archive.ingest.history[key]  # ... but the versioned bucket keeps its bytes
    record = archive.catalog.get_au(AU)
    assert record.head == "v1" and len(record.verified_regions()) == 12 and record.articles == 3
    types = {e.type for e in archive.catalog.events(AU)}
    assert {"validation", "format identification", "ingestion", "replication"} <= types
    assert any(k.startswith(root + "/logs/") for k in node1.objects)


def test_a_web_harvest_is_recognised_and_its_records_counted(archive, tmp_path):
    outcome = ingest_package(archive, deposit(archive, package(tmp_path, "h1", warc=True)))
    assert outcome.status == "preserved"
    warcs = receipt(archive, outcome)["web_archives"]
    assert len(warcs) == 1 and warcs[0]["records"] > 1 and warcs[0]["response_urls"] >= 1
    assert any(
        f["format"]["mime"] == "application/warc"
        for f in receipt(archive, outcome)["files"]
        if f["path"].endswith((".warc", ".warc.gz"))
    )


def test_the_same_event_twice_makes_one_version(archive, tmp_path):
    key = deposit(archive, package(tmp_path, "p1"))
    first = ingest_package(archive, key)
    second = ingest_package(archive, key)
    assert first.status == "preserved"
    assert second.status == "gone"
    assert ocfl_store.read_inventory(archive.nodes[0].store, AU).head == "v1"


def test_the_same_package_pushed_twice_makes_one_version(archive, tmp_path):
    path = package(tmp_path, "p1")
    ingest_package(archive, deposit(archive, path))
    again = ingest_package(archive, deposit(archive, path))
    assert again.status == "duplicate"
    assert ocfl_store.read_inventory(archive.nodes[0].store, AU).head == "v1"
    assert receipt(archive, again)["status"] == "duplicate"


def test_a_later_package_adds_a_version_with_only_new_content(archive, tmp_path):
    ingest_package(archive, deposit(archive, package(tmp_path, "p1", seed=1)))
    node1 = archive.nodes[0].store
    before = set(node1.objects)
    out = ingest_package(archive, deposit(archive, package(tmp_path, "p2", seed=2)))
    assert out.status == "preserved" and out.version == "v2"
    inv = ocfl_store.read_inventory(node1, AU)
    state = inv.head_state_digests()
    assert any(p.startswith("p1") for p in state) and any(p.startswith("p2") for p in state)
    new_content = [k for k in set(node1.objects) - before if "/v2/content/" in k]
    assert new_content and all("/v2/content/p2" in k for k in new_content)
    assert archive.catalog.get_au(AU).articles == 6


def test_a_bad_package_is_quarantined_untouched_with_every_problem(archive, tmp_path):
    path = package(tmp_path, "bad", extra_bag_info={"Strongroom-AU": "2023"})
    # corrupt a payload file inside the archive by re-zipping with a changed PDF
    import zipfile

    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".pdf") and b"%%EOF" in data:
                data = data.replace(b"%%EOF", b"%%EOX")
            dst.writestr(info, data)
    key = deposit(archive, broken)
    original = archive.ingest.objects[key]
    outcome = ingest_package(archive, key)

    assert outcome.status == "rejected"
    assert archive.ingest.objects["quarantine/acme/jbio/2024/broken.zip"] == original
    report = receipt(archive, outcome)
    rules = {p["rule"] for p in report["problems"]}
    assert len(report["problems"]) >= 2, report  # the corrupt file AND the AU disagreement
    assert any("2023" in p["message"] for p in report["problems"]), rules
    assert all(p["fix"] for p in report["problems"])
    for ns in archive.nodes:
        assert not any(k.startswith(ocfl.object_root(AU)) for k in ns.store.objects)


def test_a_key_outside_the_layout_is_rejected_and_kept(archive, tmp_path):
    archive.ingest.put("incoming/acme/jbio/package.zip", b"PK")
    outcome = ingest_package(archive, "incoming/acme/jbio/package.zip")
    assert outcome.status == "rejected"
    assert archive.ingest.objects["quarantine/acme/jbio/package.zip"] == b"PK"
    assert "key-layout" in {p["rule"] for p in receipt(archive, outcome)["problems"]}


def test_each_version_at_a_key_outside_the_layout_is_rejected_and_kept(archive):
    key = "incoming/acme/jbio/package.zip"
    first = archive.ingest.put(key, b"PK first").version_id
    second = archive.ingest.put(key, b"PK second").version_id
    outcomes = [ingest_package(archive, key, second), ingest_package(archive, key, first)]
    assert [o.status for o in outcomes] == ["rejected", "rejected"]
    quarantined = archive.ingest.history["quarantine/acme/jbio/package.zip"] + [
        archive.ingest.objects["quarantine/acme/jbio/package.zip"]
    ]
    assert quarantined == [b"PK second", b"PK first"]  # both kept, each the bytes of its own version
    assert not archive.ingest.list_versions(key)
    assert ingest_package(archive, key, first).status == "gone"


def test_a_package_key_with_several_faults_is_refused_with_every_one():
    with pytest.raises(Rejected) as refused:
        PackageKey.parse("incoming/Acme/j bio/2024/package.rar")
    problems = refused.value.problems
    assert [p.rule for p in problems] == ["key-layout", "key-layout", "package-type"]
    assert "'Acme'" in problems[0].message and "'j bio'" in problems[1].message
    assert all("incoming/<publisher>/<title>/<au>/<package>.zip" in p.fix for p in problems)
    assert PackageKey.parse("incoming/acme/jbio/2024/p1.tar.gz").stem == "p1"


def test_an_unreachable_node_leaves_a_pending_copy_that_a_retry_completes(archive, tmp_path):
    tokyo = next(ns for ns in archive.nodes if ns.node.region == "ap-northeast-1")
    tokyo.store.offline = True
    outcome = ingest_package(archive, deposit(archive, package(tmp_path, "p1")))
    assert outcome.status == "pending" and outcome.copies == 11
    doc = receipt(archive, outcome)
    assert doc["copies"]["pending"] == ["ap-northeast-1"]
    assert archive.catalog.get_au(AU).pending_regions([n.node.region for n in archive.nodes]) == ["ap-northeast-1"]

    tokyo.store.offline = False
    record = complete_pending(archive, AU)
    assert len(record.verified_regions()) == 12
    assert ocfl_store.read_inventory(tokyo.store, AU).head == "v1"


def test_the_catalog_rebuilt_from_one_node_gives_the_same_answers(archive, tmp_path):
    ingest_package(archive, deposit(archive, package(tmp_path, "p1", seed=1)))
    ingest_package(archive, deposit(archive, package(tmp_path, "p2", seed=2)))
    ingest_package(archive, deposit(archive, package(tmp_path, "p3", seed=3, au="2025"), au="acme/jbio/2025"))
    before = [r.as_dict() for r in archive.catalog.list_aus()]
    events_before = {e.identifier for e in archive.catalog.events(AU)}

    archive.catalog.clear()
    assert archive.catalog.list_aus() == []
    assert rebuild_catalog(archive.nodes[0].store, archive.catalog) == 2

    assert [r.as_dict() for r in archive.catalog.list_aus()] == before
    assert {e.identifier for e in archive.catalog.events(AU)} == events_before


def test_two_packages_for_one_au_at_once_are_serialised(archive, tmp_path):
    keys = [deposit(archive, package(tmp_path, f"p{i}", seed=i)) for i in (1, 2)]
    outcomes = []
    threads = [threading.Thread(target=lambda k=k: outcomes.append(ingest_package(archive, k))) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o.version for o in outcomes) == ["v1", "v2"]
    state = ocfl_store.read_inventory(archive.nodes[0].store, AU).head_state_digests()
    assert any(p.startswith("p1/") for p in state) and any(p.startswith("p2/") for p in state)


# --- every S3 object version is ingested or rejected ------------------------------------------


def sha512s(path: Path) -> set[str]:
    """The sha512 of every file in a zipped bag."""
    with zipfile.ZipFile(path) as zf:
        return {hashlib.sha512(zf.read(i)).hexdigest() for i in zf.infolist() if not i.is_dir()}


@pytest.mark.parametrize("order", ["as-stored", "newest-first"])
def test_a_correction_put_to_the_same_key_during_an_ingest_is_ingested_too(archive, tmp_path, order):
    """The attack: a corrected package PUT (S3 answered 200) to the same key while the first was
    being ingested was never ingested: removing the key after the first receipt removed the newest
    version, or its event found the key gone and took it as handled. Each event's own version is
    opened and removed; whichever event comes first, both versions become AU versions in the order
    S3 stored them, so the AU's head holds the correction."""
    (tmp_path / "fix").mkdir()
    first, corrected = package(tmp_path, "p1", seed=1), package(tmp_path / "fix", "p1", seed=2)
    key = f"incoming/{AU}/p1.zip"
    v1 = archive.ingest.put(key, first.read_bytes()).version_id
    opened, v2 = [], []
    real_open = archive.ingest.open

    def open_then_correction_lands(k, *, version_id=None):
        stream = real_open(k, version_id=version_id)
        if k == key and not v2:  # the publisher's PUT of the correction succeeds mid-ingest
            v2.append(archive.ingest.put(key, corrected.read_bytes()).version_id)
        opened.append(version_id)
        return stream

    archive.ingest.open = open_then_correction_lands
    if order == "as-stored":
        outcomes = [ingest_package(archive, key, v1), ingest_package(archive, key, v2[0])]
    else:  # the first event is delivered late; the correction's event comes first
        archive.ingest.open = real_open
        v2.append(archive.ingest.put(key, corrected.read_bytes()).version_id)
        archive.ingest.open = open_then_correction_lands
        outcomes = [ingest_package(archive, key, v2[0]), ingest_package(archive, key, v1)]
    assert v1 != v2[0]
    assert [o.status for o in outcomes] == (
        ["preserved", "preserved"] if order == "as-stored" else ["preserved", "gone"]
    ), outcomes
    assert [v for v in opened if v is not None][:2] == [v1, v2[0]]  # each version read, in S3's order

    inv = ocfl_store.read_inventory(archive.nodes[0].store, AU)
    assert inv.head == "v2"
    assert set(inv.logical_state("v1").values()) == sha512s(first)  # the first package ...
    assert set(inv.logical_state("v2").values()) == sha512s(corrected)  # ... then the correction, at the head
    assert not archive.ingest.list_versions(key)  # every version handled and gone from incoming/
    doc = json.loads(archive.ingest.objects[f"receipts/{AU}/p1.zip.json"])
    assert doc["package"]["version_id"] == v2[0] and doc["ocfl"]["version"] == "v2"
