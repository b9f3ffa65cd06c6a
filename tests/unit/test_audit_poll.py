"""Votes (one read per file, nonce hashes, what a node reports) and the tally's judgement of each damage."""

from __future__ import annotations

import hashlib
import io
import json
import random
import threading
import time
from collections import Counter

import pytest

from strongroom.domain import ocfl
from strongroom.domain.ocfl.inventory import sidecar
from strongroom.domain.tally import (
    DAMAGED,
    MISSING,
    OK,
    UNAVAILABLE,
    choose_reference,
    inventory_digest,
    root_hash,
    sidecar_bytes,
    tally,
)
from strongroom.domain.vote import Vote, new_nonce
from strongroom.flows import ocfl_store
from strongroom.flows.poll import vote
from strongroom.local.demo import chaos
from tests.audit_support import (
    AU_ONE_VERSION,
    AU_TWO_VERSIONS,
    build_archive,
    clone,
    object_keys,
    record_inventory_digests,
)
from tests.fakes import MemoryBlobStore

AU = AU_TWO_VERSIONS
ROOT = ocfl.object_root(AU)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    archive = build_archive(tmp_path_factory.mktemp("audit-poll"))
    record_inventory_digests(archive)
    return archive


@pytest.fixture
def archive(base):
    return clone(base)


class CountingStore:
    """Wraps a store: counts opens per key and checks every read is bounded (never read() whole)."""

    def __init__(self, store: MemoryBlobStore):
        self.store, self.name = store, store.name
        self.opens: Counter = Counter()
        self.reads: list[int] = []

    def __getattr__(self, name):
        return getattr(self.store, name)

    def open(self, key, *, version_id=None):
        self.opens[key] += 1
        stream = self.store.open(key, version_id=version_id)
        outer = self

        class Bounded(io.RawIOBase):
            def readable(self):
                return True

            def read(self, n=-1):
                assert n is not None and n > 0, "a vote must read in chunks, never the whole object"
                outer.reads.append(n)
                return stream.read(n)

        return Bounded()


def votes_of(archive, nonce=None, au=AU):
    nonce = nonce or new_nonce()
    return [vote(ns.store, au, nonce, ns.node.region) for ns in archive.nodes]


def judge(archive, au=AU, quorum=7, votes=None, recorded=True):
    votes = votes or votes_of(archive, au=au)
    record = archive.catalog.get_au(au)
    rec = record.inventory_sha512.get(record.head) if recorded else None
    ref = choose_reference(votes, rec, record.head)
    store = next(ns.store for ns in archive.nodes if ns.node.region == ref.holders[0]) if ref.sha512 else None
    inv = ocfl.Inventory.from_json(store.objects[f"{ocfl.object_root(au)}/{ref.key}"]) if store else None
    return tally(
        au,
        votes,
        inv,
        rec,
        quorum,
        reference_sha512=ref.sha512,
        recorded_versions=record.inventory_sha512 if recorded else None,
    )


# --- votes ------------------------------------------------------------------------------------------------


def test_a_vote_reads_every_file_once_in_chunks_and_counts_its_cost(archive):
    store = archive.nodes[0].store
    counting = CountingStore(store)
    v = vote(counting, AU, new_nonce(), "us-east-1")
    keys = object_keys(archive, AU)
    assert sorted(v.files) == keys
    assert all(counting.opens[f"{ROOT}/{k}"] == 1 for k in keys), counting.opens
    assert sum(counting.opens.values()) == len(keys)  # logs/ are not read
    assert v.bytes_read == sum(len(store.objects[f"{ROOT}/{k}"]) for k in keys)
    assert (
        v.requests == len(keys) + 1 and not v.missing
    )  # one listing (with versions), one read per file and not v.extra and not v.errors
    assert v.inventory.head == "v2" and v.inventory.consistent


def test_the_nonce_hash_is_sha256_of_nonce_then_bytes_and_changes_with_the_nonce(archive):
    store = archive.nodes[0].store
    n1, n2 = new_nonce(), new_nonce()
    assert len(n1) == 32 and n1 != n2
    v1, v2 = vote(store, AU, n1, "a"), vote(store, AU, n2, "a")
    for key, fh in v1.files.items():
        data = store.objects[f"{ROOT}/{key}"]
        assert fh.nonce_hash == hashlib.sha256(n1 + data).hexdigest()
        assert fh.sha512 == hashlib.sha512(data).hexdigest() == v2.files[key].sha512
        assert fh.nonce_hash != v2.files[key].nonce_hash
        assert fh.size == len(data)
    with pytest.raises(ValueError, match="128 bits"):
        vote(store, AU, b"short", "a")


