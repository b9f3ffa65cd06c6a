"""Ingest: a deposited package becomes a new OCFL version on all twelve nodes, or is quarantined.

The steps follow the architecture: unpack safely, validate (BagIt + profile), describe
(JATS, formats, WARCs), store on node 1, server-side copies to the other eleven (each
verified), record PREMIS events, then a receipt or a rejection report. Every step can be
re-run: a package still under incoming/ is simply ingested again, and content already
preserved makes no new version.
"""

from __future__ import annotations

import json
import logging
import tempfile
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from strongroom.domain import bag as bagit_rules
from strongroom.domain import ocfl, premis
from strongroom.domain.archive import AuditSettings, IngestLimits, Node
from strongroom.domain.au import PackageKey
from strongroom.domain.catalog import AuRecord, Catalog, au_lease
from strongroom.domain.describe import describe
from strongroom.domain.errors import StrongroomError
from strongroom.domain.hashing import HashingReader
from strongroom.domain.ports import BlobStore, NotFound, Unavailable
from strongroom.domain.problems import Problem, Rejected, errors
from strongroom.domain.tally import inventory_digest
from strongroom.domain.unpack import extract
from strongroom.flows import ocfl_store
from strongroom.flows.replicate import CopyMismatch, copy_verified, sync_object

log = logging.getLogger(__name__)

RECEIPTS, REJECTIONS, QUARANTINE = "receipts", "rejections", "quarantine"


@dataclass
class NodeStore:
    node: Node
    store: BlobStore


@dataclass
class Archive:
    """Everything the flows touch, injected: stores, catalog, clock, scratch space, limits, audit policy."""

    ingest: BlobStore
    nodes: list[NodeStore]
    catalog: Catalog
    limits: IngestLimits
    audit: AuditSettings
    lock_seconds: float = 900
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    scratch: Path | None = None
    wait_for_lock: float = 60.0
    copy_workers: int = 4  # nodes copied to at once

    @property
    def first(self) -> NodeStore:
        return self.nodes[0]


@dataclass
class Outcome:
    """What became of one package: 'preserved', 'pending' (some copies not yet made), 'duplicate',
    'rejected', or 'gone' (already handled by an earlier delivery of the same event)."""

    status: str
    key: str
    report_key: str | None = None
    au: str | None = None
    version: str | None = None
    copies: int = 0
    problems: list[Problem] = field(default_factory=list)


class AuBusy(StrongroomError, RuntimeError):
    """Another ingest holds this AU; the event is retried later."""


def _json(doc: dict) -> bytes:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False).encode() + b"\n"


def ingest_package(archive: Archive, key: str, version_id: str | None = None) -> Outcome:
    """Ingest the package at key in the ingest bucket. Safe to call twice for the same key.

    With `version_id` (the S3 event's): exactly that version of the key is ingested, after any
    older version of it still waiting (so the AU's versions follow the order S3 stored them), and
    each is removed by its own version id once handled. A package PUT again to the same key
    meanwhile is a new version with its own event: never hidden by a delete of the key, never
    taken for one already handled. A version no longer under the key was handled already."""
    try:
        parsed = PackageKey.parse(key)
    except Rejected as bad_key:
        if version_id is None:
            return _reject(archive, key, None, bad_key.problems)
        with tempfile.TemporaryDirectory(prefix="ingest-", dir=archive.scratch) as tmp:
            try:  # this version, quarantined from the bytes read: each version of the key is kept
                received = _download(archive, key, version_id, Path(tmp))
            except NotFound:
                return Outcome("gone", key)
            return _reject(archive, key, None, bad_key.problems, received)
    if version_id is None:
        return _ingest_current(archive, key, parsed)
    if version_id not in _waiting(archive, key):
        return _already_handled(archive, parsed)
    with _ingest_lease(archive, parsed):
        waiting = _waiting(archive, key)
        if version_id not in waiting:  # a concurrent delivery finished it while we waited
            return _already_handled(archive, parsed)
        outcomes = []
        for version in waiting[: waiting.index(version_id) + 1]:  # oldest first, this one last
            with tempfile.TemporaryDirectory(prefix="ingest-", dir=archive.scratch) as tmp:
                outcomes.append(_ingest_locked(archive, parsed, Path(tmp), version))
        return outcomes[-1]


