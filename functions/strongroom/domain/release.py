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
from strongroom.domain.errors import StrongroomError

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
    "CC-BY-SA-4.0": ("https://creativecommons.org/licenses/by-sa/4.0/",
                     "Creative Commons Attribution-ShareAlike 4.0 International"),
    "CC-BY-NC-4.0": ("https://creativecommons.org/licenses/by-nc/4.0/",
                     "Creative Commons Attribution-NonCommercial 4.0 International"),
    "CC-BY-NC-SA-4.0": ("https://creativecommons.org/licenses/by-nc-sa/4.0/",
                        "Creative Commons Attribution-NonCommercial-ShareAlike 4.0 International"),
    "CC-BY-ND-4.0": ("https://creativecommons.org/licenses/by-nd/4.0/",
                     "Creative Commons Attribution-NoDerivatives 4.0 International"),
    "CC-BY-NC-ND-4.0": ("https://creativecommons.org/licenses/by-nc-nd/4.0/",
                        "Creative Commons Attribution-NonCommercial-NoDerivatives 4.0 International"),
    "CC0-1.0": ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0 1.0 Universal"),
}
DEFAULT_LICENSE = "CC-BY-4.0"
MONTHS_UNAVAILABLE = 6
BOARD_MAJORITY = 0.75
BOARD_MAX_AGAINST = 2

PROPOSED, APPROVED, RUNNING, PUBLISHED, REFUSED, FAILED, WITHDRAWN = (
    "proposed", "approved", "running", "published", "refused", "failed", "withdrawn")
STATES = (PROPOSED, APPROVED, RUNNING, PUBLISHED, REFUSED, FAILED, WITHDRAWN)
# States that hold their AUs: another release of the same AU is a conflict meanwhile.
ACTIVE = (PROPOSED, APPROVED, RUNNING, PUBLISHED, FAILED)
# States whose AUs the public surfaces show.
PUBLIC = (PUBLISHED,)


class ReleaseError(StrongroomError):
    """A refused request: the field at fault (dotted, None for the whole request) and a message
    that says what to do. Its kind (the subclass) says why; the API maps kinds to statuses."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def as_dict(self) -> dict:
        return {"error": self.message, "field": self.field}


class Unauthenticated(ReleaseError):
    """The caller did not say who it is."""


class NotAllowed(ReleaseError):
    """The caller is known but may not do this (not an admin; approving its own proposal)."""


class NoSuchRelease(ReleaseError):
    """No release (or AU) by that name."""


class Conflict(ReleaseError):
    """The request is valid but the archive's state forbids it now (e.g. the AU is in another release)."""


class RuleBroken(ReleaseError):
    """The request breaks a rule of the agreements (CLOCKSS's triggers, the board's vote, a field's form)."""


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


def check_board(vote: BoardVote) -> None:
    """At least 75% of the votes cast in favour (abstentions count as cast), at most two against."""
    if vote.cast <= 0:
        raise RuleBroken("the board vote has no votes; give the counts for, against and abstain "
                                "from the board's decision", "evidence.board")
    if vote.against > BOARD_MAX_AGAINST:
        raise RuleBroken(f"{vote.against} board members voted against; a release needs no more than "
                                f"{BOARD_MAX_AGAINST} against", "evidence.board.against")
    if vote.in_favour < BOARD_MAJORITY * vote.cast:
        share = 100 * vote.in_favour / vote.cast
        raise RuleBroken(f"{vote.in_favour} of {vote.cast} votes in favour ({share:.0f}%); a release needs "
                                f"at least {BOARD_MAJORITY:.0%} of the votes cast", "evidence.board.for")