def test_a_vote_is_json_and_crosses_regions_intact(archive):
    v = vote(archive.nodes[0].store, AU, new_nonce(), "us-east-1")
    again = Vote.from_dict(json.loads(v.to_json()))
    assert again == v


def test_an_unreachable_node_votes_unavailable_not_damaged(archive):
    store = archive.nodes[2].store
    chaos.take_offline(store)
    v = vote(store, AU, new_nonce(), "us-east-2")
    assert v.unavailable and not v.files and "unavailable" in v.errors[0]


def test_a_vote_reports_missing_extra_and_what_its_inventory_claims(archive):
    store = archive.nodes[1].store
    chaos.delete(store, f"{ROOT}/v1/content/p1/bagit.txt")
    store.put(f"{ROOT}/v1/content/p1/stray.bin", b"junk")
    chaos.tamper_inventory(store, AU, random.Random(1))
    v = vote(store, AU, new_nonce(), "us-west-2")
    good = vote(archive.nodes[0].store, AU, new_nonce(), "us-east-1")
    assert "v1/content/p1/stray.bin" in v.extra
    # the tampered inventory looks self-consistent: its own sidecar agrees, only the digest differs
    assert v.inventory.consistent and v.inventory.sha512 != good.inventory.sha512
    assert v.inventory.head == "v2"
    assert "v1/content/p1/bagit.txt" in v.missing


def test_a_restricted_vote_reads_only_the_keys_asked(archive):
    counting = CountingStore(archive.nodes[0].store)
    v = vote(counting, AU, new_nonce(), "x", keys=["inventory.json", "v1/content/p1/bagit.txt", "nope"])
    assert sorted(v.files) == ["inventory.json", "v1/content/p1/bagit.txt"] and v.missing == ["nope"]
    assert sum(counting.opens.values()) == 2


# --- tally ------------------------------------------------------------------------------------------------


def test_all_good_copies_agree_and_the_root_hash_is_recomputable(archive):
    t = judge(archive)
    assert not t.inconclusive and t.agreement == 12 and not t.bad_copies() and not t.extra
    assert all(s.status == OK for s in t.nodes.values())
    # an auditor's recomputation: sha512sum-style lines of the head state, sorted, sha256
    inv = ocfl_store.read_inventory(archive.nodes[5].store, AU)
    lines = []
    for path, digest in inv.logical_state().items():
        data = archive.nodes[5].store.objects[f"{ROOT}/{inv.content_path(digest)}"]
        lines.append(f"{hashlib.sha512(data).hexdigest()}  {path}\n".encode())
    assert t.root_hash == hashlib.sha256(b"".join(sorted(lines))).hexdigest() == root_hash(inv)
    assert t.totals["files"] == len(inv.logical_state()) and t.totals["bytes_complete"]
    assert t.totals["bytes"] == archive.catalog.get_au(AU).bytes
    json.dumps(t.as_dict())  # serialisable
    assert sidecar_bytes(inventory_digest(b"x")) == sidecar(b"x")[1]


@pytest.mark.parametrize("kind", ["flip_bits", "truncate", "delete", "replace"])
def test_each_kind_of_content_damage_is_classified(archive, kind):
    key = "v2/content/p2/data/jbio.2024.1/article.pdf"
    store = archive.nodes[3].store
    act = {
        "flip_bits": lambda: chaos.flip_bits(store, f"{ROOT}/{key}", 1, random.Random(0)),
        "truncate": lambda: chaos.truncate(store, f"{ROOT}/{key}"),
        "delete": lambda: chaos.delete(store, f"{ROOT}/{key}"),
        "replace": lambda: chaos.replace(store, f"{ROOT}/{key}", b"%PDF-1.4 not the article"),
    }[kind]
    damage = act()
    assert damage.keys == [f"{ROOT}/{key}"]
    t = judge(archive)
    bad = [(k, n, c.status) for k, n, c in t.bad_copies()]
    assert bad == [(key, "us-west-1", MISSING if kind == "delete" else DAMAGED)]
    assert t.nodes["us-west-1"].status == DAMAGED and t.agreement == 11
    assert t.agreeing(key) == sorted(r for r in t.nodes if r != "us-west-1")


