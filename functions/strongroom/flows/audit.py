"""A whole poll of one AU: votes from every node, tally, repair, confirm, record.

The poll holds the AU lock that ingest takes (catalog lease "au:<au>") from the first vote
to the last record. Why the whole poll and not only the repair: votes taken while an
ingest writes a new version would see a half-copied version (missing files, extra files,
nodes at different heads) and the repair would "fix" what ingest was about to write;
re-checking every vote against the head under the lock would cost a second read of the
AU anyway. An ingest of the same AU waits (and is retried) meanwhile; the lease is renewed
after every vote, so a long poll keeps it. On AWS the votes fan out to per-region functions
under the same lease.

Re-runs are safe: a poll re-votes from scratch, so copies repaired by a run that was
killed midway are ok now and are not repaired twice; each verified repair is recorded in
the catalog as it happens. An inconclusive poll (fewer nodes than the quorum answered, or
no reference inventory) writes nothing to any node and leaves the AU's record untouched
(so the planner keeps it due); only a "fixity check" warning event goes to the catalog, so
operators see the attempt. When enough nodes answered but no inventory can be trusted, that
report also raises the alarm.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from strongroom.domain import premis
from strongroom.domain.catalog import AuRecord, au_lease
from strongroom.domain.errors import StrongroomError
from strongroom.domain.ocfl.inventory import Inventory, InventoryError
from strongroom.domain.ocfl.layout import object_root
from strongroom.domain.planner import plan_polls
from strongroom.domain.ports import NotFound, Unavailable
from strongroom.domain.tally import (
    OK,
    UNAVAILABLE,
    Tally,
    choose_reference,
    inventory_digest,
    tally,
)
from strongroom.domain.vote import Vote, new_nonce
from strongroom.flows.ingest import Archive
from strongroom.flows.ocfl_store import LogExists, append_log
from strongroom.flows.poll import vote
from strongroom.flows.repair import RepairAction, RepairReport, node_distances, repair

log = logging.getLogger(__name__)

REPAIRED = "repaired"
DAMAGED = "damaged"


class AuditBusy(StrongroomError, RuntimeError):
    """Another poll or an ingest holds the AU; the poll is retried later."""


@dataclass
class PollReport:
    """What one poll found and did. JSON-serialisable via as_dict(); written into each node's logs."""

    au: str
    nonce: str
    started: str
    finished: str = ""
    status: str = ""  # ok | repaired | damaged | unrepairable | inconclusive
    message: str = ""
    nodes: dict[str, str] = field(default_factory=dict)  # region -> ok | damaged | repaired | unavailable
    agreement: int = 0  # nodes agreeing on every file after the poll (ok + repaired)
    responding: int = 0
    quorum: int = 0
    reference: dict = field(default_factory=dict)
    root_hash: str | None = None
    totals: dict = field(default_factory=dict)
    alarm: bool = False
    unrepairable: list[str] = field(default_factory=list)
    extra: dict[str, list[str]] = field(default_factory=dict)
    tally: dict = field(default_factory=dict)  # without the ok copies
    repair: dict = field(default_factory=dict)
    confirmation: dict = field(default_factory=dict)  # (node, key) repaired -> confirmed by a second poll
    cost: dict = field(default_factory=dict)  # per node: bytes read, requests

    def as_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> bytes:
        return json.dumps(self.as_dict(), indent=2, sort_keys=True).encode() + b"\n"


# voter(region, store, au, nonce, keys=None) -> Vote: how one node's vote is taken. In process by
# default (the local archive, tests); on AWS it invokes the node's own auditor in its region, so only
# digests cross regions (strongroom.adapters.lambda_voter).
Voter = Callable[..., Vote]


def local_voter(region: str, store, au: str, nonce: bytes, keys: Collection[str] | None = None) -> Vote:
    """Hash the node's copy from this process."""
    return vote(store, au, nonce, region, keys=keys)


def take_votes(
    voter: Voter,
    stores: dict,
    au: str,
    nonce: bytes,
    *,
    keys: Collection[str] | None = None,
    renew: Callable[[], None] = lambda: None,
    renew_every: float = 300.0,
) -> list[Vote]:
    """Every node's vote at once (each reads its own copy; on AWS each is its region's own function),
    in node order. The poll's lease is renewed while they run, however long the slowest takes."""
    with ThreadPoolExecutor(max_workers=max(1, len(stores)), thread_name_prefix="vote") as pool:
        futures = [pool.submit(voter, node, store, au, nonce, keys=keys) for node, store in stores.items()]
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=renew_every, return_when=FIRST_COMPLETED)
            renew()
        return [f.result() for f in futures]


