"""Repair rules and whole polls: never over a good copy, evidence kept, nearest source, alarms, records."""

from __future__ import annotations

import hashlib
import json
import random
import threading

import pytest

from strongroom.config import settings
from strongroom.domain import ocfl, premis
from strongroom.domain.tally import OK, choose_reference, tally
from strongroom.domain.vote import new_nonce
from strongroom.flows import ocfl_store
from strongroom.flows.audit import AuditBusy, local_voter, run_poll
from strongroom.flows.poll import vote
from strongroom.flows.rebuild import rebuild_catalog
from strongroom.flows.repair import (
    RefusedOverwrite,
    _restore,
    great_circle_km,
    node_distances,
    repair,
)
from strongroom.local.demo import chaos
from tests.audit_support import (
    AU_TWO_VERSIONS,
    AUS,
    NOW,
    build_archive,
    clone,
    record_inventory_digests,
    state,
)

AU = AU_TWO_VERSIONS
ROOT = ocfl.object_root(AU)
PDF = "v1/content/p1/data/jbio.2024.1/article.pdf"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    archive = build_archive(tmp_path_factory.mktemp("audit-repair"))
    record_inventory_digests(archive)
    return archive


@pytest.fixture
def archive(base):
    return clone(base)


def stores(archive):
    return {ns.node.region: ns.store for ns in archive.nodes}


def store_of(archive, region):
    return stores(archive)[region]


def poll_and_tally(archive, quorum=7):
    nonce = new_nonce()
    votes = [vote(ns.store, AU, nonce, ns.node.region) for ns in archive.nodes]
    record = archive.catalog.get_au(AU)
    rec = record.inventory_sha512[record.head]
    ref = choose_reference(votes, rec, record.head)
    inv = ocfl.Inventory.from_json(store_of(archive, ref.holders[0]).objects[f"{ROOT}/inventory.json"])
    return tally(AU, votes, inv, rec, quorum, reference_sha512=ref.sha512, recorded_versions=record.inventory_sha512)


# --- chaos itself ---------------------------------------------------------------------------------------


def test_chaos_flips_exactly_the_bits_asked_and_records_what_it_did(archive):
    store = archive.nodes[0].store
    key = f"{ROOT}/{PDF}"
    before = store.objects[key]
    damage = chaos.flip_bits(store, key, 5, random.Random(7))
    after = store.objects[key]
    assert len(after) == len(before)
    assert sum(bin(a ^ b).count("1") for a, b in zip(before, after)) == 5
    assert damage.before == {key: "0"} and store.history[key] == [before]
    assert chaos.truncate(store, key).detail.endswith(f"-> {len(before) // 2} bytes")
    with pytest.raises(chaos.ChaosError, match="does not exist"):
        chaos.delete(store, f"{ROOT}/nope")
    fresh = archive.nodes[1].store
    with pytest.raises(chaos.ChaosError, match="no older version"):
        chaos.rollback(fresh, key)
    assert [v.version_id for v in store.list_versions(key)] == ["0", "1", "2"]
    assert json.dumps(damage.as_dict())


def test_wiping_a_whole_bucket_and_taking_a_node_offline(archive):
    store = archive.nodes[11].store
    damage = chaos.wipe_node(store)
    assert not store.objects and len(damage.keys) == len(store.history)
    chaos.take_offline(store)
    with pytest.raises(Exception, match="offline"):
        store.head("x")
    chaos.take_offline(store, False)
    assert store.head("x") is None


# --- repair rules ---------------------------------------------------------------------------------------


def test_distances_pick_the_nearest_agreeing_node():
    assert 600 < great_circle_km((51.51, -0.13), (50.11, 8.68)) < 700  # London - Frankfurt
    distance = node_distances(settings().nodes)
    assert distance("eu-central-1", "eu-south-1") < distance("us-east-1", "eu-south-1")
    assert distance("x", "eu-south-1") > distance("ap-southeast-2", "eu-west-2")  # unknown: tried last


def test_repair_restores_from_the_nearest_agreeing_copy_and_keeps_the_damaged_bytes(archive):
    milan = store_of(archive, "eu-south-1")
    key = f"{ROOT}/{PDF}"
    good = milan.objects[key]
    chaos.flip_bits(milan, key, 3, random.Random(1))
    chaos.flip_bits(store_of(archive, "eu-central-1"), key, 3, random.Random(2))  # nearest is damaged too
    damaged = milan.objects[key]
    before = state(archive)
    t = poll_and_tally(archive)
    report = repair(AU, t, stores(archive), node_distances(settings().nodes))
    by_node = {a.node: a for a in report.actions}
    assert by_node["eu-south-1"].status == "repaired"
    assert by_node["eu-south-1"].source == "eu-west-2"  # London: nearest agreeing to Milan
    assert by_node["eu-central-1"].source == "eu-west-2"
    assert milan.objects[key] == good
    evidence = by_node["eu-south-1"].evidence_version_id
    assert milan.history[key][int(evidence)] == damaged  # the damaged bytes stay, noncurrent
    assert by_node["eu-south-1"].sha512 == hashlib.sha512(good).hexdigest()
    after = state(archive)
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {("eu-south-1", key), ("eu-central-1", key)}  # good copies untouched
    assert not report.alarm and json.loads(report.to_json())["repaired"] == 2


