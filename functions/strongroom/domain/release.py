"""Release decisions: the rules of the CLOCKSS agreements and a release's state machine (pure).

A release makes preserved AUs public. It is proposed by one admin with the evidence of a
trigger event, approved by a *different* admin (two-person rule), then run by the release
flow (strongroom.flows.release): poll, render, publish. A legal takedown withdraws it.

    proposed --approve (other admin)--> approved --run--> running --> published
                                                             |   \\--> refused (an AU is not healthy)
                                                             \\-----> failed  (re-run finishes the job)
    any state but withdrawn --withdraw--> withdrawn (content leaves the public surfaces)

Every rule here raises a kind of ReleaseError (the API maps each kind to its HTTP status), the request field
at fault and what to do instead, so handlers stay thin and the rules are tested without AWS.
Ids are derived from the proposal's content: the same proposal sent twice is one release.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from typing import Literal, get_args

from strongroom.domain import premis
from strongroom.domain.errors import (
    BrokenRule,
    Conflict,
    NoSuchRelease,
    NotAllowed,
    Refused,
    RuleBroken,
    Unauthenticated,
)

__all__ = ["Conflict", "NoSuchRelease", "NotAllowed", "ReleaseError", "RuleBroken", "Unauthenticated"]

# The trigger events of the CLOCKSS agreements that allow a release, and how a page says them.
Trigger = Literal["publisher-ceased", "unavailable-6-months", "publisher-consent"]
TRIGGERS: dict[str, str] = {
    "publisher-ceased": "the publisher ceased publishing",
    "unavailable-6-months": "the content was unavailable from the publisher for six months",
    "publisher-consent": "the publisher consented to its release",
}
# Creative Commons licenses a release may carry: SPDX id -> (deed URL, name).
LICENSES: dict[str, tuple[str, str]] = {
    "CC-BY-4.0": ("https://creativecommons.org/licenses/by/4.0/", "Creative Commons Attribution 4.0 International"),
    "CC-BY-SA-4.0": (
        "https://creativecommons.org/licenses/by-sa/4.0/",
        "Creative Commons Attribution-ShareAlike 4.0 International",
    ),
    "CC-BY-NC-4.0": (
        "https://creativecommons.org/licenses/by-nc/4.0/",
        "Creative Commons Attribution-NonCommercial 4.0 International",
    ),
    "CC-BY-NC-SA-4.0": (
        "https://creativecommons.org/licenses/by-nc-sa/4.0/",
        "Creative Commons Attribution-NonCommercial-ShareAlike 4.0 International",
    ),
    "CC-BY-ND-4.0": (
        "https://creativecommons.org/licenses/by-nd/4.0/",
        "Creative Commons Attribution-NoDerivatives 4.0 International",
    ),
    "CC-BY-NC-ND-4.0": (
        "https://creativecommons.org/licenses/by-nc-nd/4.0/",
        "Creative Commons Attribution-NonCommercial-NoDerivatives 4.0 International",
    ),
    "CC0-1.0": ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0 1.0 Universal"),
}
DEFAULT_LICENSE = "CC-BY-4.0"
MONTHS_UNAVAILABLE = 6
BOARD_MAJORITY = 0.75
BOARD_MAX_AGAINST = 2

PROPOSED, APPROVED, RUNNING, PUBLISHED, REFUSED, FAILED, WITHDRAWN = (
    "proposed",
    "approved",
    "running",
    "published",
    "refused",
    "failed",
    "withdrawn",
)
STATES = (PROPOSED, APPROVED, RUNNING, PUBLISHED, REFUSED, FAILED, WITHDRAWN)
# States that hold their AUs: another release of the same AU is a conflict meanwhile.
ACTIVE = (PROPOSED, APPROVED, RUNNING, PUBLISHED, FAILED)
# States whose AUs the public surfaces show.
PUBLIC = (PUBLISHED,)


# The kinds of refusal live in strongroom.domain.errors (the API maps each kind to its status);
# ReleaseError is their base under the name the release code has always used.
ReleaseError = Refused


class Unverified(Conflict):
    """A release record that no decision of the archive backs: written into the catalog around the
    API (no journal copy, or one that says otherwise), or breaking the rules a decision must keep."""


def as_trigger(text: str) -> Trigger:
    """The trigger named by text; RuleBroken when it names none (a proposal's trigger is a plain string)."""
    for trigger in get_args(Trigger):
        if text == trigger:
            return trigger
    raise RuleBroken(f"trigger {text!r} is not one of {sorted(TRIGGERS)}", "trigger")


# --- the proposal -------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardVote:
    """The board's vote on the trigger: counts of members for, against and abstaining."""

    in_favour: int
    against: int
    abstain: int = 0
    decided_on: date | None = None

    @property
    def cast(self) -> int:
        return self.in_favour + self.against + self.abstain


@dataclass(frozen=True)
class Evidence:
    """What the trigger rests on. Dates are calendar dates (the agreements count months)."""

    board: BoardVote
    unavailable_since: date | None = None
    unavailable_until: date | None = None  # None: still unavailable today
    ceased_on: date | None = None
    publisher_statement: str | None = None


@dataclass(frozen=True)
class Proposal:
    """A request to release AUs (or every AU of a title) under a license, for a trigger."""

    trigger: str
    evidence: Evidence
    aus: tuple[str, ...] = ()
    title: str | None = None  # publisher/title
    license: str = DEFAULT_LICENSE

    def canonical(self) -> dict:
        d = asdict(self)
        d["aus"] = sorted(self.aus)
        return d


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def release_id(proposal: Proposal) -> str:
    """Content-derived: proposing the same thing twice names the same release."""
    return "rel-" + hashlib.sha256(_json(proposal.canonical()).encode()).hexdigest()[:16]


def add_months(d: date, months: int) -> date:
    """d plus whole calendar months, clamped to the month's last day (Aug 31 + 6 = Feb 28/29)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def board_problems(vote: BoardVote) -> list[BrokenRule]:
    """At least 75% of the votes cast in favour (abstentions count as cast), at most two against."""
    if vote.cast <= 0:
        return [
            BrokenRule(
                "evidence.board",
                "board-voted",
                "the board vote has no votes; give the counts for, against and abstain from the board's decision",
            )
        ]
    out = []
    if vote.against > BOARD_MAX_AGAINST:
        out.append(
            BrokenRule(
                "evidence.board.against",
                "board-at-most-two-against",
                f"{vote.against} board members voted against; a release needs no more than {BOARD_MAX_AGAINST} against",
            )
        )
    if vote.in_favour < BOARD_MAJORITY * vote.cast:
        share = 100 * vote.in_favour / vote.cast
        out.append(
            BrokenRule(
                "evidence.board.for",
                "board-three-quarters-in-favour",
                f"{vote.in_favour} of {vote.cast} votes in favour ({share:.0f}%); a release needs "
                f"at least {BOARD_MAJORITY:.0%} of the votes cast",
            )
        )
    return out


def proposal_problems(p: Proposal, today: date) -> list[BrokenRule]:
    """Every rule of the agreements the proposal breaks, each naming the field at fault."""
    out: list[BrokenRule] = []
    if bool(p.aus) == bool(p.title):
        out.append(
            BrokenRule(
                "aus",
                "aus-or-title",
                "name either the AUs to release (aus) or a whole title "
                "(title: publisher/title), not both and not neither",
            )
        )
    if p.trigger not in TRIGGERS:
        out.append(BrokenRule("trigger", "trigger-known", f"trigger {p.trigger!r} is not one of {sorted(TRIGGERS)}"))
    if p.license not in LICENSES:
        out.append(
            BrokenRule(
                "license",
                "creative-commons",
                f"license {p.license!r} is not a Creative Commons "
                f"license this archive publishes under; use one of {sorted(LICENSES)}",
            )
        )
    ev = p.evidence
    if p.trigger == "publisher-consent":
        if not (ev.publisher_statement or "").strip():
            out.append(
                BrokenRule(
                    "evidence.publisher_statement",
                    "consent-stated",
                    "a release with the publisher's consent needs the publisher's statement "
                    "(evidence.publisher_statement)",
                )
            )
    elif ev.unavailable_since is None:
        # Without the publisher's consent the content must have been unavailable for six
        # consecutive months, whatever else happened (a ceased publisher's site may linger).
        out.append(
            BrokenRule(
                "evidence.unavailable_since",
                "six-months-unavailable",
                f"without the publisher's consent the content must have been unavailable for "
                f"{MONTHS_UNAVAILABLE} consecutive months: give evidence.unavailable_since "
                "(and evidence.unavailable_until if it is available again)",
            )
        )
    else:
        until = ev.unavailable_until or today
        needed = add_months(ev.unavailable_since, MONTHS_UNAVAILABLE)
        if until > today:
            out.append(
                BrokenRule(
                    "evidence.unavailable_until",
                    "not-in-the-future",
                    f"evidence.unavailable_until {until} is in the future; give the last day the "
                    "content was seen unavailable, or leave it out if it still is",
                )
            )
        elif until < ev.unavailable_since:
            out.append(
                BrokenRule(
                    "evidence.unavailable_until",
                    "until-after-since",
                    "evidence.unavailable_until is before evidence.unavailable_since",
                )
            )
        elif until < needed:
            out.append(
                BrokenRule(
                    "evidence.unavailable_since",
                    "six-months-unavailable",
                    f"the content was unavailable from {ev.unavailable_since} to {until}, "
                    f"{(until - ev.unavailable_since).days} days; the agreement needs "
                    f"{MONTHS_UNAVAILABLE} consecutive months (until at least {needed}). "
                    f"Propose again on or after {needed}, or with the publisher's consent",
                )
            )
    if p.trigger == "publisher-ceased" and ev.ceased_on and ev.ceased_on > today:
        out.append(
            BrokenRule("evidence.ceased_on", "not-in-the-future", f"evidence.ceased_on {ev.ceased_on} is in the future")
        )
    return out + board_problems(ev.board)


def broken(problems: list[BrokenRule], what: str = "the proposal") -> RuleBroken:
    """One refusal listing every broken rule, its message saying what to do about them."""
    if len(problems) == 1:
        return RuleBroken(problems[0].message, errors=problems)
    return RuleBroken(
        f"{what} breaks {len(problems)} rules of the release agreements: fix each one listed "
        "under errors and send it again",
        errors=problems,
    )


def check_board(vote: BoardVote) -> None:
    problems = board_problems(vote)
    if problems:
        raise broken(problems, "the board's vote")


def check_proposal(p: Proposal, today: date) -> None:
    """The agreements' rules for a proposal; raises RuleBroken listing every rule broken."""
    problems = proposal_problems(p, today)
    if problems:
        raise broken(problems)


# --- the release --------------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    """One release and everything decided about it. Stored in the catalog as as_dict()."""

    id: str
    state: str
    proposal: Proposal
    aus: tuple[str, ...]  # resolved at proposal time (a title's AUs then)
    proposed_by: str  # the admin's principal ARN
    proposed_at: str
    approved_by: str | None = None
    approved_at: str | None = None
    withdrawn_by: str | None = None
    withdrawn_at: str | None = None
    withdrawal_reason: str | None = None
    reason: str | None = None  # why it was refused or failed
    progress: dict = field(default_factory=dict)  # {"step": ..., "done": n, "of": n, "polls": {au: status}}
    render_id: str | None = None  # the public render that first showed it
    published_at: str | None = None
    urls: dict = field(default_factory=dict)  # {"site": ..., "replay": ..., "titles": {...}}
    revision: int = 0  # optimistic concurrency in the catalog

    @property
    def titles(self) -> list[str]:
        return sorted({"/".join(a.split("/")[:2]) for a in self.aus})

    def as_dict(self) -> dict:
        return json.loads(_json(asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> Release:
        p = dict(d["proposal"])
        ev = dict(p["evidence"])
        board = dict(ev["board"])
        board["decided_on"] = _date(board.get("decided_on"))
        ev["board"] = BoardVote(**board)
        for k in ("unavailable_since", "unavailable_until", "ceased_on"):
            ev[k] = _date(ev.get(k))
        p["evidence"] = Evidence(**ev)
        p["aus"] = tuple(p.get("aus") or ())
        known = set(cls.__dataclass_fields__)
        rest = {k: v for k, v in d.items() if k in known and k != "proposal"}
        rest["aus"] = tuple(rest.get("aus") or ())
        return cls(proposal=Proposal(**p), **rest)

    def public_view(self) -> dict:
        """What GET /releases/{id} shows: everything but the revision counter."""
        d = self.as_dict()
        d.pop("revision", None)
        d["titles"] = self.titles
        return d


def _date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _at(now: datetime) -> str:
    return now.isoformat(timespec="seconds")


def resolve_aus(p: Proposal, known: Iterable[str]) -> tuple[str, ...]:
    """The AUs a proposal names, each checked against what the archive holds."""
    known = sorted(set(known))
    if p.title:
        prefix = p.title.strip("/") + "/"
        aus = tuple(a for a in known if a.startswith(prefix))
        if not aus:
            raise NoSuchRelease(
                f"the archive holds no AU of title {p.title!r}; a title is publisher/title, "
                "as `strongroom status` lists them",
                "title",
                "au-held",
            )
        return aus
    missing = [a for a in p.aus if a not in known]
    if missing:
        raise NoSuchRelease(
            f"the archive holds no AU {missing}; AU ids are publisher/title/au, see `strongroom status`",
            "aus",
            "au-held",
        )
    return tuple(sorted(set(p.aus)))


def propose(
    p: Proposal, actor: str, now: datetime, known_aus: Iterable[str], existing: Iterable[Release]
) -> tuple[Release, bool]:
    """A new release in state proposed, or the same one again (created=False) when this admin
    already proposed exactly this. 409 when its AUs are already in another active release."""
    check_proposal(p, now.date())
    rid = release_id(p)
    existing = list(existing)
    for r in existing:
        if r.id == rid:
            if r.state == WITHDRAWN:
                raise Conflict(
                    f"this exact proposal is release {rid}, which was withdrawn "
                    f"({r.withdrawal_reason}); a new release needs new evidence "
                    "(e.g. a new board decision)",
                    None,
                    "not-withdrawn",
                )
            if r.proposed_by != actor:
                raise Conflict(
                    f"release {rid} with this content was already proposed by "
                    f"{name_of(r.proposed_by)}; approve it instead",
                    None,
                    "proposed-once",
                )
            return r, False
    aus = resolve_aus(p, known_aus)
    for r in existing:
        overlap = sorted(set(aus) & set(r.aus))
        if overlap and r.state in ACTIVE:
            what = "already released" if r.state == PUBLISHED else f"in release {r.id} ({r.state})"
            raise Conflict(
                f"AU {', '.join(overlap)} is {what} (release {r.id}); withdraw that "
                "release first or leave these AUs out",
                "aus",
                "one-active-release",
            )
    return Release(id=rid, state=PROPOSED, proposal=p, aus=aus, proposed_by=actor, proposed_at=_at(now)), True


def approve(r: Release, actor: str, now: datetime) -> tuple[Release, bool]:
    """Approval by a second admin; the same admin approving again gets the same answer."""
    if r.approved_by is not None:
        if r.approved_by == actor:
            return r, False
        raise Conflict(
            f"release {r.id} was already approved by {name_of(r.approved_by)} (state {r.state})", None, "approved-once"
        )
    if r.state != PROPOSED:
        raise Conflict(f"release {r.id} is {r.state}; only a proposed release can be approved", None, "proposed-state")
    if actor == r.proposed_by:
        raise NotAllowed(
            f"{name_of(actor)} proposed release {r.id}; a different admin must approve it (two-person rule)",
            None,
            "two-person",
        )
    return replace(r, state=APPROVED, approved_by=actor, approved_at=_at(now), progress={"step": "queued"}), True


def withdraw(r: Release, actor: str, reason: str, now: datetime) -> tuple[Release, bool]:
    """A legal takedown (or the cancellation of a proposal): the content leaves the public
    surfaces at the next publish; the preserved copies are untouched."""
    if not (reason or "").strip():
        raise RuleBroken(
            "say why the release is withdrawn (reason): it is recorded as a PREMIS event", "reason", "reason-given"
        )
    if r.state == WITHDRAWN:
        return r, False
    return replace(
        r,
        state=WITHDRAWN,
        withdrawn_by=actor,
        withdrawn_at=_at(now),
        withdrawal_reason=reason.strip(),
        progress={**r.progress, "step": "withdrawing"},
    ), True


def can_run(r: Release) -> bool:
    """The flow runs approved releases, and re-runs ones that were interrupted or failed."""
    return r.state in (APPROVED, RUNNING, FAILED) and r.approved_by is not None


def name_of(principal: str | None) -> str:
    """alice for arn:aws:iam::1:user/alice (and for an assumed role's session name)."""
    return (principal or "").rsplit("/", 1)[-1] or "?"


# --- what is recorded -----------------------------------------------------------------------


def _event(
    kind: str, r: Release, au: str, step: str, outcome: premis.Outcome, detail: str, at: str, **extra
) -> premis.PremisEvent:
    # Deterministic identifiers: recording the same decision again (a retried request, a
    # re-run) does not duplicate it.
    ident = str(uuid.uuid5(uuid.NAMESPACE_URL, f"strongroom:release:{r.id}:{step}:{au}"))
    return premis.PremisEvent(
        type=kind,
        object=au,
        outcome=outcome,
        detail=detail,
        at=at,
        outcome_detail={"release": r.id, "step": step, **extra},
        identifier=ident,
    )


def decision_events(r: Release, step: str) -> list[premis.PremisEvent]:
    """The PREMIS events of one decision, one per AU: proposed, approved, published, refused,
    failed (release events) or withdrawn (withdrawal events)."""
    trig = r.proposal.trigger
    lic = r.proposal.license
    if step == "proposed":
        return [
            _event(
                "release",
                r,
                au,
                step,
                "success",
                f"release proposed by {name_of(r.proposed_by)}: {TRIGGERS[trig]}; license {lic}",
                r.proposed_at,
                actor=r.proposed_by,
                trigger=trig,
                license=lic,
                evidence=json.loads(_json(asdict(r.proposal.evidence))),
            )
            for au in r.aus
        ]
    if step == "approved":
        return [
            _event(
                "release",
                r,
                au,
                step,
                "success",
                f"release approved by {name_of(r.approved_by)}",
                r.approved_at or "",
                actor=r.approved_by,
            )
            for au in r.aus
        ]
    if step == "published":
        return [
            _event(
                "release",
                r,
                au,
                step,
                "success",
                f"published on the public site and replay (render {r.render_id})",
                r.published_at or "",
                render=r.render_id,
            )
            for au in r.aus
        ]
    if step in ("refused", "failed"):
        at = r.progress.get("at", "")
        return [_event("release", r, au, step, "failure", f"release {step}: {r.reason}", at) for au in r.aus]
    if step == "withdrawn":
        return [
            _event(
                "withdrawal",
                r,
                au,
                step,
                "success",
                f"withdrawn by {name_of(r.withdrawn_by)}: {r.withdrawal_reason}",
                r.withdrawn_at or "",
                actor=r.withdrawn_by,
                reason=r.withdrawal_reason,
            )
            for au in r.aus
        ]
    raise ValueError(f"no events for step {step!r}")


# --- verifying a decision ------------------------------------------------------------------

# What the API decided and journalled; the flow's own progress (state, polls, render) is not among them.
PROPOSAL_FIELDS = ("id", "proposal", "aus", "proposed_by", "proposed_at")
DECISION_FIELDS = PROPOSAL_FIELDS + ("approved_by", "approved_at")


def _agrees(r: Release, journal_doc: dict, fields: tuple[str, ...]) -> None:
    mine = r.as_dict()
    for name in fields:
        if mine.get(name) != journal_doc.get(name):
            raise Unverified(
                f"release {r.id}: its {name} in the catalog is not what the decision journal "
                f"(releases/{r.id}.json) recorded; the catalog record was changed around the API. "
                "Withdraw it, or restore the catalog from the journal (`strongroom up` does)",
                name,
            )


def verify_proposal(r: Release, journal_doc: dict | None) -> None:
    """The proposal the record claims was made through the API: its journal copy says the same,
    and its id is its content's."""
    if journal_doc is None:
        raise Unverified(
            f"release {r.id} has no copy in the decision journal (releases/{r.id}.json in the "
            "ingest bucket): it was not proposed through the release API. Propose it with "
            "`strongroom release propose`",
            "id",
        )
    if r.id != release_id(r.proposal):
        raise Unverified(f"release {r.id} is not the id of its own proposal ({release_id(r.proposal)})", "id")
    _agrees(r, journal_doc, PROPOSAL_FIELDS)


def verify_decision(r: Release, journal_doc: dict | None, admins: Iterable[str] | None = None) -> None:
    """Re-check, before anything is published, that r is a decision the archive made: proposed by
    one admin and approved by another (both in admins, when given), within the rules, and
    recorded so in the journal. Raises Unverified saying what is wrong."""
    verify_proposal(r, journal_doc)
    assert journal_doc is not None
    if not r.proposed_by or not r.approved_by:
        raise Unverified(
            f"release {r.id} has no {'proposer' if not r.proposed_by else 'approval'}; "
            "a release needs a proposal by one admin and an approval by another",
            "approved_by",
        )
    if r.proposed_by == r.approved_by:
        raise Unverified(
            f"release {r.id} was proposed and approved by the same principal "
            f"({name_of(r.proposed_by)}); two-person rule",
            "approved_by",
        )
    if admins is not None:
        admins = set(admins)
        for field_name, who in (("proposed_by", r.proposed_by), ("approved_by", r.approved_by)):
            if who not in admins:
                raise Unverified(f"release {r.id}: {who} is not a release admin (STRONGROOM_ADMIN_ARNS)", field_name)
    try:
        proposed = datetime.fromisoformat(r.proposed_at)
        approved = datetime.fromisoformat(r.approved_at or "")
    except ValueError:
        raise Unverified(f"release {r.id}: proposed_at/approved_at are not timestamps", "approved_at") from None
    if approved < proposed:
        raise Unverified(f"release {r.id} was approved before it was proposed", "approved_at")
    try:
        check_proposal(r.proposal, proposed.date())
    except ReleaseError as e:
        raise Unverified(f"release {r.id} breaks the release rules: {e.message}", e.field) from None
    if r.proposal.aus and set(r.aus) != set(r.proposal.aus):
        raise Unverified(f"release {r.id} lists AUs its proposal does not name", "aus")
    if r.proposal.title and not all(a.startswith(r.proposal.title.strip("/") + "/") for a in r.aus):
        raise Unverified(f"release {r.id} lists AUs outside its title {r.proposal.title}", "aus")
    _agrees(r, journal_doc, DECISION_FIELDS)


def public_aus(releases: Iterable[Release], including: Release | None = None) -> dict[str, Release]:
    """AU id -> the release that makes it public: every published release, plus `including`
    (the one being published now). Withdrawn releases are left out, so their AUs go dark."""
    out: dict[str, Release] = {}
    for r in releases:
        if r.state in PUBLIC and (including is None or r.id != including.id):
            for au in r.aus:
                out[au] = r
    if including is not None and including.state != WITHDRAWN:
        for au in including.aus:
            out[au] = including
    return out
