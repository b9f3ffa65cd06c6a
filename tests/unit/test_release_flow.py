"""The release flow over in-memory nodes: poll, refuse, render from a node, switch the pointer last,
withdraw, and finish the job after a crash. Nothing of the nodes changes (but the poll's own logs)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import get_args

import pytest

from strongroom.domain import ocfl
from strongroom.domain.release import (
    TRIGGERS,
    BoardVote,
    Evidence,
    Proposal,
    Release,
    RuleBroken,
    Trigger,
    Unverified,
    as_trigger,
    release_id,
)
from strongroom.flows.release import (
    POINTER,
    PublishTarget,
    ReleaseService,
    read_pointer,
    run_release,
)
from strongroom.local.demo import chaos
from strongroom.render.safety import PASSIVE_TYPES
from tests.audit_support import (
    AU_ONE_VERSION,
    AU_TWO_VERSIONS,
    AUS,
    build_archive,
    clone,
    state,
)
from tests.fakes import MemoryBlobStore

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ALICE, BOB = "arn:aws:iam::1:user/alice", "arn:aws:iam::1:user/bob"
SITE, REPLAY = "http://127.0.0.1:9001", "http://127.0.0.1:9002"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build_archive(tmp_path_factory.mktemp("release-flow"))


@dataclass
class World:
    archive: object
    public: MemoryBlobStore
    service: ReleaseService
    target: PublishTarget
    started: list


@pytest.fixture
def world(base, tmp_path):
    archive = clone(base)
    public = MemoryBlobStore("public")
    started: list[str] = []
    service = ReleaseService(archive, start=started.append, clock=lambda: NOW, journal=archive.ingest)
    target = PublishTarget(public, SITE, REPLAY, scratch=tmp_path, use_pagefind=False)
    return World(archive, public, service, target, started)


def approved(w: World, aus=(AU_TWO_VERSIONS,)) -> str:
    p = Proposal(
        trigger="publisher-consent",
        aus=tuple(aus),
        evidence=Evidence(board=BoardVote(8, 0, 1, date(2026, 11, 1)), publisher_statement="yes"),
    )
    r, _ = w.service.propose(p, ALICE)
    w.service.approve(r.id, BOB)
    return r.id


def run(w: World, rid: str, **kw):
    return run_release(w.archive, w.target, rid, clock=lambda: NOW, journal=w.archive.ingest, **kw)


def public_text(w: World) -> str:
    return "\n".join(k for k in w.public.objects) + "\n".join(
        v.decode("utf-8", "replace") for v in w.public.objects.values()
    )


def test_an_approved_release_is_polled_rendered_and_switched(world):
    before = state(world.archive)
    rid = approved(world)
    report = run(world, rid)
    r = report.release
    assert r.state == "published" and r.render_id == report.render_id
    assert set(r.progress["polls"].values()) <= {"ok", "repaired"}
    assert r.urls["titles"]["acme/jbio"] == {"site": f"{SITE}/acme/jbio/", "replay": f"{REPLAY}/acme_jbio/"}
    pointer = read_pointer(world.public)
    assert pointer["aus"] == [AU_TWO_VERSIONS] and pointer["render_id"] == r.render_id
    site = pointer["site"]
    keys = set(world.public.objects)
    assert f"{site}index.html" in keys and f"{site}acme/jbio/2024/index.html" in keys
    assert any(k.startswith(f"{site}acme/jbio/2024/files/") and k.endswith(".pdf") for k in keys)
    assert f"{pointer['replay']}config.yaml" in keys
    assert not [k for k in keys if "2025" in k.split("/", 2)[-1] and "kbart" not in k]
    assert state(world.archive) == before  # the nodes are untouched (but for the poll's logs)
    steps = {e.outcome_detail["step"] for e in world.archive.catalog.events(AU_TWO_VERSIONS) if e.type == "release"}
    assert steps == {"proposed", "approved", "published"}


def test_deposited_files_are_stored_with_how_they_must_be_served(world):
    """The attack: a deposited SVG/HTML/XML file was served inline from the site's origin, where its
    scripts ran as the site. The release stores each publisher file with render.safety's delivery."""
    run(world, approved(world))
    pointer = read_pointer(world.public)
    files = {
        k: world.public.headers[k] for k in world.public.objects if k.startswith(pointer["site"]) and "/files/" in k
    }
    kinds = {k.rsplit(".", 1)[-1].lower() for k in files}
    assert {"pdf", "png", "xml"} <= kinds, kinds
    for key, headers in files.items():
        name = key.rsplit("/", 1)[-1]
        passive = PASSIVE_TYPES.get("." + name.rsplit(".", 1)[-1].lower())
        if passive:
            assert headers == {"Content-Type": passive}, key
        else:  # the JATS XML among them
            assert headers["Content-Type"] == "application/octet-stream", key
            assert headers["Content-Disposition"].startswith(f'attachment; filename="{name}"'), key
    # The site's own pages are not downloads.
    assert world.public.headers[pointer["site"] + "index.html"] == {"Content-Type": "text/html; charset=utf-8"}


