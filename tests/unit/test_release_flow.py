"""The release flow over in-memory nodes: poll, refuse, render from a node, switch the pointer last,
withdraw, and finish the job after a crash. Nothing of the nodes changes (but the poll's own logs)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import get_args

import pytest

from strongroom.domain.release import TRIGGERS, BoardVote, Evidence, Proposal, RuleBroken, Trigger, as_trigger
from strongroom.flows.release import (
    POINTER,
    PublishTarget,
    ReleaseService,
    read_pointer,
    run_release,
)
from tests.audit_support import (
    AU_ONE_VERSION,
    AU_TWO_VERSIONS,
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
    p = Proposal(trigger="publisher-consent", aus=tuple(aus),
                 evidence=Evidence(board=BoardVote(8, 0, 1, date(2026, 11, 1)), publisher_statement="yes"))
    r, _ = w.service.propose(p, ALICE)
    w.service.approve(r.id, BOB)
    return r.id


def run(w: World, rid: str, **kw):
    return run_release(w.archive, w.target, rid, clock=lambda: NOW, journal=w.archive.ingest, **kw)


def public_text(w: World) -> str:
    return "\n".join(k for k in w.public.objects) + "\n".join(
        v.decode("utf-8", "replace") for v in w.public.objects.values())


def test_an_approved_release_is_polled_rendered_and_switched(world):
    before = state(world.archive)
    rid = approved(world)
    report = run(world, rid)
    r = report.release
    assert r.state == "published" and r.render_id == report.render_id
    assert set(r.progress["polls"].values()) <= {"ok", "repaired"}
    assert r.urls["titles"]["acme/jbio"] == {"site": f"{SITE}/acme/jbio/", "replay": f"{REPLAY}/jbio/"}
    pointer = read_pointer(world.public)
    assert pointer["aus"] == [AU_TWO_VERSIONS] and pointer["render_id"] == r.render_id
    site = pointer["site"]
    keys = set(world.public.objects)
    assert f"{site}index.html" in keys and f"{site}acme/jbio/2024/index.html" in keys
    assert any(k.startswith(f"{site}acme/jbio/2024/files/") and k.endswith(".pdf") for k in keys)
    assert f"{pointer['replay']}config.yaml" in keys
    assert not [k for k in keys if "2025" in k.split("/", 2)[-1] and "kbart" not in k]
    assert state(world.archive) == before  # the nodes are untouched (but for the poll's logs)
    steps = {e.outcome_detail["step"] for e in world.archive.catalog.events(AU_TWO_VERSIONS)
             if e.type == "release"}
    assert steps == {"proposed", "approved", "published"}


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


def test_every_trigger_has_its_words_and_only_triggers_are_taken():
    assert set(get_args(Trigger)) == set(TRIGGERS)  # a new trigger needs both its name and how pages say it
    assert as_trigger("publisher-ceased") == "publisher-ceased"
    with pytest.raises(RuleBroken, match="'publisher-sold' is not one of") as refused:
        as_trigger("publisher-sold")
    assert refused.value.field == "trigger"
