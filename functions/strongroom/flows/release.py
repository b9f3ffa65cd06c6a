"""Releases, end to end: the API's operations over the catalog, and the flow that publishes.

    ReleaseService   propose / approve / withdraw / get / list: the rules of
                     strongroom.domain.release applied and recorded (catalog item, PREMIS
                     events, a journal copy), then the worker started
    run_release      the flow after approval: re-check the decision against its journal and the
                     rules, poll every AU now, refuse an unhealthy one, else publish
    publish          make the public bucket show exactly the published releases: read each
                     released AU from a healthy node (OCFL head state), render every released
                     title into a scratch dir, upload under releases/<render-id>/, write the
                     pointer current.json LAST, then delete every other render

Why a pointer: the public surfaces (local servers; CloudFront's origin path on AWS) resolve
current.json, so a half-uploaded render is never visible and a switch is one small PUT.
Why re-check decisions here: the catalog is a table anyone holding its keys can write (locally,
moto), so a release record written around the API must not go public. The journal in the
ingest bucket is the durable record of what the API decided; the worker publishes only
releases whose proposal and approval it records, by two different admins, within the rules
(strongroom.domain.release.verify_decision), and refuses and logs any other.
Why re-render everything: the home page, KBART, sitemap and search list what they are given,
so a withdrawal is simply a render without the withdrawn AUs. Every step can be re-run: a
crashed flow is run again (by Lambda's retry or a second approve) and finishes the job;
nothing on any node is ever written.

Nothing here imports boto3: the stores, the catalog and the way to start the worker are
injected (strongroom.handlers.compose wires the real ones).
"""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import posixpath
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

from strongroom.domain import release as rules
from strongroom.domain.catalog import StaleWrite
from strongroom.domain.errors import StrongroomError
from strongroom.domain.formats import HEAD_BYTES, JATS, identify_head
from strongroom.domain.jats import JatsError, parse_jats
from strongroom.domain.ocfl import object_key
from strongroom.domain.ports import BlobStore, NotFound, Unavailable
from strongroom.domain.release import NoSuchRelease, Proposal, Release
from strongroom.flows.audit import run_poll
from strongroom.flows.ingest import Archive, NodeStore
from strongroom.flows.ocfl_store import read_inventory
from strongroom.render import render_release
from strongroom.render.model import (
    ReleasedArticle,
    ReleasedAu,
    ReleasedFile,
    ReleasedTitle,
    replay_collection,
)
from strongroom.render.safety import delivery
from strongroom.render.urls import SitePlan, file_site_path

log = logging.getLogger(__name__)

POINTER = "current.json"  # the public bucket's one mutable object: which render is live
RENDERS = "releases/"  # releases/<render-id>/site/..., releases/<render-id>/replay/...
JOURNAL = "releases/"  # in the (private) ingest bucket: every release decision, as JSON
PUBLISH_LOCK = "release:publish"
HEALTHY = ("ok", "repaired")
LARGE = "large.json"  # replay/large.json: archive URL -> site path of files too big for a Lambda answer
LARGE_BYTES = 5_000_000
# releases/<render-id>/released.json: what each public AU was rendered from (files, digests, types),
# outside site/ and replay/ so it is never served. A withdrawal re-renders the titles that stay
# public from these verified public copies, so it never waits on a node or a poll of theirs.
RELEASED = "released.json"
NOT_FOUND_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Not found</title></head>'
    "<body><h1>Not found</h1><p>Nothing is published at this address. Released content is listed "
    'on the <a href="/">home page</a>.</p></body></html>\n'
)


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- the API's operations -------------------------------------------------------------------


