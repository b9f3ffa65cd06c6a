"""A seeded fault campaign: every kind of damage, up to 11 of 12 copies of a file, on random nodes.

After one round of polls every fault must be found and repaired, every good copy left as it
was (same bytes, same version), and the damaged bytes kept as noncurrent versions. Then the
hard cases: all copies damaged, nodes going away mid-poll, no quorum, a poll killed halfway,
and two polls of one AU at once.
"""

from __future__ import annotations

import hashlib
import random
import threading

import pytest

from strongroom.domain import ocfl
from strongroom.flows import ocfl_store
from strongroom.flows.audit import run_poll
from strongroom.local.demo import chaos
from tests.audit_support import (
    AUS,
    NOW,
    build_archive,
    clone,
    object_keys,
    record_inventory_digests,
    state,
)
from tests.fakes import MemoryBlobStore

SEEDS = range(40)
CONTENT_KINDS = ("flip_bits", "truncate", "delete", "replace")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    archive = build_archive(tmp_path_factory.mktemp("audit-campaign"))
    record_inventory_digests(archive)
    return archive


def regions(archive):
    return [ns.node.region for ns in archive.nodes]


def stores(archive):
    return {ns.node.region: ns.store for ns in archive.nodes}


def damage(archive, rng: random.Random, first_kind: str):
    """Apply 3-8 acts of chaos; returns ({(region, store key)}, kinds used, extras planted).

    A (node, key) is damaged at most once (so no act can undo another), and no file loses
    more than 11 of its 12 copies.
    """
    hit: dict[str, set[str]] = {}
    kinds_used, extras = set(), set()
    by_region = stores(archive)
    all_regions = regions(archive)

    def free(key):
        return [r for r in all_regions if r not in hit.get(key, set()) and key in by_region[r].objects]

    def room(key):
        return 11 - len(hit.get(key, set()))

    kinds = [first_kind] + [rng.choice(chaos.KINDS) for _ in range(rng.randint(2, 7))]
    for kind in kinds:
        au = rng.choice(AUS)
        root = ocfl.object_root(au)
        keys = [f"{root}/{k}" for k in object_keys(archive, au)]
        if kind == "wipe_node":
            candidates = [r for r in all_regions if all(r not in hit.get(k, set()) and room(k) > 0 for k in keys)]
            if not candidates:
                continue
            region = rng.choice(candidates)
            done = chaos.wipe_node(by_region[region], au)
            for k in done.keys:
                if "/logs/" not in k:
                    hit.setdefault(k, set()).add(region)
        elif kind == "tamper_inventory":
            inv, side = f"{root}/inventory.json", f"{root}/inventory.json.sha512"
            candidates = [r for r in set(free(inv)) & set(free(side)) if room(inv) > 0 and room(side) > 0]
            if not candidates:
                continue
            region = rng.choice(sorted(candidates))
            chaos.tamper_inventory(by_region[region], au, rng)
            hit.setdefault(inv, set()).add(region)
            hit.setdefault(side, set()).add(region)
        else:
            if kind == "rollback":  # files with an older version: the root inventory pair of a 2-version AU
                keys = [
                    k for k in keys if len(by_region[all_regions[0]].history.get(k, [])) >= 1 and "/logs/" not in k
                ] or keys
            key = rng.choice(keys)
            if room(key) <= 0 or not free(key):
                continue
            count = rng.randint(1, min(room(key), len(free(key))))
            for region in rng.sample(free(key), count):
                store = by_region[region]
                if kind == "flip_bits":
                    chaos.flip_bits(store, key, rng.randint(1, 8), rng)
                elif kind == "truncate":
                    chaos.truncate(store, key)
                elif kind == "delete":
                    chaos.delete(store, key)
                elif kind == "replace":
                    chaos.replace(store, key, rng.randbytes(rng.randint(0, 64)))
                elif kind == "rollback":
                    try:
                        chaos.rollback(store, key)
                    except chaos.ChaosError:
                        chaos.replace(store, key, b"an older, other file")
                hit.setdefault(key, set()).add(region)
        kinds_used.add(kind)
        if rng.random() < 0.3:  # sometimes a stray file too: reported, never deleted
            region, root = rng.choice(all_regions), ocfl.object_root(rng.choice(AUS))
            stray = f"{root}/v1/content/stray-{rng.randrange(10**6)}.bin"
            by_region[region].put(stray, b"stray")
            extras.add((region, stray))
    return {(r, k) for k, rs in hit.items() for r in rs}, kinds_used, extras