def test_a_rolled_back_root_inventory_is_damaged(archive):
    store = archive.nodes[4].store
    chaos.rollback(store, f"{ROOT}/inventory.json")
    chaos.rollback(store, f"{ROOT}/inventory.json.sha512")
    t = judge(archive)
    assert {(k, n) for k, n, _ in t.bad_copies()} == {
        ("inventory.json", "mx-central-1"),
        ("inventory.json.sha512", "mx-central-1"),
    }
    assert t.nodes["mx-central-1"].head == "v1" and t.nodes["mx-central-1"].inventory == DAMAGED
    # v2 content is still judged on that node (the vote did not trust its own rolled-back inventory)
    assert t.copies["v2/content/p2/bag-info.txt"]["mx-central-1"].status == OK


def test_a_tampered_inventory_with_a_matching_sidecar_is_damaged(archive):
    chaos.tamper_inventory(archive.nodes[6].store, AU, random.Random(4))
    t = judge(archive)
    assert {(k, n) for k, n, _ in t.bad_copies()} == {
        ("inventory.json", "eu-west-2"),
        ("inventory.json.sha512", "eu-west-2"),
    }


def test_even_a_majority_of_tampered_inventories_loses_to_the_recorded_digest(archive):
    for i in range(8):  # the same forged inventory on 8 nodes
        chaos.tamper_inventory(archive.nodes[i].store, AU, random.Random(4))
    t = judge(archive)
    assert t.reference["source"] == "recorded"
    assert {n for k, n, _ in t.bad_copies() if k == "inventory.json"} == {ns.node.region for ns in archive.nodes[:8]}
    # without the catalog's witness the forged majority is still refused: its v2/inventory.json differs
    blind = judge(archive, recorded=False)
    assert blind.inconclusive and blind.reference == {}


def test_a_forger_who_also_rewrites_the_version_inventory_needs_the_catalogs_witness(archive):
    """The limit of what the nodes alone can tell: record inventory digests at ingest."""
    for i in range(8):
        store = archive.nodes[i].store
        chaos.tamper_inventory(store, AU, random.Random(4))
        for name in ("inventory.json", "inventory.json.sha512"):
            chaos.replace(store, f"{ROOT}/v2/{name}", store.objects[f"{ROOT}/{name}"])
    assert judge(archive).reference["source"] == "recorded"
    blind = judge(archive, recorded=False)
    assert blind.reference["source"] == "majority" and blind.reference["sha512"] != judge(archive).reference["sha512"]
    # ... and even then the forged digest matches no bytes anywhere: the poll cannot repair, it alarms
    assert len(blind.unrepairable) == 1 and blind.agreement == 0


def test_a_wiped_node_is_missing_everything(archive):
    damage = chaos.wipe_node(archive.nodes[7].store, AU)
    assert len(damage.keys) > len(object_keys(archive, AU))  # logs too
    t = judge(archive)
    bad = [(k, c.status) for k, n, c in t.bad_copies()]
    assert {k for k, _ in bad} == set(object_keys(archive, AU)) and {s for _, s in bad} == {MISSING}
    assert t.nodes["eu-central-1"].missing == len(object_keys(archive, AU))


def test_a_node_that_lies_about_its_nonce_hash_is_damaged(archive):
    votes = votes_of(archive)
    liar = votes[8]
    key = "v1/content/p1/data/jbio.2024.2/fig1.png"
    liar.files[key].nonce_hash = hashlib.sha256(b"stale answer").hexdigest()  # right sha512, wrong proof
    t = judge(archive, votes=votes)
    assert [(k, n) for k, n, _ in t.bad_copies()] == [(key, liar.node)]
    assert "lies" in t.copies[key][liar.node].why


def test_a_replayed_vote_for_another_nonce_is_not_counted(archive):
    votes = votes_of(archive)
    votes[9] = vote(archive.nodes[9].store, AU, new_nonce(), archive.nodes[9].node.region)
    t = judge(archive, votes=votes)
    assert t.nodes["ap-northeast-1"].status == UNAVAILABLE and t.responding == 11


def test_extra_files_are_reported_not_judged_damaged(archive):
    archive.nodes[10].store.put(f"{ROOT}/v2/content/p2/left-over.tmp", b"x")
    archive.nodes[10].store.put(f"{ROOT}/v3/content/half-written.pdf", b"y")
    t = judge(archive)
    assert t.extra == {"ap-east-1": ["v2/content/p2/left-over.tmp", "v3/content/half-written.pdf"]}
    assert t.nodes["ap-east-1"].status == OK and t.nodes["ap-east-1"].extra == 2


def test_unavailable_nodes_and_the_quorum(archive):
    for ns in archive.nodes[:5]:
        chaos.take_offline(ns.store)
    t = judge(archive)
    assert not t.inconclusive and t.responding == 7
    assert all(t.nodes[ns.node.region].status == UNAVAILABLE for ns in archive.nodes[:5])
    assert all(
        c.status == UNAVAILABLE for c in (t.copies["inventory.json"][ns.node.region] for ns in archive.nodes[:5])
    )
    chaos.take_offline(archive.nodes[5].store)
    t = judge(archive)
    assert t.inconclusive and "quorum" in t.reason and t.responding == 6