@dataclass
class ReleaseService:
    """What the API handler calls. `start(release_id)` hands the release to the flow
    (an asynchronous invocation of the worker on AWS; the local Lambda endpoint locally)."""

    archive: Archive
    start: Callable[[str], None]
    clock: Callable[[], datetime] = utcnow
    journal: BlobStore | None = None  # the ingest bucket: a durable copy of each decision

    def _load(self, release_id: str) -> Release:
        doc = self.archive.catalog.get_release(release_id)
        if doc is None:
            raise NoSuchRelease(f"no release {release_id!r}; `strongroom release list` shows them", "id")
        return Release.from_dict(doc)

    def _save(self, r: Release, step: str | None) -> Release:
        stored = replace(r, revision=r.revision + 1)
        self.archive.catalog.put_release(stored.as_dict(), r.revision)
        if step:
            self.archive.catalog.add_events(rules.decision_events(stored, step))
        if step == "proposed" or self._journalled(r):
            write_journal(self.journal, stored)
        else:  # a record forged into the catalog: journalling it would make it look decided
            log.error("release %s is not in the decision journal; its %s is recorded in the catalog only", r.id, step)
        return stored

    def _journalled(self, r: Release) -> bool:
        return self.journal is None or _journalled(r, self.journal)

    def releases(self) -> list[Release]:
        return [Release.from_dict(d) for d in self.archive.catalog.list_releases()]

    def get(self, release_id: str) -> Release:
        return self._load(release_id)

    def propose(self, proposal: Proposal, actor: str) -> tuple[Release, bool]:
        known = self._known_aus(proposal)
        r, created = rules.propose(proposal, actor, self.clock(), known, self.releases())
        if not created:
            return r, False
        try:
            return self._save(r, "proposed"), True
        except StaleWrite:  # the same proposal, at the same moment: answer as for a repeat
            return rules.propose(proposal, actor, self.clock(), known, self.releases())

    def _known_aus(self, proposal: Proposal) -> list[str]:
        """The AUs the archive holds of those the proposal names: one title's from the title index,
        or each named AU looked up (never a scan of the catalog)."""
        if proposal.title:
            return [r.au for r in self.archive.catalog.aus_of_title(proposal.title)]
        return [au for au in proposal.aus if self.archive.catalog.get_au(au) is not None]

    def approve(self, release_id: str, actor: str) -> tuple[Release, bool]:
        r = self._load(release_id)
        if self.journal is not None:  # approving a proposal forged into the catalog would make it real
            rules.verify_proposal(r, read_journal(self.journal, r.id))
        approved, changed = rules.approve(r, actor, self.clock())
        if changed:
            try:
                approved = self._save(approved, "approved")
            except StaleWrite:
                return self.approve(release_id, actor)
        if rules.can_run(approved) and approved.state != rules.RUNNING:
            self.start(approved.id)  # again on a repeated approve: a failed run is resumed
        return approved, changed

    def withdraw(self, release_id: str, actor: str, reason: str) -> tuple[Release, bool]:
        r = self._load(release_id)
        withdrawn, changed = rules.withdraw(r, actor, reason, self.clock())
        if changed:
            try:
                withdrawn = self._save(withdrawn, "withdrawn")
            except StaleWrite:
                return self.withdraw(release_id, actor, reason)
        if withdrawn.progress.get("step") != "withdrawn":
            self.start(withdrawn.id)  # the flow re-renders without it and switches the pointer
        return withdrawn, changed


def write_journal(journal: BlobStore | None, r: Release) -> None:
    if journal is not None:
        journal.put(
            f"{JOURNAL}{r.id}.json",
            json.dumps(r.as_dict(), indent=2, sort_keys=True).encode(),
            content_type="application/json",
        )


def read_journal(journal: BlobStore, release_id: str) -> dict | None:
    """The journal's copy of a release (what the API decided), or None."""
    try:
        with journal.open(f"{JOURNAL}{release_id}.json") as fh:
            return json.load(fh)
    except (NotFound, ValueError):
        return None


def _journalled(r: Release, journal: BlobStore) -> bool:
    """Whether the journal holds r's proposal as the catalog states it."""
    try:
        rules.verify_proposal(r, read_journal(journal, r.id))
        return True
    except rules.Unverified:
        return False


def unverified(r: Release, journal: BlobStore | None, admins: Iterable[str] | None) -> str | None:
    """Why r is not a decision the archive made (domain.release.verify_decision), or None if it is."""
    if journal is None:
        return "there is no decision journal to check it against; the worker must be given the ingest bucket"
    doc = read_journal(journal, r.id)
    if doc is not None and doc.get("state") == rules.WITHDRAWN:
        return f"release {r.id} was withdrawn (the journal says so); it is never published again"
    try:
        rules.verify_decision(r, doc, admins)
    except rules.ReleaseError as e:
        return e.message
    return None