def test_the_pointer_is_written_last(world):
    order: list[str] = []
    put = world.public.put

    def recording_put(key, body, **kw):
        order.append(key)
        return put(key, body, **kw)

    world.public.put = recording_put
    run(world, approved(world))
    assert order[-1] == POINTER and order.count(POINTER) == 1


def test_an_unhealthy_au_is_refused_and_nothing_is_published(world):
    @dataclass
    class Damaged:
        status: str = "unrepairable"
        message: str = "no agreeing copy of v2/content/x.pdf"

    rid = approved(world)
    r = run(world, rid, poll=lambda archive, au: Damaged()).release
    assert r.state == "refused" and "unrepairable" in r.reason and "no agreeing copy" in r.reason
    assert read_pointer(world.public) is None and not world.public.objects
    failures = [e for e in world.archive.catalog.events(AU_TWO_VERSIONS) if e.outcome == "failure"]
    assert failures and failures[0].outcome_detail["step"] == "refused"
    assert run(world, rid).release.state == "refused"  # refused stays refused


def test_withdrawal_rerenders_without_it_and_deletes_the_old_render(world):
    keep = approved(world, [AU_ONE_VERSION])
    run(world, keep)
    rid = approved(world)
    first = run(world, rid).release
    assert read_pointer(world.public)["aus"] == sorted([AU_ONE_VERSION, AU_TWO_VERSIONS])
    r, _ = world.service.withdraw(rid, ALICE, "court order")
    assert world.started[-1] == rid
    run(world, rid)
    pointer = read_pointer(world.public)
    assert pointer["aus"] == [AU_ONE_VERSION] and pointer["render_id"] != first.render_id
    assert not [k for k in world.public.objects if k.startswith(f"releases/{first.render_id}/")]
    # the withdrawn AU's pages and files are gone from every key and every byte
    assert not [k for k in world.public.objects if "/2024/" in k]
    assert world.archive.catalog.get_release(rid)["state"] == "withdrawn"


def test_a_crash_midway_leaves_the_old_site_and_a_rerun_finishes(world):
    first = approved(world, [AU_ONE_VERSION])
    run(world, first)
    live = read_pointer(world.public)
    rid = approved(world)
    put, count = world.public.put, {"n": 0}

    def failing_put(key, body, **kw):
        count["n"] += 1
        if count["n"] == 5:
            raise OSError("connection reset")
        return put(key, body, **kw)

    world.public.put = failing_put
    with pytest.raises(OSError):
        run(world, rid)
    assert world.archive.catalog.get_release(rid)["state"] == "failed"
    assert read_pointer(world.public) == live  # the half upload is invisible
    world.public.put = put
    r = run(world, rid).release
    assert r.state == "published"
    pointer = read_pointer(world.public)
    assert {k.split("/")[1] for k in world.public.objects if k.startswith("releases/")} == {pointer["render_id"]}


def test_running_again_after_publication_changes_nothing(world):
    rid = approved(world)
    r = run(world, rid).release
    snapshot = dict(world.public.objects)
    again = run(world, rid).release
    assert again.state == "published" and again.render_id == r.render_id and world.public.objects == snapshot