def test_repair_never_writes_over_a_copy_judged_ok(archive):
    t = poll_and_tally(archive)
    copy = t.copies[PDF]["us-east-1"]
    assert copy.status == OK
    with pytest.raises(RefusedOverwrite, match="never writes over a good copy"):
        _restore(ROOT, PDF, "us-east-1", copy, t, stores(archive), lambda a, b: 0.0)
    assert repair(AU, t, stores(archive), lambda a, b: 0.0).actions == []


def test_with_no_agreeing_copy_nothing_is_touched_and_the_alarm_sounds(archive):
    key = f"{ROOT}/{PDF}"
    for i, ns in enumerate(archive.nodes):
        chaos.flip_bits(ns.store, key, 1, random.Random(i))
    before = state(archive)
    t = poll_and_tally(archive)
    report = repair(AU, t, stores(archive), lambda a, b: 0.0)
    assert report.alarm and report.unrepairable == [PDF]
    assert {a.status for a in report.actions} == {"unrepairable"} and len(report.actions) == 12
    assert state(archive) == before


def test_an_inconclusive_tally_repairs_nothing(archive):
    chaos.delete(archive.nodes[0].store, f"{ROOT}/{PDF}")
    for ns in archive.nodes[6:]:
        chaos.take_offline(ns.store)
    t = poll_and_tally(archive)
    assert t.inconclusive
    report = repair(AU, t, stores(archive), lambda a, b: 0.0)
    assert report.actions == [] and "inconclusive" in report.skipped
    assert f"{ROOT}/{PDF}" not in archive.nodes[0].store.objects


def test_a_copy_changed_since_the_vote_is_skipped_not_overwritten(archive):
    key = f"{ROOT}/{PDF}"
    store = archive.nodes[2].store
    chaos.truncate(store, key)
    t = poll_and_tally(archive)
    chaos.replace(store, key, b"someone wrote here after the vote")
    report = repair(AU, t, stores(archive), lambda a, b: 0.0)
    assert [a.status for a in report.actions] == ["skipped"]
    assert store.objects[key] == b"someone wrote here after the vote"


def test_the_twelve_votes_of_a_poll_run_at_once_and_come_back_in_node_order(archive):
    # Each vote waits at a barrier until all twelve are in flight: votes taken one after another
    # would break it (BrokenBarrierError) instead of meeting there.
    together = threading.Barrier(len(archive.nodes), timeout=30)
    seen: list[str] = []

    def voter(region, store, au, nonce, keys=None):
        if keys is None:
            together.wait()
        seen.append(region)
        return local_voter(region, store, au, nonce, keys)

    report = run_poll(archive, AU, now=NOW, voter=voter)
    assert report.status == "ok" and report.agreement == len(archive.nodes)
    assert list(report.cost) == [ns.node.region for ns in archive.nodes]
    assert sorted(seen) == sorted(ns.node.region for ns in archive.nodes)


def test_extra_files_are_reported_and_never_deleted(archive):
    stray = f"{ROOT}/v1/content/p1/stray.bin"
    archive.nodes[3].store.put(stray, b"who put this here")
    report = run_poll(archive, AU, now=NOW)
    assert report.status == "ok" and report.extra == {"us-west-1": ["v1/content/p1/stray.bin"]}
    assert archive.nodes[3].store.objects[stray] == b"who put this here"


def test_a_wiped_bucket_is_rebuilt_content_first_inventory_last_and_validates(archive, tmp_path):
    import ocfl as ocfl_py

    tokyo = store_of(archive, "ap-northeast-1")
    chaos.wipe_node(tokyo)
    order: list[str] = []
    original_put = tokyo.put

    def recording_put(key, body, **kw):
        order.append(key)
        return original_put(key, body, **kw)

    tokyo.put = recording_put
    for au in AUS:
        report = run_poll(archive, au, now=NOW)
        assert report.status == "repaired" and report.nodes["ap-northeast-1"] == "repaired", report.message
    puts = [k for k in order if k.startswith(ROOT) and "/logs/" not in k]
    assert puts[-2:] == [f"{ROOT}/inventory.json", f"{ROOT}/inventory.json.sha512"]
    first_inventory = min(i for i, k in enumerate(puts) if k.endswith("inventory.json"))
    assert all("/content/" not in k for k in puts[first_inventory:])
    # the rebuilt node is a valid OCFL storage root again, digests checked by ocfl-py
    root = tokyo.export(tmp_path / "tokyo")
    storage_root = ocfl_py.StorageRoot(root=str(root))
    assert storage_root.validate(log_warnings=True, log_errors=False, check_digests=True)
    assert storage_root.num_objects == 2 and storage_root.good_objects == 2