def restore_releases(catalog, journal: BlobStore) -> int:
    """Put back release decisions the catalog lost (the local moto server forgets everything
    at a restart; on AWS the table is durable): the journal's newer revisions win."""
    restored = 0
    for obj in journal.list(JOURNAL):
        if not obj.key.endswith(".json"):
            continue
        with journal.open(obj.key) as fh:
            doc = json.load(fh)
        current = catalog.get_release(doc["id"])
        if current is None or current["revision"] < doc["revision"]:
            try:
                catalog.put_release(doc, current["revision"] if current else 0)
                restored += 1
            except StaleWrite:
                pass
    return restored


# --- the flow -------------------------------------------------------------------------------


@dataclass
class PublishTarget:
    """Where releases go and how they are addressed."""

    public: BlobStore
    site_base_url: str
    replay_base_url: str
    # Called after the pointer is written, with the new render's prefix (AWS: move
    # CloudFront's origin to it). Returns False if the old renders must stay a while longer
    # (the switch is still propagating); they are pruned by the next publish then.
    switch: Callable[[str], bool] | None = None
    scratch: Path | None = None
    use_pagefind: bool | None = None


@dataclass
class FlowReport:
    release: Release
    render_id: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)


class Retry(StrongroomError, RuntimeError):
    """Another publish holds the lock; run again shortly (Lambda retries the invocation)."""


def _reread(archive: Archive, release_id: str) -> Release:
    """A release read again, as it is now; a release is never deleted, so it is there."""
    doc = archive.catalog.get_release(release_id)
    if doc is None:
        raise NoSuchRelease(
            f"release {release_id!r} vanished from the catalog while it ran; "
            "`strongroom release list` shows what the catalog holds",
            "id",
        )
    return Release.from_dict(doc)


def _store(archive: Archive, r: Release, **changes) -> Release:
    """Save the flow's progress; the flow is the only writer while a release runs, but an
    admin may withdraw meanwhile: a stale write re-reads and keeps the withdrawal."""
    while True:
        new = replace(r, **changes)
        stored = replace(new, revision=r.revision + 1)
        try:
            archive.catalog.put_release(stored.as_dict(), r.revision)
            return stored
        except StaleWrite:
            r = _reread(archive, r.id)
            if r.state == rules.WITHDRAWN:
                return r