def test_decisions_survive_a_catalog_rebuild_through_the_journal(world):
    from strongroom.flows.release import restore_releases

    rid = approved(world)
    run(world, rid)
    world.archive.catalog.releases.clear()  # as the local moto server forgets at a restart
    assert restore_releases(world.archive.catalog, world.archive.ingest) == 1
    assert world.archive.catalog.get_release(rid)["state"] == "published"
    assert json.loads(world.archive.ingest.objects[f"releases/{rid}.json"])["state"] == "published"


# --- forged releases: records written into the catalog around the API ---------------------------


def forged(w: World, aus=(AU_ONE_VERSION,), state="published", **changes) -> str:
    """A release record put straight into the catalog: a made-up proposal 'by' alice, 'approved' by bob."""
    p = Proposal(
        trigger="publisher-consent",
        aus=tuple(aus),
        evidence=Evidence(board=BoardVote(9, 0, 0, date(2026, 11, 1)), publisher_statement="sure"),
    )
    r = Release(
        id=release_id(p),
        state=state,
        proposal=p,
        aus=tuple(aus),
        proposed_by=ALICE,
        proposed_at="2026-11-20T10:00:00+00:00",
        approved_by=BOB,
        approved_at="2026-11-20T11:00:00+00:00",
        render_id="20261120T110000Z-00000000" if state == "published" else None,
        revision=1,
    )
    w.archive.catalog.put_release(replace(r, **changes).as_dict(), 0)
    return r.id


def test_a_forged_published_release_is_not_published_with_the_next_real_one(world, caplog):
    """The attack: a release record written straight into the catalog, with no proposal and no
    approval, was published with the next real release."""
    fake = forged(world)
    real = approved(world)
    assert run(world, real).release.state == "published"
    pointer = read_pointer(world.public)
    assert pointer["aus"] == [AU_TWO_VERSIONS] and fake not in pointer["releases"]
    assert not [k for k in world.public.objects if "/2025/" in k]
    assert any(fake in m and "left off the public site" in m for m in caplog.messages)
    assert f"releases/{fake}.json" not in world.archive.ingest.objects  # nothing made it look decided


def test_a_forged_approved_release_run_by_the_worker_is_refused_and_never_journalled(world, caplog):
    fake = forged(world, state="approved", render_id=None)
    r = run(world, fake, admins={ALICE, BOB}).release
    assert r.state == "refused" and "not a verified release decision" in r.reason and "journal" in r.reason
    assert read_pointer(world.public) is None and not world.public.objects
    assert any(fake in m and "refused" in m for m in caplog.messages)
    assert f"releases/{fake}.json" not in world.archive.ingest.objects
    steps = [e.outcome_detail["step"] for e in world.archive.catalog.events(AU_ONE_VERSION) if e.type == "release"]
    assert steps == ["refused"]


def test_a_real_release_changed_in_the_catalog_is_refused(world):
    """The journal is what the API decided: widening a real release's AUs in the catalog does not publish them."""
    p = Proposal(
        trigger="publisher-consent",
        aus=(AU_TWO_VERSIONS,),
        evidence=Evidence(board=BoardVote(8, 0, 1, date(2026, 11, 1)), publisher_statement="yes"),
    )
    r, _ = world.service.propose(p, ALICE)
    world.service.approve(r.id, BOB)
    doc = world.archive.catalog.get_release(r.id)
    world.archive.catalog.put_release({**doc, "aus": sorted(AUS), "revision": doc["revision"] + 1}, doc["revision"])
    refused = run(world, r.id, admins={ALICE, BOB}).release
    assert refused.state == "refused" and "aus" in refused.reason and read_pointer(world.public) is None


def test_a_release_by_someone_who_is_not_an_admin_is_refused(world):
    rid = approved(world)
    r = run(world, rid, admins={ALICE}).release
    assert r.state == "refused" and "bob" in r.reason and "not a release admin" in r.reason
    assert read_pointer(world.public) is None


def test_approving_a_proposal_forged_into_the_catalog_is_refused(world):
    fake = forged(world, state="proposed", approved_by=None, approved_at=None, render_id=None)
    with pytest.raises(Unverified, match="decision journal"):
        world.service.approve(fake, BOB)
    assert world.archive.catalog.get_release(fake)["state"] == "proposed" and not world.started


