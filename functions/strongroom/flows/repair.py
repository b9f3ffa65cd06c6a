"""Repair after a tally: restore each damaged or missing copy from the nearest agreeing node.

Rules (architecture, principle 3): copy only from copies that agree with the inventory and
with each other; never write over a copy that was judged ok; keep the damaged bytes (the
node buckets are versioned: the overwritten version stays, noncurrent, and its version id
is recorded as evidence); never delete extra files, only report them; when no copy agrees,
touch nothing and raise the alarm. A repaired copy counts only after its bytes are read
back and hashed again: a store's checksum header proves nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field

from strongroom.domain.errors import StrongroomError
from strongroom.domain.ocfl.layout import object_root
from strongroom.domain.ports import BlobStore, NotFound, Unavailable
from strongroom.domain.tally import DAMAGED, MISSING, OK, Copy, Tally
from strongroom.domain.vote import new_nonce
from strongroom.flows.ocfl_store import OcflWriter, StorageRootConflict
from strongroom.flows.poll import hash_file
from strongroom.flows.replicate import commit_order

EARTH_RADIUS_KM = 6371.0
UNKNOWN_DISTANCE_KM = math.pi * EARTH_RADIUS_KM  # as far as two places on Earth can be


class RefusedOverwrite(StrongroomError, RuntimeError):
    """Repair was asked to write over a copy the tally judged ok: a bug, never done."""


def great_circle_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine distance between two (lat, lon) points in degrees."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def node_distances(nodes: Iterable) -> Callable[[str, str], float]:
    """distance(from_region, to_region) in km from the nodes' lat/lon (config.Node); unknown places
    count as the far side of the Earth, so they are tried last but still tried."""
    where = {
        n.region: (n.lat, n.lon)
        for n in nodes
        if getattr(n, "lat", None) is not None and getattr(n, "lon", None) is not None
    }

    def distance(source: str, target: str) -> float:
        if source == target:
            return 0.0
        if source in where and target in where:
            return great_circle_km(where[source], where[target])
        return UNKNOWN_DISTANCE_KM

    return distance


@dataclass
class RepairAction:
    """What was done (or not) about one bad copy."""

    key: str  # relative to the object root
    node: str
    was: str  # damaged | missing
    status: str  # repaired | unrepairable | deferred | skipped | failed
    source: str | None = None  # the node copied from
    source_key: str | None = None  # relative to the object root; another key only when it holds the same bytes
    evidence_version_id: str | None = None  # the damaged bytes, kept as a noncurrent version
    version_id: str | None = None  # the repaired copy's version
    sha512: str | None = None  # recomputed by reading the repaired copy back
    detail: str = ""


@dataclass
class RepairReport:
    """Every action of one repair. JSON-serialisable via as_dict()."""

    object_id: str
    actions: list[RepairAction] = field(default_factory=list)
    unrepairable: list[str] = field(default_factory=list)  # keys no node holds a good copy of
    extra: dict[str, list[str]] = field(default_factory=dict)  # node -> keys reported, never deleted
    alarm: bool = False
    skipped: str = ""  # why nothing was attempted (an inconclusive tally)

    @property
    def repaired(self) -> list[RepairAction]:
        return [a for a in self.actions if a.status == "repaired"]

    def as_dict(self) -> dict:
        d = asdict(self)
        d["repaired"] = len(self.repaired)
        return d

    def to_json(self) -> bytes:
        return json.dumps(self.as_dict(), sort_keys=True).encode()


def repair(
    object_id: str,
    tally: Tally,
    stores: Mapping[str, BlobStore],
    distances: Callable[[str, str], float],
    *,
    on_repaired: Callable[[RepairAction], None] | None = None,
) -> RepairReport:
    """Restore every damaged or missing copy in tally; content first, the root inventory last.

    on_repaired(action) is called after each verified repair (audit records the PREMIS event
    at once, so a run killed midway loses no evidence). Safe to re-run: a copy that changed
    since the vote is skipped (poll again), never overwritten blindly.
    """
    report = RepairReport(object_id=object_id, extra={n: list(k) for n, k in tally.extra.items()})
    if tally.inconclusive:
        report.skipped = f"inconclusive tally: {tally.reason}"
        return report
    root = object_root(object_id)
    bad = tally.bad_copies()
    order = {k: i for i, k in enumerate(commit_order(sorted({f"{root}/{key}" for key, _, _ in bad})))}
    bad.sort(key=lambda item: (order[f"{root}/{item[0]}"], item[1]))

    report.unrepairable = sorted(tally.unrepairable)
    report.alarm = bool(report.unrepairable)
    roots_checked: dict[str, str | None] = {}
    for key, node, copy in bad:
        if key in tally.unrepairable:
            report.actions.append(
                RepairAction(
                    key,
                    node,
                    copy.status,
                    "unrepairable",
                    detail=(
                        "no node holds a copy that agrees with the inventory and the other nodes; nothing was written. "
                        "Find the bytes elsewhere (publisher, release copies), check them against the inventory's sha512, "
                        "and put them back by hand"
                    ),
                )
            )
            continue
        target = stores[node]
        if node not in roots_checked:
            roots_checked[node] = _ensure_storage_root(target)
        root_problem = roots_checked[node]
        if root_problem is not None:
            report.actions.append(RepairAction(key, node, copy.status, "deferred", detail=root_problem))
            report.alarm = report.alarm or "conflict" in root_problem
            continue
        action = _restore(root, key, node, copy, tally, stores, distances)
        report.actions.append(action)
        if action.status == "failed":
            report.alarm = True
        if action.status == "repaired" and on_repaired is not None:
            on_repaired(action)
    return report


def _ensure_storage_root(store: BlobStore) -> str | None:
    """A wiped node needs its storage root files back before objects make sense; None when fine."""
    try:
        OcflWriter(store).ensure_storage_root()
    except Unavailable as e:
        return f"node unreachable ({e}); the next poll repairs it"
    except StorageRootConflict as e:
        return f"storage root conflict: {e}"
    return None


def _restore(
    root: str,
    key: str,
    node: str,
    copy: Copy,
    tally: Tally,
    stores: Mapping[str, BlobStore],
    distances: Callable[[str, str], float],
) -> RepairAction:
    if tally.copies[key][node].status == OK:
        raise RefusedOverwrite(f"{node}/{key} was judged ok; repair never writes over a good copy")
    full, want = f"{root}/{key}", tally.expected[key]
    target = stores[node]
    action = RepairAction(key, node, copy.status, "failed")
    try:
        current = target.head(full)
    except Unavailable as e:
        action.status, action.detail = "deferred", f"node unreachable ({e}); the next poll repairs it"
        return action
    if copy.status == DAMAGED:
        if current is None or (
            current.version_id is not None and copy.version_id is not None and current.version_id != copy.version_id
        ):
            action.status = "skipped"
            action.detail = "the copy changed since the vote (another repair or a write); poll again to judge it"
            return action
        action.evidence_version_id = current.version_id
    elif copy.status == MISSING and current is not None:
        action.status, action.detail = "skipped", "a copy appeared since the vote; poll again to judge it"
        return action

    # Same key first, then other keys with the same bytes (root inventory <-> head version inventory).
    sources = sorted(
        ((n, k) for n, k in tally.sources(key) if (n, k) != (node, key)),
        key=lambda nk: (nk[1] != key, distances(nk[0], node), nk),
    )
    tried: list[str] = []
    for source, source_key in sources:
        try:
            stored = target.copy_from(stores[source], f"{root}/{source_key}", dest_key=full)
            check, _ = hash_file(target, full, new_nonce(), stored.version_id)
        except NotFound:
            tried.append(f"{source}/{source_key}: gone since the vote")
            continue
        except Unavailable as e:
            tried.append(f"{source} or {node} unreachable ({e})")
            continue
        if check.sha512 == want:
            action.status, action.source, action.source_key = "repaired", source, source_key
            action.version_id, action.sha512 = stored.version_id, check.sha512
            action.detail = f"copied from {source}/{source_key} and read back: sha512 matches the inventory"
            return action
        tried.append(f"{source}: the copy read back as sha512 {check.sha512[:16]}..., not {want[:16]}...")
    if sources and all("unreachable" in t for t in tried):
        action.status = "deferred"
    action.detail = (
        "no agreeing node could supply it: " + "; ".join(tried) + ". The next poll tries again"
        if tried
        else "no other node holds an agreeing copy"
    )
    return action