def _ingest_lease(archive: Archive, parsed: PackageKey):
    """The AU's lease for an ingest: ingests and polls of one AU never overlap."""
    return au_lease(
        archive.catalog,
        str(parsed.au),
        holder="ingest",
        seconds=archive.lock_seconds,
        wait=archive.wait_for_lock,
        busy=lambda why: AuBusy(f"{why}; {parsed.key} will be retried"),
    )


def _waiting(archive: Archive, key: str) -> list[str]:
    """The version ids still under key, oldest first: each is removed by its id once handled."""
    return [v.version_id for v in archive.ingest.list_versions(key) if v.version_id is not None]


def _ingest_current(archive: Archive, key: str, parsed: PackageKey) -> Outcome:
    """Without a version id (a re-run by hand, an unversioned store): the key's current object."""
    if archive.ingest.head(key) is None:
        return _already_handled(archive, parsed)
    with _ingest_lease(archive, parsed):
        if archive.ingest.head(key) is None:  # a concurrent delivery finished it while we waited
            return _already_handled(archive, parsed)
        with tempfile.TemporaryDirectory(prefix="ingest-", dir=archive.scratch) as tmp:
            return _ingest_locked(archive, parsed, Path(tmp))


def _remove(archive: Archive, key: str, version_id: str | None) -> None:
    """Take a handled package out of incoming/: exactly its version when known (a newer PUT to the
    same key stays, waiting for its own event), else the key's current version."""
    if version_id is None:
        archive.ingest.delete(key)
    else:
        archive.ingest.delete(key, version_id=version_id)


def _already_handled(archive: Archive, pk: PackageKey) -> Outcome:
    for area, status in ((RECEIPTS, "gone"), (REJECTIONS, "gone")):
        report = pk.sibling(area, ".json")
        if archive.ingest.head(report) is not None:
            return Outcome(status, pk.key, report_key=report, au=str(pk.au))
    return Outcome("gone", pk.key, au=str(pk.au))