def check_proposal(p: Proposal, today: date) -> None:
    """The agreements' rules for a proposal; raises ReleaseError naming the field at fault."""
    if bool(p.aus) == bool(p.title):
        raise RuleBroken("name either the AUs to release (aus) or a whole title (title: publisher/title), "
                                "not both and not neither", "aus")
    if p.trigger not in TRIGGERS:
        raise RuleBroken(f"trigger {p.trigger!r} is not one of {sorted(TRIGGERS)}", "trigger")
    if p.license not in LICENSES:
        raise RuleBroken(f"license {p.license!r} is not a Creative Commons license this archive "
                                f"publishes under; use one of {sorted(LICENSES)}", "license")
    ev = p.evidence
    if p.trigger == "publisher-consent":
        if not (ev.publisher_statement or "").strip():
            raise RuleBroken("a release with the publisher's consent needs the publisher's statement "
                                    "(evidence.publisher_statement)", "evidence.publisher_statement")
    else:
        # Without the publisher's consent the content must have been unavailable for six
        # consecutive months, whatever else happened (a ceased publisher's site may linger).
        if ev.unavailable_since is None:
            raise RuleBroken(f"without the publisher's consent the content must have been unavailable for "
                                    f"{MONTHS_UNAVAILABLE} consecutive months: give evidence.unavailable_since "
                                    "(and evidence.unavailable_until if it is available again)",
                               "evidence.unavailable_since")
        until = ev.unavailable_until or today
        if until > today:
            raise RuleBroken(f"evidence.unavailable_until {until} is in the future; give the last day the "
                                    "content was seen unavailable, or leave it out if it still is",
                               "evidence.unavailable_until")
        if until < ev.unavailable_since:
            raise RuleBroken("evidence.unavailable_until is before evidence.unavailable_since",
                               "evidence.unavailable_until")
        needed = add_months(ev.unavailable_since, MONTHS_UNAVAILABLE)
        if until < needed:
            raise RuleBroken(f"the content was unavailable from {ev.unavailable_since} to {until}, "
                                    f"{(until - ev.unavailable_since).days} days; the agreement needs "
                                    f"{MONTHS_UNAVAILABLE} consecutive months (until at least {needed}). "
                                    f"Propose again on or after {needed}, or with the publisher's consent",
                               "evidence.unavailable_since")
        if p.trigger == "publisher-ceased" and ev.ceased_on and ev.ceased_on > today:
            raise RuleBroken(f"evidence.ceased_on {ev.ceased_on} is in the future", "evidence.ceased_on")
    check_board(ev.board)


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
            raise NoSuchRelease(f"the archive holds no AU of title {p.title!r}; titles are "
                                    f"{sorted({'/'.join(a.split('/')[:2]) for a in known})}", "title")
        return aus
    missing = [a for a in p.aus if a not in known]
    if missing:
        raise NoSuchRelease(f"the archive holds no AU {missing}; AU ids are publisher/title/au, "
                                "see `strongroom status`", "aus")
    return tuple(sorted(set(p.aus)))


def propose(p: Proposal, actor: str, now: datetime, known_aus: Iterable[str],
            existing: Iterable[Release]) -> tuple[Release, bool]:
    """A new release in state proposed, or the same one again (created=False) when this admin
    already proposed exactly this. 409 when its AUs are already in another active release."""
    check_proposal(p, now.date())
    rid = release_id(p)
    existing = list(existing)
    for r in existing:
        if r.id == rid:
            if r.state == WITHDRAWN:
                raise Conflict(f"this exact proposal is release {rid}, which was withdrawn "
                                        f"({r.withdrawal_reason}); a new release needs new evidence "
                                        "(e.g. a new board decision)", None)
            if r.proposed_by != actor:
                raise Conflict(f"release {rid} with this content was already proposed by "
                                        f"{name_of(r.proposed_by)}; approve it instead", None)
            return r, False
    aus = resolve_aus(p, known_aus)
    for r in existing:
        overlap = sorted(set(aus) & set(r.aus))
        if overlap and r.state in ACTIVE:
            what = "already released" if r.state == PUBLISHED else f"in release {r.id} ({r.state})"
            raise Conflict(f"AU {', '.join(overlap)} is {what} (release {r.id}); withdraw that "
                                    "release first or leave these AUs out", "aus")
    return Release(id=rid, state=PROPOSED, proposal=p, aus=aus, proposed_by=actor, proposed_at=_at(now)), True