def run_poll(
    archive: Archive,
    au: str,
    *,
    nonce: bytes | None = None,
    now: datetime | None = None,
    quorum: int | None = None,
    distances: Callable[[str, str], float] | None = None,
    voter: Voter | None = None,
) -> PollReport:
    """Poll one AU on every node, repair what the agreeing copies can, confirm, and record it all."""
    now = now or archive.clock()
    quorum = archive.audit.quorum if quorum is None else quorum
    distances = distances or node_distances(ns.node for ns in archive.nodes)
    _record(archive, au)  # before the lease: an unknown AU is refused at once
    with au_lease(
        archive.catalog,
        au,
        holder="poll",
        seconds=archive.lock_seconds,
        wait=archive.wait_for_lock,
        busy=lambda why: AuditBusy(f"{why}: poll it again later"),
    ) as renew:
        return _poll_locked(archive, au, nonce or new_nonce(), now, quorum, distances, renew, voter or local_voter)


def _record(archive: Archive, au: str) -> AuRecord:
    record = archive.catalog.get_au(au)
    if record is None:
        raise NotFound(f"no AU {au} in the catalog; run `strongroom catalog rebuild` if the buckets hold it")
    return record


def _poll_locked(
    archive: Archive,
    au: str,
    nonce: bytes,
    now: datetime,
    quorum: int,
    distances: Callable[[str, str], float],
    renew: Callable[[], None],
    voter: Voter = local_voter,
) -> PollReport:
    record = _record(archive, au)
    at = now.isoformat(timespec="seconds")
    report = PollReport(au=au, nonce=nonce.hex(), started=at, quorum=quorum)
    stores = {ns.node.region: ns.store for ns in archive.nodes}

    votes = take_votes(voter, stores, au, nonce, renew=renew, renew_every=archive.lock_seconds / 3)
    report.cost = {v.node: {"bytes_read": v.bytes_read, "requests": v.requests} for v in votes}

    recorded = record.inventory_sha512.get(record.head)
    ref = choose_reference(votes, recorded, record.head if recorded else None)
    reference = _read_reference(stores, au, ref) if ref.sha512 else None
    t = tally(
        au, votes, reference, recorded, quorum, reference_sha512=ref.sha512, recorded_versions=record.inventory_sha512
    )
    if reference is None and ref.sha512 is None:
        t.reason = ref.note
    elif reference is None:
        t.reason = "no node holding the reference inventory could be read back; poll again"
    report.responding, report.reference = t.responding, {**t.reference, "note": ref.note}
    report.nodes = {n: s.status for n, s in t.nodes.items()}
    report.tally = t.as_dict(full=False)
    report.root_hash, report.totals = t.root_hash, t.totals
    report.extra = t.extra

    if t.inconclusive:
        report.status, report.message = "inconclusive", t.reason
        # Enough nodes answered, yet no inventory can be trusted: a human must look.
        report.alarm = t.responding >= quorum
        report.finished = archive.clock().isoformat(timespec="seconds")
        archive.catalog.add_events(
            [
                premis.event(
                    "fixity check",
                    au,
                    "warning",
                    f"poll inconclusive: {t.reason}",
                    now,
                    nonce=report.nonce,
                    responding=t.responding,
                    quorum=quorum,
                )
            ]
        )
        return report

    events = [_fixity_event(au, node, t, now, report.nonce) for node in sorted(t.nodes)]
    recorded_now: list[premis.PremisEvent] = []

    def on_repaired(action: RepairAction) -> None:
        e = _repair_event(au, action, now, report.nonce)
        recorded_now.append(e)
        archive.catalog.add_events([e])
        renew()

    rep = repair(au, t, stores, distances, on_repaired=on_repaired)
    report.repair = rep.as_dict()
    report.unrepairable = rep.unrepairable
    confirmed = _confirm(au, rep, reference, ref.sha512, stores, record.inventory_sha512, voter)
    report.confirmation = confirmed
    failed_confirmations = [k for k, ok in confirmed.items() if not ok]

    status = _node_status(t, rep, confirmed)
    report.nodes = status
    report.agreement = sum(1 for s in status.values() if s in (OK, REPAIRED))
    report.alarm = rep.alarm or bool(failed_confirmations)
    bad_left = any(s == DAMAGED for s in status.values())
    if rep.unrepairable:
        report.status = "unrepairable"
        report.message = (
            f"ALARM: {len(rep.unrepairable)} file(s) have no agreeing copy on any node and were left "
            f"untouched: {', '.join(rep.unrepairable[:5])}{' ...' if len(rep.unrepairable) > 5 else ''}. "
            "Restore them from outside the archive (publisher, release copies) after checking their "
            "sha512 against the inventory"
        )
    elif bad_left or failed_confirmations:
        report.status = DAMAGED
        report.message = (
            "some copies are still damaged (a node went away, or a copy changed during the poll); "
            "they are repaired by the next poll"
            + (f"; repairs not confirmed: {failed_confirmations}" if failed_confirmations else "")
        )
    elif rep.repaired:
        report.status = REPAIRED
        report.message = f"{len(rep.repaired)} copies repaired from agreeing nodes and confirmed by a second poll"
    else:
        report.status, report.message = OK, f"{report.agreement} nodes agree on every file"
    report.finished = archive.clock().isoformat(timespec="seconds")

    summary = premis.event(
        "fixity check",
        au,
        "success" if report.status in (OK, REPAIRED) else "failure",
        f"poll of {len(t.nodes)} nodes: {report.status}, agreement {report.agreement}/{len(t.nodes)}",
        now,
        poll=_compact(report),
        last_poll=report.started,
        last_poll_result=poll_result(report, t),
    )
    _write_logs(archive, au, now, nonce, [*events, *recorded_now, summary], status)
    archive.catalog.add_events([*events, summary])
    _update_record(archive, au, report, ref.sha512, t)
    return report