def run_release(
    archive: Archive,
    target: PublishTarget,
    release_id: str,
    *,
    poll: Callable[[Archive, str], object] | None = None,
    journal: BlobStore | None = None,
    clock: Callable[[], datetime] = utcnow,
    lock_seconds: float = 900,
    admins: Iterable[str] | None = None,
) -> FlowReport:
    """Carry an approved release through: check it is a verified decision (journal, two admins,
    the rules), poll every AU now, refuse it when one is not healthy, else publish it.
    Re-running finishes an interrupted run; a published, refused or withdrawn release only
    makes sure the public bucket shows the right thing. `admins`: the release admins' ARNs
    (None: any two different principals)."""

    poll = poll or run_poll
    doc = archive.catalog.get_release(release_id)
    if doc is None:
        raise NoSuchRelease(f"no release {release_id!r}", "id")
    r = Release.from_dict(doc)
    report = FlowReport(r)

    def again() -> FlowReport:  # withdrawn meanwhile: the run that takes it down
        return run_release(
            archive,
            target,
            release_id,
            poll=poll,
            journal=journal,
            clock=clock,
            lock_seconds=lock_seconds,
            admins=admins,
        )

    if r.state == rules.WITHDRAWN:  # no poll: a takedown waits on nothing of the titles that stay
        dark: list[str] = []
        report.render_id = publish(
            archive, target, clock=clock, lock_seconds=lock_seconds, journal=journal, withdrawing=dark
        )
        progress = {**r.progress, "step": "withdrawn", "render_id": report.render_id}
        if dark:
            progress["left_dark"] = dark
        r = _store(archive, r, progress=progress)
        if journal is not None and _journalled(r, journal):  # never journal a forged or changed record
            write_journal(journal, r)
        report.release = r
        return report
    if r.state in (rules.PUBLISHED, rules.REFUSED) or not rules.can_run(r):
        return report
    why = unverified(r, journal, admins)
    if why is not None:
        log.error("release %s refused, nothing published: it is not a verified decision: %s", r.id, why)
        r = _store(
            archive,
            r,
            state=rules.REFUSED,
            reason=f"not a verified release decision: {why}",
            progress={"step": "refused", "at": clock().isoformat(timespec="seconds")},
        )
        if r.state == rules.REFUSED:
            archive.catalog.add_events(rules.decision_events(r, "refused"))
        report.release = r
        return report

    started = time.monotonic()
    r = _store(
        archive,
        r,
        state=rules.RUNNING,
        reason=None,
        progress={"step": "polling", "done": 0, "of": len(r.aus), "polls": {}},
    )
    try:
        polls: dict[str, str] = {}
        for au in r.aus:
            result = poll(archive, au)
            status = getattr(result, "status", "")
            polls[au] = status
            if status not in HEALTHY:
                why = (
                    f"AU {au} is not healthy: its poll is {status or 'missing'}"
                    f" ({getattr(result, 'message', '')}). Nothing was published; repair the AU "
                    "(`strongroom audit`) and propose again"
                )
                r = _store(
                    archive,
                    r,
                    state=rules.REFUSED,
                    reason=why,
                    progress={"step": "refused", "polls": polls, "at": clock().isoformat(timespec="seconds")},
                )
                if r.state == rules.REFUSED:
                    archive.catalog.add_events(rules.decision_events(r, "refused"))
                write_journal(journal, r)
                report.release = r
                return report
            r = _store(archive, r, progress={"step": "polling", "done": len(polls), "of": len(r.aus), "polls": polls})
            if r.state == rules.WITHDRAWN:
                return again()
        report.seconds["poll"] = time.monotonic() - started

        r = _store(archive, r, progress={**r.progress, "step": "rendering"})
        started = time.monotonic()
        now = clock()
        render_id = publish(archive, target, including=r, clock=lambda: now, lock_seconds=lock_seconds, journal=journal)
        report.seconds["publish"] = time.monotonic() - started
        current = _reread(archive, r.id)
        if current.state == rules.WITHDRAWN:  # withdrawn while rendering: render again without it
            return again()
        r = _store(
            archive,
            current,
            state=rules.PUBLISHED,
            render_id=render_id,
            published_at=now.isoformat(timespec="seconds"),
            urls=public_urls(target, r),
            progress={"step": "published", "polls": polls, "render_id": render_id},
        )
        archive.catalog.add_events(rules.decision_events(r, "published"))
        write_journal(journal, r)
        report.release, report.render_id = r, render_id
        return report
    except Retry:
        raise
    except Exception as e:
        r = _store(
            archive,
            r,
            state=rules.FAILED,
            reason=f"{type(e).__name__}: {e}",
            progress={**r.progress, "step": "failed", "at": clock().isoformat(timespec="seconds")},
        )
        write_journal(journal, r)
        raise


def public_urls(target: PublishTarget, r: Release) -> dict:
    site = target.site_base_url.rstrip("/")
    replay = target.replay_base_url.rstrip("/")
    titles = {
        t: {"site": f"{site}/{t}/", "replay": f"{replay}/{replay_collection(*t.split('/')[:2])}/"} for t in r.titles
    }
    return {"site": f"{site}/", "replay": f"{replay}/", "titles": titles}


# --- publishing -----------------------------------------------------------------------------


def read_pointer(public: BlobStore) -> dict | None:
    try:
        with public.open(POINTER) as fh:
            return json.load(fh)
    except NotFound:
        return None