@pytest.mark.parametrize("seed", SEEDS)
def test_fault_campaign_every_fault_found_and_repaired(base, seed):
    archive = clone(base)
    rng = random.Random(seed)
    damaged, kinds, extras = damage(archive, rng, chaos.KINDS[seed % len(chaos.KINDS)])
    assert damaged
    pristine = {ns.node.region: ns.store.objects for ns in base.nodes}
    before = state(archive)
    damaged_bytes = {(r, k): stores(archive)[r].objects.get(k) for r, k in damaged}
    history_before = {(r, k): len(stores(archive)[r].history.get(k, [])) for r, k in damaged}

    reports = {au: run_poll(archive, au, now=NOW) for au in AUS}

    found = {
        (bad["node"], f"{ocfl.object_root(au)}/{bad['key']}")
        for au, rep in reports.items()
        for bad in rep.repair["actions"]
    }
    assert found == damaged, f"seed {seed}: missed {damaged - found}, false alarms {found - damaged}"
    for au, rep in reports.items():
        assert not rep.alarm and rep.status in ("ok", "repaired"), (seed, au, rep.message)
        assert all(a["status"] == "repaired" for a in rep.repair["actions"])
        assert all(rep.confirmation.values())
        assert rep.agreement == 12
    after = state(archive)
    for (region, key), was in before.items():
        if (region, key) not in damaged:
            assert after[(region, key)] == was, f"seed {seed}: good copy {region}/{key} was touched"
    by_region = stores(archive)
    for region, key in damaged:
        store = by_region[region]
        assert store.objects[key] == pristine[region][key], f"seed {seed}: {region}/{key} not restored"
        kept = damaged_bytes[(region, key)]
        assert kept is None or kept in store.history[key], f"seed {seed}: damaged bytes of {region}/{key} lost"
        # one repair: the damaged bytes become one noncurrent version (a deleted copy adds none)
        assert len(store.history[key]) == history_before[(region, key)] + (1 if kept is not None else 0)
    for region, stray in extras:
        assert by_region[region].objects[stray] == b"stray"
    repairs = [e for au in AUS for e in archive.catalog.events(au) if e.type == "repair"]
    assert len(repairs) == len(damaged)


def test_the_campaign_covers_every_kind_of_damage(base):
    seen = set()
    for seed in SEEDS:
        _, kinds, _ = damage(clone(base), random.Random(seed), chaos.KINDS[seed % len(chaos.KINDS)])
        seen |= kinds
    assert seen == set(chaos.KINDS)


@pytest.mark.parametrize("kind", CONTENT_KINDS)
def test_all_twelve_copies_damaged_is_unrepairable_and_nothing_is_touched(base, kind):
    archive = clone(base)
    au = AUS[0]
    root = ocfl.object_root(au)
    rng = random.Random(5)
    key = f"{root}/v1/content/p1/data/jbio.2024.2/article.xml"
    for ns in archive.nodes:
        getattr(chaos, kind)(
            ns.store, key, *((b"other",) if kind == "replace" else (2, rng) if kind == "flip_bits" else ())
        )
    before = state(archive)
    report = run_poll(archive, au, now=NOW)
    assert state(archive) == before
    assert report.status == "unrepairable" and report.unrepairable == [key[len(root) + 1 :]]
    assert report.alarm and "ALARM" in report.message
    assert not [e for e in archive.catalog.events(au) if e.type == "repair"]
    # the other files were still judged, and agree everywhere
    assert report.tally["copies"].keys() == {key[len(root) + 1 :]}


def test_every_root_inventory_forged_is_restored_from_the_head_version_inventory(base):
    archive = clone(base)
    au = AUS[0]
    root = ocfl.object_root(au)
    for ns in archive.nodes:
        chaos.tamper_inventory(ns.store, au, random.Random(ns.node.number))
    report = run_poll(archive, au, now=NOW)
    assert report.status == "repaired" and report.agreement == 12, report.message
    sources = {(a["key"], a["source_key"]) for a in report.repair["actions"]}
    assert sources == {("inventory.json", "v2/inventory.json"), ("inventory.json.sha512", "v2/inventory.json.sha512")}
    for ns, orig in zip(archive.nodes, base.nodes):
        assert ns.store.objects[f"{root}/inventory.json"] == orig.store.objects[f"{root}/inventory.json"]
        assert ocfl_store.read_inventory(ns.store, au).head == "v2"


def test_forged_inventories_without_the_catalogs_witness_raise_the_alarm_and_touch_nothing(base):
    archive = clone(base)
    au = AUS[0]
    record = archive.catalog.get_au(au)
    record.inventory_sha512 = {}
    archive.catalog.put_au(record)
    for ns in archive.nodes:
        chaos.tamper_inventory(ns.store, au, random.Random(ns.node.number))
    before = state(archive)
    report = run_poll(archive, au, now=NOW)
    assert report.status == "inconclusive" and report.alarm and "majority" in report.message
    assert state(archive) == before


class GoesOffline(MemoryBlobStore):
    """A node that stops answering after a number of requests (mid-poll)."""

    after: int | None = None

    def _check(self):
        if self.after is not None and self.requests >= self.after:
            self.offline = True
        super()._check()


