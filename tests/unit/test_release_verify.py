"""domain.release.verify_decision: what the worker re-checks before it publishes a release record."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from strongroom.domain.release import (
    BoardVote,
    Evidence,
    Proposal,
    Release,
    Unverified,
    release_id,
    verify_decision,
)

ALICE, BOB, EVE = "arn:aws:iam::1:user/alice", "arn:aws:iam::1:user/bob", "arn:aws:iam::1:user/eve"
ADMINS = {ALICE, BOB}
PROPOSAL = Proposal(
    trigger="publisher-consent",
    aus=("acme/jbio/2024",),
    evidence=Evidence(board=BoardVote(8, 0, 1, date(2026, 11, 1)), publisher_statement="yes"),
)
DECIDED = Release(
    id=release_id(PROPOSAL),
    state="approved",
    proposal=PROPOSAL,
    aus=PROPOSAL.aus,
    proposed_by=ALICE,
    proposed_at="2026-11-20T10:00:00+00:00",
    approved_by=BOB,
    approved_at="2026-11-20T11:00:00+00:00",
)


def test_a_decision_the_api_made_and_journalled_verifies():
    verify_decision(DECIDED, DECIDED.as_dict(), ADMINS)
    # the flow's own progress since then (state, polls, render) is not part of the decision
    verify_decision(replace(DECIDED, state="running", progress={"step": "polling"}), DECIDED.as_dict(), ADMINS)


def _refused(r: Release, journal: dict | None, admins=ADMINS) -> str:
    with pytest.raises(Unverified) as e:
        verify_decision(r, journal, admins)
    return e.value.message


def test_no_journal_copy():
    assert "no copy in the decision journal" in _refused(DECIDED, None)


@pytest.mark.parametrize(
    "field, value",
    [
        ("approved_by", EVE),
        ("aus", ["acme/jbio/2024", "acme/jbio/2025"]),
        ("proposed_by", EVE),
        ("approved_at", "2026-11-20T12:00:00+00:00"),
    ],
)
def test_a_journal_copy_that_says_otherwise(field, value):
    journal = {**DECIDED.as_dict(), field: value}
    assert field in _refused(DECIDED, journal)


def test_the_two_person_rule():
    same = replace(DECIDED, approved_by=ALICE)
    assert "two-person rule" in _refused(same, same.as_dict())


def test_no_approval():
    unapproved = replace(DECIDED, approved_by=None, approved_at=None)
    assert "approval" in _refused(unapproved, unapproved.as_dict())


def test_principals_who_are_not_admins():
    by_eve = replace(DECIDED, approved_by=EVE)
    assert "not a release admin" in _refused(by_eve, by_eve.as_dict())
    verify_decision(by_eve, by_eve.as_dict(), None)  # without an admin list: any two principals


def test_approved_before_proposed():
    early = replace(DECIDED, approved_at="2026-11-19T09:00:00+00:00")
    assert "before it was proposed" in _refused(early, early.as_dict())


def test_an_id_that_is_not_its_proposals():
    other = replace(DECIDED, id="rel-0000000000000000")
    assert "not the id of its own proposal" in _refused(other, other.as_dict())


def test_a_decision_that_breaks_the_release_rules():
    weak = replace(PROPOSAL, evidence=replace(PROPOSAL.evidence, board=BoardVote(2, 2, 0)))
    r = replace(DECIDED, id=release_id(weak), proposal=weak)
    assert "breaks the release rules" in _refused(r, r.as_dict())


def test_aus_its_proposal_does_not_name():
    wider = replace(DECIDED, aus=("acme/jbio/2024", "acme/jbio/2025"))
    assert "does not name" in _refused(wider, wider.as_dict())