def publish(
    archive: Archive,
    target: PublishTarget,
    *,
    including: Release | None = None,
    clock: Callable[[], datetime] = utcnow,
    lock_seconds: float = 900,
    journal: BlobStore | None = None,
    withdrawing: list[str] | None = None,
) -> str:
    """Render every published release (plus `including`, already verified by run_release), upload
    it as a new render, switch the pointer, prune older renders. Returns the render id. One
    publish at a time. A release the catalog calls published but the journal does not back is
    left out, and logged.

    `withdrawing` (a list, for a withdrawal): the AUs that stay public are rendered from their
    copies in the live render (verified against the digests recorded with it), not from the
    nodes, so damage elsewhere cannot hold a takedown up. If that render still fails, the titles
    that could not be reused, then all, are left dark rather than keep withdrawn content public;
    their ids are appended to the list (the next publish brings them back)."""
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + 120
    while not archive.catalog.try_lock(PUBLISH_LOCK, owner, time.time(), lock_seconds):
        if time.monotonic() > deadline:
            raise Retry("another release is being published; this one runs when it is done")
        time.sleep(1.0)
    try:
        # Admins are checked when a release is decided and run, not again: an admin who leaves
        # does not take down what was released with their approval.
        releases = decided_releases(archive.catalog.list_releases(), journal, skip=including.id if including else None)
        public = rules.public_aus(releases, including)
        now = clock()
        if withdrawing is None:
            return _publish(target, public, released_titles(archive, public, now), now)
        reused = reusable_aus(target.public, public)
        failed: Exception | None = None
        everything = {_title_of(au) for au in public}
        not_reused = {_title_of(au) for au in public if au not in reused}
        attempts = [set(), not_reused, everything]  # leaving dark: nothing, the titles not reused, all
        for dark in [d for i, d in enumerate(attempts) if d not in attempts[:i]]:
            kept = {au: r for au, r in public.items() if _title_of(au) not in dark}
            try:
                render_id = _publish(target, kept, released_titles(archive, kept, now, reused), now)
            except Retry:
                raise
            except Exception as e:  # a title that stays public failed: it must not keep this one public
                log.error("a withdrawal's render (leaving dark %s) failed: %s: %s", sorted(dark), type(e).__name__, e)
                failed = e
                continue
            if dark:
                log.error(
                    "titles %s are left dark by the withdrawal: they could not be rendered (%s); "
                    "the next release or withdrawal renders them again",
                    sorted(dark),
                    failed,
                )
                withdrawing.extend(sorted(dark))
            return render_id
        assert failed is not None
        raise failed
    finally:
        archive.catalog.unlock(PUBLISH_LOCK, owner)


def _publish(target: PublishTarget, public: dict[str, Release], titles: list, now: datetime) -> str:
    """Render `titles`, upload them under a new prefix, switch the pointer last, prune the rest."""
    render_id = _render_id(public, titles, now)
    prefix = f"{RENDERS}{render_id}/"
    scratch = Path(tempfile.mkdtemp(prefix="release-", dir=target.scratch))
    try:
        report = render_release(
            titles,
            scratch,
            site_base_url=target.site_base_url,
            replay_base_url=target.replay_base_url,
            now=now,
            use_pagefind=target.use_pagefind,
        )
        _write_extras(titles, target, scratch)
        deposited = deposited_paths(titles)
        for rel in report.paths + _extra_paths(scratch, report.paths):
            _upload(target.public, scratch / rel, prefix + rel, deposited=rel in deposited)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    target.public.put(
        prefix + RELEASED,
        json.dumps(describe_render(titles), indent=1, sort_keys=True).encode(),
        content_type="application/json",
    )
    pointer = {
        "render_id": render_id,
        "prefix": prefix,
        "site": prefix + "site/",
        "replay": prefix + "replay/",
        "rendered_at": now.isoformat(timespec="seconds"),
        "aus": sorted(public),
        "releases": sorted({r.id for r in public.values()}),
        "collections": sorted({t.collection for t in titles}),
    }
    # LAST: until this PUT the previous render is what everyone sees.
    target.public.put(POINTER, json.dumps(pointer, indent=2, sort_keys=True).encode(), content_type="application/json")
    settled = target.switch(prefix) if target.switch else True
    if settled:
        prune(target.public, keep=prefix)
    return render_id


def _title_of(au: str) -> str:
    return "/".join(au.split("/")[:2])


def describe_render(titles) -> dict:
    """What each AU of a render was rendered from: enough to render it again from its public copies."""
    return {
        "aus": {
            au.au_id: {
                "version": au.ocfl_version,
                "deposited": au.deposited.isoformat() if au.deposited else None,
                "files": [[f.path, f.size, f.sha256, f.sha512, f.mime] for f in au.files],
                "jats": [a.xml_path for a in au.articles if a.xml_path],
            }
            for t in titles
            for au in t.aus
        }
    }


def reusable_aus(public: BlobStore, aus: Iterable[str]) -> dict:
    """AU id -> its render model read from the live render (the bytes are its public copies, checked
    against the recorded digests as they are copied), for each of `aus` the live render holds."""
    pointer = read_pointer(public)
    if pointer is None:
        return {}
    try:
        with public.open(pointer["prefix"] + RELEASED) as fh:
            described = json.load(fh)["aus"]
    except (NotFound, Unavailable, KeyError, ValueError) as e:  # a render from before released.json
        log.warning("the live render has no readable %s (%s); the AUs that stay are read from the nodes", RELEASED, e)
        return {}
    out = {}
    for au in aus:
        entry = described.get(au)
        if entry is None:
            continue
        files = {
            path: ReleasedFile(path, size, sha256, sha512, mime, _opener(public, f"{pointer['site']}{au}/files/{path}"))
            for path, size, sha256, sha512, mime in entry["files"]
        }
        out[au] = _released(au, entry["version"], files, entry["jats"], entry["deposited"])
    return out