def _read_reference(stores, au: str, ref) -> Inventory | None:
    """The reference inventory's bytes from a node that holds them, checked against the chosen digest."""
    key, sha512 = f"{object_root(au)}/{ref.key}", ref.sha512
    for node in ref.holders:
        try:
            with stores[node].open(key) as f:
                body = f.read()  # inventory: metadata, read whole as every OCFL reader does
        except (Unavailable, NotFound):
            continue
        if inventory_digest(body) == sha512:
            try:
                inv = Inventory.from_json(body)
            except InventoryError:
                continue
            return inv
    return None


def _confirm(
    au: str,
    rep: RepairReport,
    reference: Inventory | None,
    reference_sha512: str | None,
    stores,
    recorded_versions: dict,
    voter: Voter = local_voter,
) -> dict:
    """Poll the repaired files again, with a new nonce, on every node: a repair counts when the
    repaired copy now agrees with the others. Returns {"<node>:<key>": confirmed}."""
    keys = sorted({a.key for a in rep.repaired})
    if not keys:
        return {}
    nonce = new_nonce()
    votes = take_votes(voter, stores, au, nonce, keys=keys)
    t = tally(
        au, votes, reference, None, 1, reference_sha512=reference_sha512, only=keys, recorded_versions=recorded_versions
    )
    return {
        f"{a.node}:{a.key}": t.copies.get(a.key, {}).get(a.node) is not None and t.copies[a.key][a.node].status == OK
        for a in rep.repaired
    }


def _node_status(t: Tally, rep: RepairReport, confirmed: dict) -> dict[str, str]:
    """ok | repaired | damaged | unavailable per node, for the status grid."""
    bad_by_node: dict[str, set[str]] = {}
    for key, node, _ in t.bad_copies():
        bad_by_node.setdefault(node, set()).add(key)
    fixed = {(a.node, a.key) for a in rep.repaired if confirmed.get(f"{a.node}:{a.key}")}
    out = {}
    for node, summary in t.nodes.items():
        if summary.status == UNAVAILABLE:
            out[node] = UNAVAILABLE
        elif node not in bad_by_node:
            out[node] = OK
        elif all((node, k) in fixed for k in bad_by_node[node]):
            out[node] = REPAIRED
        else:
            out[node] = DAMAGED
    return out


def _fixity_event(au: str, node: str, t: Tally, now: datetime, nonce: str) -> premis.PremisEvent:
    s = t.nodes[node]
    if s.status == UNAVAILABLE:
        return premis.event(
            "fixity check",
            au,
            "warning",
            f"{node} did not answer the poll; not judged",
            now,
            node=node,
            nonce=nonce,
            unavailable=True,
        )
    bad = [
        {"key": k, "status": c.status, "why": c.why, "version_id": c.version_id}
        for k, per in sorted(t.copies.items())
        for n, c in per.items()
        if n == node and c.status != OK
    ]
    return premis.event(
        "fixity check",
        au,
        "success" if s.status == OK else "failure",
        f"{node}: {s.ok} ok, {s.damaged} damaged, {s.missing} missing, {s.extra} extra "
        f"(H(nonce||bytes) and sha512 against inventory {t.reference.get('sha512', '')[:16]}...)",
        now,
        node=node,
        nonce=nonce,
        ok=s.ok,
        damaged=s.damaged,
        missing=s.missing,
        extra=t.extra.get(node, []),
        bad=bad[:100],
        bad_count=len(bad),
    )