def test_a_forged_record_the_worker_or_an_admin_withdraws_is_never_journalled(world):
    """Journalling it would make a later flip back to 'published' look like a decision."""
    fake = forged(world, state="withdrawn", render_id=None)
    run(world, fake)
    world.service.withdraw(
        forged(world, aus=(AU_TWO_VERSIONS,), state="proposed", approved_by=None, approved_at=None, render_id=None),
        ALICE,
        "not ours",
    )
    assert not [k for k in world.archive.ingest.objects if k.startswith("releases/")]


def test_every_trigger_has_its_words_and_only_triggers_are_taken():
    assert set(get_args(Trigger)) == set(TRIGGERS)  # a new trigger needs both its name and how pages say it
    assert as_trigger("publisher-ceased") == "publisher-ceased"
    with pytest.raises(RuleBroken, match="'publisher-sold' is not one of") as refused:
        as_trigger("publisher-sold")
    assert refused.value.field == "trigger"


# --- a takedown is never held up by other AUs -----------------------------------------------


def _damage_one_file_in_eleven_nodes(archive, au: str) -> str:
    """Flip bits of one content file of `au` on nodes 1..11 (node 12 keeps the only good copy)."""
    root = ocfl.object_root(au) + "/"
    key = next(k for k in sorted(archive.nodes[0].store.objects) if k.startswith(root) and k.endswith(".pdf"))
    rng = random.Random(14)
    for ns in archive.nodes[:11]:
        chaos.flip_bits(ns.store, key, 4, rng)
    return key


def test_a_withdrawal_is_not_held_up_by_damage_to_another_released_au(world):
    """The attack: with one file of another released AU damaged in 11 of 12 copies, withdrawing a
    title failed and it stayed public. The titles that stay public are reused as they are
    published; nothing of theirs is polled or read from the nodes again."""
    keep = approved(world, [AU_ONE_VERSION])
    run(world, keep)
    rid = approved(world)
    first = run(world, rid).release
    kept_before = {
        k.split("/", 2)[2]: v
        for k, v in world.public.objects.items()
        if k.startswith(f"releases/{first.render_id}/site/acme/jbio/2025/")
    }
    assert kept_before
    _damage_one_file_in_eleven_nodes(world.archive, AU_ONE_VERSION)

    polled: list[str] = []
    world.service.withdraw(rid, ALICE, "court order")
    r = run(world, rid, poll=lambda archive, au: polled.append(au)).release

    assert r.state == "withdrawn" and r.progress["step"] == "withdrawn"
    assert polled == []  # a withdrawal polls nothing
    pointer = read_pointer(world.public)
    assert pointer["aus"] == [AU_ONE_VERSION] and rid not in pointer["releases"]
    assert not [k for k in world.public.objects if "/2024/" in k]  # the withdrawn AU is gone, every byte
    kept_after = {
        k.split("/", 2)[2]: v
        for k, v in world.public.objects.items()
        if k.startswith(f"releases/{pointer['render_id']}/site/acme/jbio/2025/")
    }
    assert kept_after == kept_before  # the title that stays is as it was published, not the damaged copies


def test_a_title_that_cannot_be_rendered_is_left_dark_rather_than_keep_a_withdrawn_one_public(world, caplog):
    """Worse still: the live render has no record to reuse (made before released.json) and every copy
    of the other AU's file is damaged. The withdrawal still takes its title down; the other title is
    left dark, said so in the release and the log, until the next publish renders it again."""
    keep = approved(world, [AU_ONE_VERSION])
    run(world, keep)
    rid = approved(world)
    run(world, rid)
    for key in [k for k in world.public.objects if k.endswith("/released.json")]:
        del world.public.objects[key]
    key = _damage_one_file_in_eleven_nodes(world.archive, AU_ONE_VERSION)
    chaos.flip_bits(world.archive.nodes[11].store, key, 4, random.Random(15))

    world.service.withdraw(rid, ALICE, "court order")
    r = run(world, rid).release

    assert r.state == "withdrawn" and r.progress["left_dark"] == ["acme/jbio"]
    pointer = read_pointer(world.public)
    assert pointer["aus"] == [] and rid not in pointer["releases"]
    assert not [k for k in world.public.objects if "/2024/" in k or "/2025/" in k]
    assert any("left dark by the withdrawal" in m for m in caplog.messages)