def decided_releases(docs: Iterable[dict], journal: BlobStore | None, skip: str | None = None) -> list[Release]:
    """The catalog's releases, less the public ones that are not verified decisions (each logged)."""
    out = []
    for doc in docs:
        try:
            r = Release.from_dict(doc)
        except (KeyError, TypeError, ValueError) as e:
            log.error("release record %r in the catalog is unreadable (%s); left out", doc.get("id"), e)
            continue
        if r.state in rules.PUBLIC and r.id != skip:
            why = unverified(r, journal, None)
            if why is not None:
                log.error("release %s is published in the catalog but left off the public site: %s", r.id, why)
                continue
        out.append(r)
    return out


def _write_extras(titles, target: PublishTarget, scratch: Path) -> None:
    """What the serving needs beyond the renderer's output: the site's 404 page, and the
    replay's map of files too large for a Lambda answer to their copies on the site."""

    (scratch / "site").mkdir(parents=True, exist_ok=True)
    (scratch / "site" / "404.html").write_text(NOT_FOUND_PAGE, "utf-8")
    plan = SitePlan(titles, target.site_base_url or "http://localhost")
    large = {
        plan.file_url(au, f): file_site_path(au, f)
        for t in titles
        for au in t.aus
        for f in au.files
        if f.size > LARGE_BYTES
    }
    (scratch / "replay").mkdir(parents=True, exist_ok=True)
    (scratch / "replay" / LARGE).write_text(json.dumps(large, indent=1, sort_keys=True), "utf-8")


def _extra_paths(root: Path, listed: list[str]) -> list[str]:
    """Files the renderer wrote without listing them (templates, static assets): upload all."""
    seen = set(listed)
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).as_posix() not in seen
    )


def _render_id(public: dict[str, Release], titles, now: datetime) -> str:
    basis = json.dumps(
        {
            "aus": {au: [r.id, r.revision] for au, r in sorted(public.items())},
            "versions": {a.au_id: a.ocfl_version for t in titles for a in t.aus},
        },
        sort_keys=True,
    )
    return f"{now:%Y%m%dT%H%M%SZ}-{hashlib.sha256(basis.encode()).hexdigest()[:8]}"


CONTENT_TYPES = {
    ".cdxj": "text/plain; charset=utf-8",
    ".warc": "application/warc",
    ".wacz": "application/wacz",
    ".yaml": "text/yaml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".js": "text/javascript",
    ".css": "text/css",
    ".xml": "application/xml",
    ".pdf": "application/pdf",
}


def content_type(name: str) -> str:
    ext = posixpath.splitext(name)[1].lower()
    return CONTENT_TYPES.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def deposited_paths(titles) -> set[str]:
    """The render paths (site/<publisher>/<title>/<au>/files/...) of the publishers' own files."""
    return {f"site/{file_site_path(au, f)}" for t in titles for au in t.aus for f in au.files}


def _upload(store: BlobStore, path: Path, key: str, *, deposited: bool = False) -> None:
    """A publisher's file is stored with how it must be served (render.safety.delivery: an active
    type such as SVG or HTML as a download), so S3, CloudFront and the local site serve it so."""
    with path.open("rb") as fh:
        if deposited:
            how = delivery(path.name)
            store.put(key, fh, content_type=how.content_type, content_disposition=how.disposition)
        else:
            store.put(key, fh, content_type=content_type(path.name))


def prune(public: BlobStore, keep: str) -> int:
    """Delete every render but `keep` (withdrawn content must not linger, half uploads neither)."""
    removed = 0
    for obj in list(public.list(RENDERS)):
        if not obj.key.startswith(keep):
            public.delete(obj.key)
            removed += 1
    return removed


# --- reading released AUs from a node -------------------------------------------------------


def healthy_nodes(archive: Archive, au: str) -> list[NodeStore]:
    """Nodes whose copy the last poll found ok or repaired, then the others with a verified copy."""
    record = archive.catalog.get_au(au)
    if record is None:
        raise NoSuchRelease(f"the catalog holds no AU {au!r}")
    status = (record.last_poll_result or {}).get("nodes", {})
    good = [n for n in archive.nodes if status.get(n.node.region) in HEALTHY]
    rest = [n for n in archive.nodes if n not in good and n.node.region in record.verified_regions()]
    return good + rest


