"""Tally a poll: judge every copy of every file against the reference inventory and the other nodes.

A copy *agrees* when its sha512 is the one the reference OCFL inventory gives AND its
nonce hash equals the nonce hash of the other copies with that sha512 (the majority of
them). A node that reports the right sha512 with a different nonce hash either lies or
read different bytes than it says: its copy is damaged. Every copy ends up ok, damaged,
missing or unavailable; files no inventory names are extra (reported, never deleted).

Root hash (auditors recompute it, e.g. from a released copy):
    lines = one "<sha512 hex>  <logical path>\\n" per file of the head version (the format
            `sha512sum` prints), logical paths as UTF-8
    root_hash = sha256 hex of the lines sorted as byte strings and concatenated
i.e.  (cd <head state> && find . -type f -printf '%P\\0' | xargs -0 sha512sum) | LC_ALL=C sort | sha256sum
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

from strongroom.domain.ocfl.inventory import INVENTORY, SIDECAR, Inventory
from strongroom.domain.ocfl.layout import OBJECT_DECLARATION, OBJECT_DECLARATION_BODY
from strongroom.domain.vote import Vote, expected_in_object

OK, DAMAGED, MISSING, UNAVAILABLE = "ok", "damaged", "missing", "unavailable"


def inventory_digest(inventory_bytes: bytes) -> str:
    """The sha512 of a root inventory.json as stored: what the catalog records per version
    (AuRecord.inventory_sha512[version]) for polls to trust over a majority of nodes.
    Ingest: record inventory_digest(plan.inventory.to_json()) when it commits a version."""
    return hashlib.sha512(inventory_bytes).hexdigest()


def root_hash(inventory: Inventory) -> str:
    """sha256 over the sorted lines '<sha512>  <logical path>\\n' of the head state (see module doc)."""
    lines = sorted(f"{digest}  {path}\n".encode() for path, digest in inventory.logical_state().items())
    return hashlib.sha256(b"".join(lines)).hexdigest()


@dataclass
class Reference:
    """Which root inventory the poll judges by, and why."""

    sha512: str | None
    source: str  # "recorded" (the catalog's digest from ingest), "majority", or "none"
    holders: list[str] = field(default_factory=list)  # nodes holding these bytes at key
    note: str = ""
    key: str = INVENTORY  # where the holders keep the bytes, relative to the object root


def choose_reference(votes: Iterable[Vote], recorded_sha512: str | None, recorded_head: str | None = None) -> Reference:
    """The reference root inventory.

    1. The one recorded at ingest, when any responding node still holds it (as its root inventory,
       else as the head's vN/inventory.json, which has the same bytes), unless a strict
       majority holds a *successor*: a later head whose {recorded_head}/inventory.json is
       the recorded bytes (a version the catalog has not caught up with; ingest holds the AU
       lock while it writes, and so does the poll, so no half-written version is seen here).
    2. Else the one a strict majority of responding nodes hold (parsing as this object's, and
       matching their {head}/inventory.json as a committed version does; a forger who rewrote
       only the root inventory does not pass).
    A tampered or rolled-back inventory on a minority, or on a majority that is not a true
    successor, is thus judged damaged.
    """
    votes = [v for v in votes if not v.unavailable]
    holders: dict[str, list[str]] = {}
    heads: dict[str, str] = {}
    for v in votes:
        if v.inventory is not None and v.inventory.head is not None:
            holders.setdefault(v.inventory.sha512, []).append(v.node)
            heads[v.inventory.sha512] = v.inventory.head
    ranked = sorted(holders.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    majority = ranked[0] if ranked and 2 * len(ranked[0][1]) > len(votes) else None
    if majority and not _committed(majority[0], heads[majority[0]], [v for v in votes if v.node in majority[1]]):
        majority = None  # a committed root inventory is byte-identical to its head's vN/inventory.json
    if recorded_sha512 and majority and majority[0] != recorded_sha512 and recorded_head:
        successor_nodes = [v for v in votes if v.node in majority[1]]
        key = f"{recorded_head}/{INVENTORY}"
        if _later(heads[majority[0]], recorded_head) and all(
            key in v.files and v.files[key].sha512 == recorded_sha512 for v in successor_nodes
        ):
            return Reference(
                majority[0],
                "majority",
                sorted(majority[1]),
                f"a majority holds {heads[majority[0]]}, a successor of the recorded {recorded_head}; "
                "record its digest in the catalog",
            )
    if recorded_sha512:
        if recorded_sha512 in holders:
            note = (
                ""
                if majority is None or majority[0] == recorded_sha512
                else (
                    f"only {len(holders[recorded_sha512])} node(s) hold the inventory recorded at ingest; "
                    "the others are judged by it"
                )
            )
            return Reference(recorded_sha512, "recorded", sorted(holders[recorded_sha512]), note)
        if recorded_head:  # every root inventory damaged: the head's version inventory has the same bytes
            key = f"{recorded_head}/{INVENTORY}"
            keepers = sorted(v.node for v in votes if key in v.files and v.files[key].sha512 == recorded_sha512)
            if keepers:
                return Reference(
                    recorded_sha512,
                    "recorded",
                    keepers,
                    f"no node's root inventory is the recorded one; read from {key}",
                    key,
                )
        recorded_note = (
            f"no responding node holds the inventory recorded at ingest ({recorded_sha512[:16]}...); "
            "the catalog may be stale: check the AU's last ingest. "
        )
    else:
        recorded_note = ""
    if majority:
        return Reference(majority[0], "majority", sorted(majority[1]), recorded_note.strip())
    return Reference(
        None,
        "none",
        [],
        recorded_note + "no root inventory is held by a majority of the responding "
        "nodes; nothing can be judged. Find the right inventory (receipts, PREMIS logs) and record "
        "its sha512 in the catalog (AuRecord.inventory_sha512), then poll again",
    )


def _committed(sha512: str, head: str, holders: list[Vote]) -> bool:
    """Whether at least half the holders of this root inventory hold it as {head}/inventory.json too."""
    key = f"{head}/{INVENTORY}"
    same = sum(1 for v in holders if key in v.files and v.files[key].sha512 == sha512)
    return 2 * same >= len(holders)


def _later(head: str, than: str) -> bool:
    try:
        return int(head[1:]) > int(than[1:])
    except ValueError:
        return False


@dataclass
class Copy:
    """One node's copy of one file, judged."""

    status: str  # ok | damaged | missing | unavailable
    sha512: str | None = None
    nonce_hash: str | None = None
    size: int | None = None
    version_id: str | None = None  # the version the vote read: evidence if it must be replaced
    why: str = ""


@dataclass
class NodeSummary:
    status: str = OK  # ok (every file agrees) | damaged | unavailable
    ok: int = 0
    damaged: int = 0
    missing: int = 0
    extra: int = 0
    inventory: str = ""  # the status of its root inventory.json
    head: str | None = None  # the head its root inventory claims
    errors: list[str] = field(default_factory=list)


@dataclass
class Tally:
    """The judgement of one poll. JSON-serialisable via as_dict()."""

    object_id: str
    nonce: str
    quorum: int
    responding: int
    inconclusive: bool
    reason: str
    reference: dict
    expected: dict[str, str] = field(default_factory=dict)  # key (relative to the object root) -> sha512
    copies: dict[str, dict[str, Copy]] = field(default_factory=dict)  # key -> node -> judged copy
    extra: dict[str, list[str]] = field(default_factory=dict)  # node -> keys no inventory names
    nodes: dict[str, NodeSummary] = field(default_factory=dict)
    agreement: int = 0  # nodes on which every file agrees
    root_hash: str | None = None
    totals: dict = field(default_factory=dict)  # files (logical), content_files, bytes (head state)
    unrepairable: list[str] = field(default_factory=list)  # keys with no agreeing copy anywhere
    unjudged: list[str] = field(default_factory=list)  # keys no reference digest could be found for

    def bad_copies(self) -> list[tuple[str, str, Copy]]:
        """(key, node, copy) for every damaged or missing copy on a responding node."""
        return [
            (key, node, c)
            for key, per in sorted(self.copies.items())
            for node, c in sorted(per.items())
            if c.status in (DAMAGED, MISSING)
        ]

    def agreeing(self, key: str) -> list[str]:
        return sorted(n for n, c in self.copies.get(key, {}).items() if c.status == OK)

    def sources(self, key: str) -> list[tuple[str, str]]:
        """(node, key) of every agreeing copy of the same bytes: the key itself on other nodes, and any
        other key expected to hold the same sha512 (the root inventory is byte-identical to the head's
        vN/inventory.json, so each can restore the other)."""
        want = self.expected.get(key)
        same = [key] + sorted(k for k, d in self.expected.items() if d == want and k != key)
        return [(n, k) for k in same for n in self.agreeing(k)]

    def as_dict(self, full: bool = True) -> dict:
        """Everything (full), or without the ok copies (for logs: what a reader needs to act on)."""
        d = asdict(self)
        if not full:
            d["copies"] = {k: {n: c for n, c in per.items() if c["status"] != OK} for k, per in d["copies"].items()}
            d["copies"] = {k: v for k, v in d["copies"].items() if v}
            d.pop("expected")
        return d

    def to_json(self) -> bytes:
        return json.dumps(self.as_dict(), sort_keys=True).encode()


def expected_digests(
    reference: Inventory, reference_sha512: str, votes: list[Vote], recorded_versions: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """key -> the sha512 it must have: content from the manifest, inventories and sidecars from the
    reference's digest; an older vN/inventory.json (which the reference cannot vouch for) from the
    digest the catalog recorded for vN, else by strict majority of responding nodes.
    Returns (expected, unjudged keys)."""
    expected: dict[str, str] = {}
    for digest, paths in reference.manifest.items():
        for cp in paths:
            expected[cp] = digest
    side_sha = hashlib.sha512(sidecar_bytes(reference_sha512)).hexdigest()
    for prefix in ("", f"{reference.head}/"):
        expected[prefix + INVENTORY] = reference_sha512
        expected[prefix + SIDECAR] = side_sha
    expected[OBJECT_DECLARATION] = hashlib.sha512(OBJECT_DECLARATION_BODY).hexdigest()
    responding = [v for v in votes if not v.unavailable]
    unjudged: list[str] = []
    for version in reference.versions:
        if version == reference.head:
            continue
        key = f"{version}/{INVENTORY}"
        if recorded_versions and recorded_versions.get(version):
            expected[key] = recorded_versions[version]
            expected[f"{version}/{SIDECAR}"] = hashlib.sha512(sidecar_bytes(recorded_versions[version])).hexdigest()
            continue
        seen = Counter(v.files[key].sha512 for v in responding if key in v.files)
        top = seen.most_common(1)
        if top and 2 * top[0][1] > len(responding):
            expected[key] = top[0][0]
            expected[f"{version}/{SIDECAR}"] = hashlib.sha512(sidecar_bytes(top[0][0])).hexdigest()
        else:
            unjudged += [key, f"{version}/{SIDECAR}"]
    return expected, unjudged


def sidecar_bytes(inventory_sha512: str) -> bytes:
    """The exact sidecar OCFL writers produce for an inventory with this digest."""
    return f"{inventory_sha512} {INVENTORY}\n".encode("ascii")  # as ocfl.sidecar() writes it


def tally(
    object_id: str,
    votes: list[Vote],
    reference: Inventory | None,
    recorded_inventory_sha512: str | None,
    quorum: int,
    *,
    reference_sha512: str | None = None,
    only: Iterable[str] | None = None,
    recorded_versions: Mapping[str, str] | None = None,
) -> Tally:
    """Judge every copy. reference: the reference root inventory (see choose_reference), None when
    none could be chosen (the tally is then inconclusive). reference_sha512 defaults to the digest
    of reference.to_json(). only: judge just these keys (a confirmation after repairs).
    recorded_versions: version -> root inventory sha512 recorded at ingest (AuRecord.inventory_sha512),
    which vouches for the older vN/inventory.json files."""
    nonce = next((v.nonce for v in votes if v.nonce), "")
    stale = [v.node for v in votes if not v.unavailable and v.nonce != nonce]
    answered = [v for v in votes if not v.unavailable and v.nonce == nonce and v.object_id == object_id]
    counted = {v.node for v in answered}
    t = Tally(
        object_id=object_id,
        nonce=nonce,
        quorum=quorum,
        responding=len(answered),
        inconclusive=False,
        reason="",
        reference={},
    )
    for v in votes:
        s = NodeSummary(errors=list(v.errors))
        if v.node not in counted:
            s.status = UNAVAILABLE
            if v.node in stale:
                s.errors.append("its vote is for another nonce (a replay or a stale answer); it was not counted")
        s.head = v.inventory.head if v.inventory else None
        t.nodes[v.node] = s
    if reference is None:
        t.inconclusive, t.reason = (
            True,
            "no reference inventory; "
            + ("" if recorded_inventory_sha512 is None else f"recorded {recorded_inventory_sha512[:16]}..."),
        )
        return t
    ref_sha = reference_sha512 or inventory_digest(reference.to_json())
    source = "recorded" if recorded_inventory_sha512 == ref_sha else "majority"
    if recorded_inventory_sha512 and recorded_inventory_sha512 != ref_sha:
        source = "majority (differs from the recorded digest)"
    t.reference = {"sha512": ref_sha, "head": reference.head, "source": source}
    expected, unjudged = expected_digests(reference, ref_sha, answered, recorded_versions)
    if only is not None:
        keep = set(only)
        expected = {k: d for k, d in expected.items() if k in keep}
        unjudged = [k for k in unjudged if k in keep]
    t.expected, t.unjudged = expected, unjudged

    by_node = {v.node: v for v in answered}
    for key, want in sorted(expected.items()):
        per: dict[str, Copy] = {}
        holders = [n for n, v in by_node.items() if key in v.files and v.files[key].sha512 == want]
        counts = Counter(by_node[n].files[key].nonce_hash for n in holders).most_common(2)
        agreed = counts[0][0] if counts and (len(counts) == 1 or counts[0][1] > counts[1][1]) else None
        for v in votes:
            fh = v.files.get(key) if v.node in by_node else None
            if v.node not in by_node:
                per[v.node] = Copy(UNAVAILABLE)
            elif fh is None:
                per[v.node] = Copy(MISSING, why="not on the node")
            elif fh.sha512 != want:
                per[v.node] = Copy(
                    DAMAGED,
                    fh.sha512,
                    fh.nonce_hash,
                    fh.size,
                    fh.version_id,
                    f"sha512 {fh.sha512[:16]}... is not the expected {want[:16]}...",
                )
            elif agreed is None or fh.nonce_hash != agreed:
                why = (
                    "the copies with the right sha512 disagree on the nonce hash, and no majority decides"
                    if agreed is None
                    else "right sha512 but a different nonce hash: the node lies or is broken"
                )
                per[v.node] = Copy(DAMAGED, fh.sha512, fh.nonce_hash, fh.size, fh.version_id, why)
            else:
                per[v.node] = Copy(OK, fh.sha512, fh.nonce_hash, fh.size, fh.version_id)
        t.copies[key] = per
    for key, per in t.copies.items():
        if any(c.status in (DAMAGED, MISSING) for c in per.values()) and not t.sources(key):
            t.unrepairable.append(key)

    for node, v in by_node.items():
        s = t.nodes[node]
        for key in expected:
            status = t.copies[key][node].status
            if status == OK:
                s.ok += 1
            elif status == DAMAGED:
                s.damaged += 1
            elif status == MISSING:
                s.missing += 1
        if only is None:
            extra = sorted(k for k in v.files if k not in expected and not expected_in_object(k))
            if extra:
                t.extra[node] = extra
            s.extra = len(extra)
        s.inventory = t.copies[INVENTORY][node].status if INVENTORY in t.copies else ""
        s.status = OK if s.damaged == 0 and s.missing == 0 else DAMAGED
    t.agreement = sum(1 for s in t.nodes.values() if s.status == OK)

    t.root_hash = root_hash(reference)
    state = reference.logical_state()
    size_of = {key: next((c.size for c in per.values() if c.status == OK), None) for key, per in t.copies.items()}
    sizes = [size_of.get(reference.content_path(d)) for d in state.values()]
    t.totals = {
        "files": len(state),
        "content_files": sum(len(p) for p in reference.manifest.values()),
        "bytes": sum(s for s in sizes if s is not None),
        "bytes_complete": all(s is not None for s in sizes),
    }
    if t.responding < quorum:
        t.inconclusive = True
        t.reason = (
            f"only {t.responding} of {len(votes)} nodes answered, fewer than the quorum of {quorum}; "
            "nothing was repaired. Poll again when more nodes are reachable"
        )
    return t