def approve(r: Release, actor: str, now: datetime) -> tuple[Release, bool]:
    """Approval by a second admin; the same admin approving again gets the same answer."""
    if r.approved_by is not None:
        if r.approved_by == actor:
            return r, False
        raise Conflict(f"release {r.id} was already approved by {name_of(r.approved_by)} "
                                f"(state {r.state})")
    if r.state != PROPOSED:
        raise Conflict(f"release {r.id} is {r.state}; only a proposed release can be approved")
    if actor == r.proposed_by:
        raise NotAllowed(f"{name_of(actor)} proposed release {r.id}; a different admin must approve it "
                                "(two-person rule)")
    return replace(r, state=APPROVED, approved_by=actor, approved_at=_at(now),
                   progress={"step": "queued"}), True


def withdraw(r: Release, actor: str, reason: str, now: datetime) -> tuple[Release, bool]:
    """A legal takedown (or the cancellation of a proposal): the content leaves the public
    surfaces at the next publish; the preserved copies are untouched."""
    if not (reason or "").strip():
        raise RuleBroken("say why the release is withdrawn (reason): it is recorded as a PREMIS event",
                           "reason")
    if r.state == WITHDRAWN:
        return r, False
    return replace(r, state=WITHDRAWN, withdrawn_by=actor, withdrawn_at=_at(now),
                   withdrawal_reason=reason.strip(), progress={**r.progress, "step": "withdrawing"}), True


def can_run(r: Release) -> bool:
    """The flow runs approved releases, and re-runs ones that were interrupted or failed."""
    return r.state in (APPROVED, RUNNING, FAILED) and r.approved_by is not None


def name_of(principal: str | None) -> str:
    """alice for arn:aws:iam::1:user/alice (and for an assumed role's session name)."""
    return (principal or "").rsplit("/", 1)[-1] or "?"


# --- what is recorded -----------------------------------------------------------------------

def _event(kind: str, r: Release, au: str, step: str, outcome: premis.Outcome, detail: str, at: str,
           **extra) -> premis.PremisEvent:
    # Deterministic identifiers: recording the same decision again (a retried request, a
    # re-run) does not duplicate it.
    ident = str(uuid.uuid5(uuid.NAMESPACE_URL, f"strongroom:release:{r.id}:{step}:{au}"))
    return premis.PremisEvent(type=kind, object=au, outcome=outcome, detail=detail, at=at,
                              outcome_detail={"release": r.id, "step": step, **extra}, identifier=ident)


def decision_events(r: Release, step: str) -> list[premis.PremisEvent]:
    """The PREMIS events of one decision, one per AU: proposed, approved, published, refused,
    failed (release events) or withdrawn (withdrawal events)."""
    trig = r.proposal.trigger
    lic = r.proposal.license
    if step == "proposed":
        return [_event("release", r, au, step, "success",
                       f"release proposed by {name_of(r.proposed_by)}: {TRIGGERS[trig]}; license {lic}",
                       r.proposed_at, actor=r.proposed_by, trigger=trig, license=lic,
                       evidence=json.loads(_json(asdict(r.proposal.evidence)))) for au in r.aus]
    if step == "approved":
        return [_event("release", r, au, step, "success", f"release approved by {name_of(r.approved_by)}",
                       r.approved_at or "", actor=r.approved_by) for au in r.aus]
    if step == "published":
        return [_event("release", r, au, step, "success", f"published on the public site and replay "
                       f"(render {r.render_id})", r.published_at or "", render=r.render_id) for au in r.aus]
    if step in ("refused", "failed"):
        at = r.progress.get("at", "")
        return [_event("release", r, au, step, "failure", f"release {step}: {r.reason}", at) for au in r.aus]
    if step == "withdrawn":
        return [_event("withdrawal", r, au, step, "success",
                       f"withdrawn by {name_of(r.withdrawn_by)}: {r.withdrawal_reason}", r.withdrawn_at or "",
                       actor=r.withdrawn_by, reason=r.withdrawal_reason) for au in r.aus]
    raise ValueError(f"no events for step {step!r}")


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