# --- whole polls: records, events, logs -----------------------------------------------------------------


def test_a_poll_records_events_logs_and_the_status_grid(archive):
    flipped = f"{ROOT}/{PDF}"
    chaos.flip_bits(archive.nodes[1].store, flipped, 1, random.Random(0))
    chaos.take_offline(archive.nodes[4].store)
    report = run_poll(archive, AU, now=NOW)
    assert report.status == "repaired" and not report.alarm
    assert report.nodes["us-west-2"] == "repaired" and report.nodes["mx-central-1"] == "unavailable"
    assert report.nodes["us-east-1"] == "ok" and report.agreement == 11 and report.responding == 11
    assert report.confirmation == {f"us-west-2:{PDF}": True}
    json.loads(json.dumps(report.as_dict()))

    record = archive.catalog.get_au(AU)
    assert record.last_poll == NOW.isoformat(timespec="seconds")
    assert record.last_poll_result["nodes"] == report.nodes and record.last_poll_result["agreement"] == 11
    assert record.last_poll_result["root_hash"] == report.root_hash
    events = archive.catalog.events(AU)
    fixity = [e for e in events if e.type == "fixity check" and e.outcome_detail.get("node")]
    assert {e.outcome_detail["node"]: e.outcome for e in fixity} == {
        ns.node.region: ("failure" if i == 1 else "warning" if i == 4 else "success")
        for i, ns in enumerate(archive.nodes)
    }
    repairs = [e for e in events if e.type == "repair"]
    assert len(repairs) == 1 and repairs[0].outcome_detail["evidence_version_id"] == "1"  # the flipped bytes
    assert repairs[0].outcome_detail["source"] and repairs[0].outcome_detail["node"] == "us-west-2"

    for i, ns in enumerate(archive.nodes):  # a poll log on every reachable node, readable as PREMIS
        if i == 4:
            continue
        logs = [premis.from_jsonl(b) for b in ocfl_store.read_logs(ns.store, AU)]
        poll_logs = [log for log in logs if any(e.type == "fixity check" for e in log)]
        assert len(poll_logs) == 1
        summary = [e for e in poll_logs[0] if "poll" in e.outcome_detail][0]
        assert summary.outcome_detail["poll"]["status"] == "repaired"
    # the catalog can still be rebuilt from a node that holds poll logs
    chaos.take_offline(archive.nodes[4].store, False)
    assert rebuild_catalog(archive.nodes[0].store, archive.catalog) == 2


def test_polling_twice_repairs_once(archive):
    chaos.delete(archive.nodes[5].store, f"{ROOT}/{PDF}")
    first = run_poll(archive, AU, now=NOW)
    before = state(archive)
    second = run_poll(archive, AU, now=NOW)
    assert first.status == "repaired" and second.status == "ok"
    assert second.repair["actions"] == [] and state(archive) == before
    assert len([e for e in archive.catalog.events(AU) if e.type == "repair"]) == 1


def test_the_first_poll_pins_the_inventory_when_ingest_recorded_none(base):
    archive = clone(base)
    for au in AUS:
        record = archive.catalog.get_au(au)
        record.inventory_sha512 = {}
        archive.catalog.put_au(record)
    run_poll(archive, AU, now=NOW)
    pinned = archive.catalog.get_au(AU).inventory_sha512
    assert pinned == {"v2": base.catalog.get_au(AU).inventory_sha512["v2"]}


def test_a_poll_waits_for_the_au_lock_and_gives_up_with_advice(archive):
    archive.wait_for_lock = 0.3
    import time

    assert archive.catalog.try_lock(f"au:{AU}", "an-ingest", time.time(), 60)
    chaos.delete(archive.nodes[5].store, f"{ROOT}/{PDF}")
    before = state(archive)
    with pytest.raises(AuditBusy, match="poll it again later"):
        run_poll(archive, AU, now=NOW)
    assert state(archive) == before
    archive.catalog.unlock(f"au:{AU}", "an-ingest")
    assert run_poll(archive, AU, now=NOW).status == "repaired"


def test_an_unknown_au_says_how_to_fix_it(archive):
    with pytest.raises(KeyError, match="catalog rebuild"):
        run_poll(archive, "acme/jbio/1999", now=NOW)