def _ingest_locked(archive: Archive, pk: PackageKey, tmp: Path, version_id: str | None = None) -> Outcome:
    now = archive.clock()
    events: list[premis.PremisEvent] = []
    received = _download(archive, pk.key, version_id, tmp)
    package_path, package_sha256 = received.path, received.sha256

    # 1. Unpack safely.
    try:
        extracted = extract(package_path, tmp / "bag", archive.limits, name=pk.package)
    except Rejected as r:
        return _reject(archive, pk.key, pk, r.problems, received)
    bag_dir = extracted.root

    # 2. Validate: BagIt, then the archive's profile. Every problem, not the first.
    report = bagit_rules.validate_bag(bag_dir)
    problems = list(report.problems) + bagit_rules.check_profile(report, pk.au)
    if errors(problems):
        return _reject(archive, pk.key, pk, problems, received)
    events.append(
        premis.event(
            "validation",
            str(pk.au),
            "warning" if problems else "success",
            f"BagIt {report.version} and the strongroom profile",
            now,
            package=pk.key,
            warnings=[p.as_dict() for p in problems],
        )
    )

    # 3. Describe: formats, JATS articles, WARCs.
    description = describe(bag_dir, [p.path for p in report.payload])
    problems += list(description.problems)
    events.append(
        premis.event(
            "format identification",
            str(pk.au),
            "success",
            f"{len(description.files)} files identified",
            now,
            package=pk.key,
        )
    )
    events.append(
        premis.event(
            "metadata extraction",
            str(pk.au),
            "success",
            f"{len(description.articles)} JATS articles",
            now,
            package=pk.key,
        )
    )

    # 4. Store: a new OCFL version on node 1 holding every file of the bag under <package stem>/.
    files: dict[str, ocfl.FileDigest] = {}
    local_paths: dict[str, Path] = {}
    for path in sorted(p for p in bag_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(bag_dir).as_posix()
        logical = f"{pk.stem}/{rel}"
        with path.open("rb") as f:
            files[logical] = ocfl.digest_stream(f)
        local_paths[logical] = path
    events.append(
        premis.event(
            "message digest calculation",
            str(pk.au),
            "success",
            f"sha512 and sha256 of {len(files)} files",
            now,
            package=pk.key,
        )
    )

    first = archive.first.store
    writer = ocfl_store.OcflWriter(first)
    writer.ensure_storage_root()
    previous = ocfl_store.read_inventory(first, pk.au.object_id)
    state = _merged_state(previous, pk.stem, files)
    plan = ocfl.plan_version(
        previous,
        pk.au.object_id,
        state,
        created=now,
        message=f"Deposit of {pk.package} by {pk.au.publisher}",
        user={"name": pk.au.publisher, "address": f"urn:strongroom:publisher:{pk.au.publisher}"},
    )
    if plan.unchanged:
        return _duplicate(archive, pk, previous, package_sha256, version_id)
    by_digest = {d.sha512: logical for logical, d in files.items()}
    keys = writer.write_version(
        plan,
        open_logical=lambda logical: local_paths[by_digest.get(state[logical].sha512, logical)].open("rb"),
        sha256_of=lambda logical: state[logical].sha256,
    )
    version = plan.version
    events.append(
        premis.event(
            "ingestion",
            str(pk.au),
            "success",
            f"{pk.package} stored as OCFL {version} on {archive.first.node.region}",
            now,
            package=pk.key,
            package_name=pk.package,
            package_sha256=package_sha256,
            new_files=len(plan.new_content),
            version=version,
            node=archive.first.node.region,
            articles=len(description.articles),
            **_journal(description),
        )
    )

    # 5. Replicate: server-side copies to the other nodes, each verified.
    copies = {archive.first.node.region: version}
    object_root = ocfl.object_root(pk.au.object_id)
    sources = {k: first.head(k) for k in keys}  # one HEAD per key, not one per copy

    def replicate_to(ns: NodeStore) -> Exception | None:
        try:
            _ensure_root_files(first, ns.store)
            for k in keys:  # in commit order: the root inventory last
                copy_verified(first, ns.store, k, sources[k])
        except (Unavailable, CopyMismatch) as e:
            return e
        return None

    # The nodes are independent: copy to several at once (each node's keys stay in order).
    with ThreadPoolExecutor(max_workers=archive.copy_workers) as pool:
        for ns, error in zip(archive.nodes[1:], pool.map(replicate_to, archive.nodes[1:])):
            if error is None:
                copies[ns.node.region] = version
                events.append(
                    premis.event(
                        "replication",
                        str(pk.au),
                        "success",
                        f"{version} copied to {ns.node.region} and verified",
                        now,
                        node=ns.node.region,
                        version=version,
                        keys=len(keys),
                    )
                )
            else:
                log.warning("replication to %s pending: %s", ns.node.region, error)
                events.append(
                    premis.event(
                        "replication",
                        str(pk.au),
                        "failure",
                        f"{version} not yet copied to {ns.node.region}: {error}",
                        now,
                        node=ns.node.region,
                        version=version,
                        pending=True,
                    )
                )

    # 6. Record, in the object's logs on every reachable node and in the catalog.
    _write_logs(archive, pk.au.object_id, version, events, copies)
    record = _au_record(archive, pk, plan, description, copies, now)
    archive.catalog.put_au(record)
    archive.catalog.add_events(events)

    # 7. Receipt, then the package leaves incoming/: exactly its version, when the event named it
    # (its bytes are in twelve OCFL copies now); else the key, whose old bytes the bucket keeps.
    status = "preserved" if len(copies) == len(archive.nodes) else "pending"
    receipt = _receipt(
        archive, pk, plan, record, description, problems, copies, package_sha256, object_root, status, now, version_id
    )
    receipt_key = pk.sibling(RECEIPTS, ".json")
    archive.ingest.put(receipt_key, _json(receipt), content_type="application/json")
    _remove(archive, pk.key, version_id)
    return Outcome(
        status, pk.key, report_key=receipt_key, au=str(pk.au), version=version, copies=len(copies), problems=problems
    )


def _merged_state(previous, stem: str, files: dict) -> dict:
    """The AU's new state: what it held before, with this package's folder replaced by the package."""
    state: dict[str, ocfl.FileDigest] = {}
    if previous is not None:
        for logical, digest in previous.head_state_digests().items():
            if not logical.startswith(stem + "/"):
                state[logical] = digest
    state.update(files)
    return state


def _ensure_root_files(source: BlobStore, target: BlobStore) -> None:
    for key in ocfl.storage_root_keys():
        if target.head(key) is None:
            copy_verified(source, target, key)


def _write_logs(archive: Archive, object_id: str, version: str, events, copies: dict) -> None:
    name = f"{version}-{archive.clock().strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.premis.jsonl"
    body = premis.to_jsonl(events)
    for ns in archive.nodes:
        if ns.node.region in copies:
            try:
                ocfl_store.append_log(ns.store, object_id, name, body)
            except Unavailable as e:
                log.warning("could not write log to %s: %s", ns.node.region, e)


def _journal(description) -> dict:
    """The journal an AU belongs to, as its first JATS article names it."""
    first = description.articles[0] if description.articles else None
    return {
        "journal_title": first.journal_title if first else None,
        "issn": first.issn if first else None,
        "eissn": first.eissn if first else None,
        "publisher_name": first.publisher if first else None,
    }


def _au_record(archive, pk, plan, description, copies, now) -> AuRecord:
    old = archive.catalog.get_au(str(pk.au))
    inv = plan.inventory
    state = inv.head_state_digests()
    articles = description.articles
    first = articles[0] if articles else None
    packages = dict(old.packages) if old else {}
    packages[pk.package] = len(articles)

    def keep(new, attr):
        return new if new else (getattr(old, attr) if old else None)

    return AuRecord(
        au=str(pk.au),
        head=plan.version,
        files=len(state),
        bytes=sum(d.size for d in state.values()),
        articles=sum(packages.values()),
        journal_title=keep(first and first.journal_title, "journal_title"),
        issn=keep(first and first.issn, "issn"),
        eissn=keep(first and first.eissn, "eissn"),
        publisher_name=keep(first and first.publisher, "publisher_name"),
        packages=packages,
        copies=dict(copies),
        updated=now.isoformat(timespec="seconds"),
        # What polls trust over a majority of nodes: the digest of each committed inventory.
        inventory_sha512={**(old.inventory_sha512 if old else {}), plan.version: inventory_digest(inv.to_json())},
        last_poll=old.last_poll if old else None,
        last_poll_result=old.last_poll_result if old else {},
    )


def _receipt(
    archive, pk, plan, record, description, problems, copies, package_sha256, object_root, status, now, version_id=None
):
    formats = {f.path: f for f in description.files}
    state = plan.inventory.head_state_digests()
    return {
        "status": status,
        "package": {"key": pk.key, "version_id": version_id, "sha256": package_sha256},
        "au": str(pk.au),
        "ocfl": {
            "object_id": pk.au.object_id,
            "version": plan.version,
            "object_root": object_root,
            "new_content_files": len(plan.new_content),
        },
        "files": [
            {
                "path": logical,
                "size": d.size,
                "sha512": d.sha512,
                "sha256": d.sha256,
                "format": _format_of(formats, logical),
            }
            for logical, d in sorted(state.items())
            if logical.startswith(pk.stem + "/")
        ],
        "articles": [a.as_dict() for a in description.articles],
        "web_archives": [w.as_dict() for w in description.warcs],
        "warnings": [p.as_dict() for p in problems],
        "copies": {
            "verified": sorted(copies),
            "pending": [n.node.region for n in archive.nodes if n.node.region not in copies],
            "count": f"{len(copies)}/{len(archive.nodes)}",
        },
        "received": now.isoformat(timespec="seconds"),
    }


def _format_of(formats: dict, logical: str) -> dict | None:
    described = formats.get(logical.split("/", 1)[1])
    return described.format.as_dict() if described is not None else None


def _duplicate(
    archive: Archive, pk: PackageKey, previous, package_sha256: str, version_id: str | None = None
) -> Outcome:
    record = archive.catalog.get_au(str(pk.au))
    receipt_key = pk.sibling(RECEIPTS, ".json")
    now = archive.clock()
    archive.ingest.put(
        receipt_key,
        _json(
            {
                "status": "duplicate",
                "package": {"key": pk.key, "version_id": version_id, "sha256": package_sha256},
                "au": str(pk.au),
                "ocfl": {"object_id": pk.au.object_id, "version": previous.head},
                "message": f"Every file of this package is already preserved in {previous.head}; no new version was made.",
                "received": now.isoformat(timespec="seconds"),
            }
        ),
        content_type="application/json",
    )
    archive.catalog.add_events(
        [
            premis.event(
                "ingestion",
                str(pk.au),
                "success",
                f"{pk.package} already preserved in {previous.head}",
                now,
                package=pk.key,
                duplicate=True,
            )
        ]
    )
    _remove(archive, pk.key, version_id)
    return Outcome(
        "duplicate",
        pk.key,
        report_key=receipt_key,
        au=str(pk.au),
        version=previous.head,
        copies=len(record.verified_regions()) if record else 0,
    )


@dataclass(frozen=True)
class Received:
    """The one version of a package being ingested, as downloaded to scratch."""

    version_id: str | None
    path: Path
    sha256: str


def _download(archive: Archive, key: str, version_id: str | None, tmp: Path) -> Received:
    """The package's one version, copied to scratch and hashed on the way."""
    path = tmp / "package"
    with archive.ingest.open(key, version_id=version_id) as src, path.open("wb") as dst:
        sha256 = HashingReader(src, ("sha256",)).drain(dst).hexdigest("sha256")
    return Received(version_id, path, sha256)


def _reject(
    archive: Archive, key: str, pk: PackageKey | None, problems: list[Problem], received: Received | None = None
) -> Outcome:
    """Quarantine the untouched package and write a report of every problem with its fix."""
    now = archive.clock()
    rel = key[len("incoming/") :] if key.startswith("incoming/") else key
    quarantine_key = f"{QUARANTINE}/{rel}"
    report_key = f"{REJECTIONS}/{rel}.json"
    version_id = received.version_id if received else None
    if version_id is not None and received is not None:  # exactly this version, checked on write
        with received.path.open("rb") as fh:
            archive.ingest.put(quarantine_key, fh, sha256=received.sha256)
    elif archive.ingest.head(key) is not None:
        archive.ingest.copy_from(archive.ingest, key, dest_key=quarantine_key)
        original, kept = archive.ingest.head(key), archive.ingest.head(quarantine_key)
        if (
            original is None
            or kept is None
            or original.size != kept.size
            or (original.etag and original.etag != kept.etag)
        ):
            raise CopyMismatch(f"quarantine copy of {key} does not match; nothing was deleted, retrying")
    report = {
        "status": "rejected",
        "package": {"key": key, "version_id": version_id, "quarantined_at": quarantine_key},
        "au": str(pk.au) if pk else None,
        "problems": [p.as_dict() for p in problems],
        "summary": f"{len(errors(problems))} error(s), {len(problems) - len(errors(problems))} warning(s). "
        "Fix every error listed and deposit the package again under incoming/.",
        "received": now.isoformat(timespec="seconds"),
    }
    archive.ingest.put(report_key, _json(report), content_type="application/json")
    archive.catalog.add_events(
        [
            premis.event(
                "validation",
                key,
                "failure",
                f"rejected: {len(errors(problems))} error(s)",
                now,
                report=report_key,
                rules=sorted({p.rule for p in errors(problems)}),
            )
        ]
    )
    if version_id is not None:
        _remove(archive, key, version_id)
    elif archive.ingest.head(key) is not None:
        archive.ingest.delete(key)
    return Outcome("rejected", key, report_key=report_key, au=str(pk.au) if pk else None, problems=problems)


def complete_pending(archive: Archive, au: str) -> AuRecord:
    """Finish the copies an earlier ingest could not make (a node was unreachable)."""
    record = archive.catalog.get_au(au)
    if record is None:
        raise NotFound(f"no AU {au} in the catalog; run `strongroom catalog rebuild` if the buckets hold it")
    first = archive.first.store
    root = ocfl.object_root(au)
    now = archive.clock()
    events = []
    for ns in archive.nodes[1:]:
        if record.copies.get(ns.node.region) == record.head:
            continue
        try:
            _ensure_root_files(first, ns.store)
            result = sync_object(first, ns.store, root)
        except (Unavailable, CopyMismatch) as e:
            log.warning("%s still pending on %s: %s", au, ns.node.region, e)
            continue
        if not result.conflicts:
            record.copies[ns.node.region] = record.head
        events.append(
            premis.event(
                "replication",
                au,
                "success" if not result.conflicts else "warning",
                f"{record.head} completed on {ns.node.region}",
                now,
                node=ns.node.region,
                copied=len(result.copied),
                conflicts=result.conflicts,
            )
        )
    if events:
        _write_logs(archive, au, record.head, events, record.copies)
    archive.catalog.put_au(record)
    archive.catalog.add_events(events)
    return record