def released_au(archive: Archive, au: str):
    """The render model of one AU, streamed from the first healthy node that answers."""
    last: Exception | None = None
    for ns in healthy_nodes(archive, au):
        try:
            return _released_au_from(ns.store, au)
        except (Unavailable, NotFound) as e:
            last = e
            log.warning("node %s cannot serve %s for the release (%s); trying the next", ns.node.region, au, e)
    raise RuntimeError(f"no healthy node could serve AU {au} ({last}); poll it and repair before releasing")


def _released_au_from(store: BlobStore, au: str):

    inv = read_inventory(store, au)
    if inv is None:
        raise NotFound(f"{store.name}: no OCFL object {au}")
    digests = inv.head_state_digests()
    files: dict[str, ReleasedFile] = {}
    jats: list[str] = []
    for path in sorted(digests):
        d = digests[path]
        key = object_key(au, inv.content_path(d.sha512))
        opener = _opener(store, key)
        with opener() as fh:
            head = fh.read(HEAD_BYTES)
        fmt = identify_head(head, posixpath.basename(path))
        files[path] = ReleasedFile(path, d.size, d.sha256, d.sha512, fmt.mime, opener)
        if fmt == JATS:
            jats.append(path)
    created = inv.head_version.created
    return _released(au, inv.head, files, jats, created)


def _released(au: str, version: str, files: dict[str, ReleasedFile], jats: list[str], deposited) -> ReleasedAu:
    """The render model of one AU from its files: each JATS file with the files of its directory
    makes an article (one that does not parse is published as a file only)."""
    by_dir: dict[str, list[str]] = {}
    for path in files:
        by_dir.setdefault(posixpath.dirname(path), []).append(path)
    articles = []
    for path in jats:
        try:
            with files[path].open() as fh:
                article = parse_jats(fh, name=path)
        except JatsError as e:  # kept and published as a file, without an article page
            log.warning("%s: %s is not readable JATS (%s); published as a file only", au, path, e)
            continue
        articles.append(
            ReleasedArticle(article, tuple(files[p] for p in sorted(by_dir[posixpath.dirname(path)])), path)
        )
    when = datetime.fromisoformat(deposited.replace("Z", "+00:00")) if isinstance(deposited, str) else deposited
    return ReleasedAu(au, version, tuple(articles), tuple(files[p] for p in sorted(files)), when)


def _opener(store: BlobStore, key: str):
    return lambda: store.open(key)


def released_titles(archive: Archive, public: dict[str, Release], now: datetime, reused: dict | None = None) -> list:
    """The renderer's input: one ReleasedTitle per title with a public AU; an AU in `reused` is
    taken from there (its public copies), any other is read from a healthy node."""
    reused = reused or {}

    by_title: dict[str, list[str]] = {}
    for au in sorted(public):
        by_title.setdefault("/".join(au.split("/")[:2]), []).append(au)
    titles = []
    for title, aus in sorted(by_title.items()):
        r = min((public[a] for a in aus), key=lambda x: x.proposed_at)  # the first release of the title decides
        record = archive.catalog.get_au(aus[0])
        lic_url, lic_name = rules.LICENSES[r.proposal.license]
        publisher, title_id = title.split("/")
        titles.append(
            ReleasedTitle(
                publisher_id=publisher,
                publisher_name=(record.publisher_name if record else None) or publisher,
                title_id=title_id,
                journal_title=(record.journal_title if record else None) or title_id,
                issn=record.issn if record else None,
                eissn=record.eissn if record else None,
                license_id=r.proposal.license,
                license_url=lic_url,
                license_name=lic_name,
                trigger=rules.as_trigger(r.proposal.trigger),
                trigger_date=_trigger_date(r),
                release_date=_day(r.published_at) or now.date(),
                attestation_url=None,
                aus=tuple(reused[a] if a in reused else released_au(archive, a) for a in aus),
            )
        )
    return titles


def _day(stamp: str | None) -> date | None:
    return datetime.fromisoformat(stamp).date() if stamp else None


def _trigger_date(r: Release) -> date:
    ev = r.proposal.evidence
    return ev.board.decided_on or _day(r.approved_at) or _day(r.proposed_at) or utcnow().date()