def test_all_twelve_copies_damaged_is_unrepairable(archive):
    key = "v1/content/p1/data/jbio.2024.1/article.xml"
    for i, ns in enumerate(archive.nodes):
        chaos.flip_bits(ns.store, f"{ROOT}/{key}", 2, random.Random(i))
    t = judge(archive)
    assert t.unrepairable == [key] and t.agreeing(key) == []
    assert t.agreement == 0


def test_the_reference_choice():
    def v(node, sha, head="v2", files=None):
        from strongroom.domain.vote import FileHash, InventoryVote

        committed = {f"{head}/inventory.json": FileHash("n", sha, 1)}
        return Vote(
            node=node,
            object_id="o",
            nonce="00",
            inventory=InventoryVote(sha, "n", head),
            files=committed if files is None else files,
        )

    votes = [v(f"n{i}", "A") for i in range(7)] + [v(f"n{i}", "B") for i in range(7, 12)]
    assert choose_reference(votes, None).sha512 == "A"
    assert choose_reference(votes, "B").sha512 == "B"  # the recorded digest wins while anyone holds it
    assert choose_reference(votes, "C").sha512 == "A"  # stale catalog: majority, with a note
    assert "stale" in choose_reference(votes, "C").note
    split = [v(f"n{i}", "A") for i in range(6)] + [v(f"n{i}", "B") for i in range(6, 12)]
    assert choose_reference(split, None).sha512 is None
    # a majority at v3 whose v2/inventory.json is the recorded v2 inventory: a successor, it wins
    from strongroom.domain.vote import FileHash

    succ = {"v2/inventory.json": FileHash("n", "B", 1), "v3/inventory.json": FileHash("n", "C", 1)}
    votes = [v(f"n{i}", "C", "v3", succ) for i in range(7)] + [v(f"n{i}", "B") for i in range(7, 12)]
    assert choose_reference(votes, "B", "v2").sha512 == "C"
    forged = [v(f"n{i}", "C", "v3") for i in range(7)] + [v(f"n{i}", "B") for i in range(7, 12)]
    assert choose_reference(forged, "B", "v2").sha512 == "B"
    # a majority whose own head version inventory differs was not committed that way: refused
    uncommitted = [v(f"n{i}", "A", files={}) for i in range(7)] + [v(f"n{i}", "B") for i in range(7, 12)]
    assert choose_reference(uncommitted, None).sha512 is None
    # every root inventory damaged: the recorded bytes are still the head's version inventory
    lost = [v(f"n{i}", f"X{i}", files={"v2/inventory.json": FileHash("n", "B", 1)}) for i in range(12)]
    ref = choose_reference(lost, "B", "v2")
    assert ref.sha512 == "B" and ref.key == "v2/inventory.json" and len(ref.holders) == 12


def test_other_aus_on_the_same_nodes_are_judged_separately(archive):
    chaos.wipe_node(archive.nodes[0].store, AU)
    t = judge(archive, au=AU_ONE_VERSION)
    assert t.agreement == 12


def test_in_order_runs_calls_at_once_keeps_order_and_bounds_what_waits():
    from strongroom.flows.poll import in_order

    together = threading.Barrier(4, timeout=30)  # breaks unless four calls are in flight together
    started: list[int] = []

    def slow_square(i):
        started.append(i)
        if i < 4:
            together.wait()
        return i * i

    def items():
        for i in range(40):
            # never more than in_flight (4) started and not yet taken, plus the one being submitted
            assert len(started) <= len(taken) + 5, (len(started), len(taken))
            yield i

    taken: list[int] = []
    for r in in_order(slow_square, items(), in_flight=4):
        taken.append(r)
    assert taken == [i * i for i in range(40)]


def test_a_vote_reads_several_files_at_once(archive):
    store = archive.nodes[0].store
    in_flight, most = [0], [0]
    lock = threading.Lock()

    class Slow:
        name = store.name

        def __getattr__(self, name):
            return getattr(store, name)

        def open(self, key, **kw):
            with lock:
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])
            time.sleep(0.02)
            with lock:
                in_flight[0] -= 1
            return store.open(key, **kw)

    v = vote(Slow(), AU, new_nonce(), "us-east-1")
    assert sorted(v.files) == object_keys(archive, AU) and not v.missing
    assert most[0] > 1