def _repair_event(au: str, a: RepairAction, now: datetime, nonce: str) -> premis.PremisEvent:
    return premis.event(
        "repair",
        au,
        "success",
        f"{a.node}/{a.key} ({a.was}) restored from {a.source}/{a.source_key}; the damaged bytes stay as "
        f"version {a.evidence_version_id}",
        now,
        node=a.node,
        key=a.key,
        was=a.was,
        source=a.source,
        source_key=a.source_key,
        sha512=a.sha512,
        evidence_version_id=a.evidence_version_id,
        version_id=a.version_id,
        nonce=nonce,
    )


def _compact(report: PollReport) -> dict:
    """The report without per-copy detail beyond what went wrong (the fixity events carry the rest)."""
    d = report.as_dict()
    d["tally"] = {k: d["tally"].get(k) for k in ("reference", "agreement", "responding", "unjudged", "copies")}
    return d


def _write_logs(archive: Archive, au: str, now: datetime, nonce: bytes, events, status: dict[str, str]) -> None:
    """The poll's events and report into every reachable node's object logs (a node alone tells its history)."""
    body = premis.to_jsonl(events)
    name = f"{now.strftime('%Y%m%dT%H%M%SZ')}-poll-{nonce.hex()[:12]}-{uuid.uuid4().hex[:6]}.premis.jsonl"
    for ns in archive.nodes:
        if status.get(ns.node.region) == UNAVAILABLE:
            continue
        try:
            append_log(ns.store, au, name, body)
        except (Unavailable, NotFound, LogExists) as e:
            log.warning("poll log not written to %s: %s", ns.node.region, e)


def poll_result(report: PollReport, t: Tally) -> dict:
    """What the catalog keeps of the last poll (also logged, so a rebuild recovers it)."""
    return {
        "status": report.status,
        "nonce": report.nonce,
        "agreement": report.agreement,
        "nodes": dict(report.nodes),
        "root_hash": report.root_hash,
        "totals": report.totals,
        "alarm": report.alarm,
        "unrepairable": list(report.unrepairable),
        "finished": report.finished,
        "head": t.reference.get("head"),
    }


def _update_record(archive: Archive, au: str, report: PollReport, reference_sha512: str | None, t: Tally) -> None:
    record = _record(archive, au)
    record.last_poll = report.started
    record.last_poll_result = poll_result(report, t)
    head = t.reference.get("head")
    if reference_sha512 and head:
        # Trust on first use: the first poll pins the inventory the nodes agreed on, unless ingest recorded one.
        record.inventory_sha512.setdefault(head, reference_sha512)
        if head == record.head:
            for node, s in report.nodes.items():
                if s in (OK, REPAIRED):
                    record.copies[node] = head
    archive.catalog.put_au(record)


def due_aus(archive: Archive, now: datetime) -> list[str]:
    """The AUs the planner polls now (strongroom.toml [audit]: interval, byte budget, jitter, and
    at most max_aus_per_run). Reads the catalog's poll index, never the whole catalog: the AUs
    never polled, and those last polled early enough to be due whatever their jitter."""

    cfg = archive.audit
    latest_due = now - timedelta(days=cfg.interval_days - cfg.jitter_days)
    candidates = archive.catalog.poll_candidates(latest_due, cfg.max_aus_per_run)
    return plan_polls(candidates, {}, now, cfg.interval_days, cfg.budget_bytes_per_run, cfg.jitter_days)[
        : cfg.max_aus_per_run
    ]


def poll_each(
    archive: Archive,
    aus: Iterable[str],
    *,
    voter: Voter | None = None,
    keep_going: Callable[[], bool] = lambda: True,
    after_each: Callable[[PollReport], None] | None = None,
) -> tuple[list[PollReport], list[str]]:
    """Poll AUs one after the other while keep_going() (a Lambda's remaining time). An AU held by an
    ingest or another poll is skipped: it stays due and the next run takes it.
    Returns (reports, AUs left for later)."""
    reports: list[PollReport] = []
    left: list[str] = []
    for au in aus:
        if not keep_going():
            left.append(au)
            continue
        try:
            report = run_poll(archive, au, voter=voter)
        except AuditBusy as e:
            log.warning("%s", e)
            left.append(au)
            continue
        reports.append(report)
        if after_each is not None:
            after_each(report)
    return reports, left