def test_a_node_going_offline_mid_poll_is_unavailable_not_damaged(base):
    archive = clone(base, store_class=GoesOffline)
    au = AUS[0]
    root = ocfl.object_root(au)
    key = f"{root}/v2/content/p2/data/jbio.2024.1/article.pdf"
    chaos.flip_bits(archive.nodes[0].store, key, 1, random.Random(1))
    chaos.delete(archive.nodes[6].store, key)
    flaky = archive.nodes[9].store
    flaky.after = flaky.requests + 5  # answers the listing and a few reads, then vanishes
    chaos.truncate(flaky, key)  # its own copy is damaged too, but it cannot be judged
    before = state(archive)
    report = run_poll(archive, au, now=NOW)
    assert report.responding == 11 and report.nodes["ap-northeast-1"] == "unavailable"
    assert report.status == "repaired" and not report.alarm
    assert report.nodes["us-east-1"] == "repaired" and report.nodes["eu-west-2"] == "repaired"
    after = state(archive)
    assert {k for k in after if after[k] != before.get(k)} == {("us-east-1", key), ("eu-west-2", key)}


def test_below_quorum_the_poll_is_inconclusive_and_changes_nothing(base):
    archive = clone(base)
    au = AUS[0]
    key = f"{ocfl.object_root(au)}/v1/content/p1/bagit.txt"
    chaos.delete(archive.nodes[0].store, key)
    for ns in archive.nodes[6:]:
        chaos.take_offline(ns.store)
    before = {
        ns.node.region: (dict(ns.store.objects), {k: list(v) for k, v in ns.store.history.items()})
        for ns in archive.nodes
    }
    record = archive.catalog.get_au(au)
    report = run_poll(archive, au, now=NOW)
    assert report.status == "inconclusive" and "quorum" in report.message and report.responding == 6
    assert report.repair == {}
    assert {ns.node.region: (ns.store.objects, ns.store.history) for ns in archive.nodes} == before
    assert archive.catalog.get_au(au) == record  # not marked as polled: the planner keeps it due


class Killable(MemoryBlobStore):
    """Every node shares one countdown: the process dies at the N+1th copy."""

    budget = {"copies": None}

    def copy_from(self, source, key, *, dest_key=None, known=None):
        if self.budget["copies"] is not None:
            if self.budget["copies"] <= 0:
                raise RuntimeError("killed (injected)")
            self.budget["copies"] -= 1
        return super().copy_from(source, key, dest_key=dest_key, known=known)


def test_killed_mid_repair_then_run_again_finishes_without_double_repairs(base):
    archive = clone(base, store_class=Killable)
    rng = random.Random(11)
    damaged, _, _ = damage(archive, rng, "wipe_node")
    au_damaged = {au for au in AUS if any(k.startswith(ocfl.object_root(au) + "/") for _, k in damaged)}
    au = sorted(au_damaged)[0]
    root = ocfl.object_root(au)
    mine = {(r, k) for r, k in damaged if k.startswith(root + "/")}
    assert len(mine) > 3
    history_before = {(r, k): len(stores(archive)[r].history.get(k, [])) for r, k in mine}
    present_before = {(r, k): k in stores(archive)[r].objects for r, k in mine}
    Killable.budget["copies"] = 3
    try:
        with pytest.raises(RuntimeError, match="killed"):
            run_poll(archive, au, now=NOW)
        assert len([e for e in archive.catalog.events(au) if e.type == "repair"]) == 3  # recorded as they happened
        assert archive.catalog.try_lock(f"au:{au}", "someone", 0, 1)  # the lock was released
        archive.catalog.unlock(f"au:{au}", "someone")
        Killable.budget["copies"] = None
        report = run_poll(archive, au, now=NOW)
    finally:
        Killable.budget["copies"] = None
    assert report.status == "repaired" and report.agreement == 12
    assert len(report.repair["actions"]) == len(mine) - 3
    by_region = stores(archive)
    for region, key in mine:
        grew = 1 if present_before[(region, key)] else 0  # a deleted copy leaves no damaged bytes to keep
        assert len(by_region[region].history.get(key, [])) == history_before[(region, key)] + grew, (region, key)
    assert len([e for e in archive.catalog.events(au) if e.type == "repair"]) == len(mine)


def test_two_polls_of_one_au_at_once_repair_once(base):
    archive = clone(base)
    au = AUS[0]
    root = ocfl.object_root(au)
    keys = [f"{root}/{k}" for k in object_keys(archive, au) if "/content/" in k][:4]
    for i, key in enumerate(keys):
        chaos.flip_bits(archive.nodes[i].store, key, 1, random.Random(i))
    reports, errors = [], []

    def poll():
        try:
            reports.append(run_poll(archive, au, now=NOW))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=poll) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(r.status for r in reports) == ["ok", "repaired"]
    assert len([e for e in archive.catalog.events(au) if e.type == "repair"]) == 4
    for i, key in enumerate(keys):
        assert len(archive.nodes[i].store.history[key]) == 2  # original, damaged: one repair each
        assert (
            hashlib.sha256(archive.nodes[i].store.objects[key]).digest()
            == hashlib.sha256(base.nodes[i].store.objects[key]).digest()
        )
