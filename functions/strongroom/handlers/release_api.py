"""Lambda: the admins' release API (API Gateway REST, AWS_IAM auth).

    POST /releases                   propose (AUs or a whole title, trigger, evidence, license)
    POST /releases/{id}/approve      approve: a different admin; then the release runs
    GET  /releases                   every release
    GET  /releases/{id}              one release: state, progress, public URLs
    POST /releases/{id}/withdraw     legal takedown: the content leaves site and replay

Thin: pydantic models parse the request (422 naming the field), the caller is identified
from requestContext.identity, and strongroom.flows.release applies the rules. Who is an admin:
the caller's IAM principal ARN (identity.userArn, which API Gateway fills only for a valid
SigV4 signature) must be in STRONGROOM_ADMIN_ARNS; a publisher's or anyone else's
credentials get 403. Every call is idempotent: release ids are derived from the proposal's
content, and repeating an approval or a withdrawal gives the same answer.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from strongroom.config import environment
from strongroom.domain import release as rules
from strongroom.domain.release import (
    BoardVote,
    Conflict,
    Evidence,
    NoSuchRelease,
    NotAllowed,
    Proposal,
    ReleaseError,
    RuleBroken,
    Unauthenticated,
)
from strongroom.handlers import compose as composition

logger = Logger(service="strongroom-release-api")
app = APIGatewayRestResolver(enable_validation=True)

ADMINS_ENV = "STRONGROOM_ADMIN_ARNS"
AU_PATTERN = r"^[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*$"
TITLE_PATTERN = r"^[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*$"
ID_PATTERN = r"^rel-[0-9a-f]{16}$"
ReleaseIdParam = Annotated[str, PathParam(pattern=ID_PATTERN, description="a release id, rel-<16 hex>")]


# --- the request and answer shapes (they make docs/openapi.json) ------------------------

class BoardIn(BaseModel):
    """The board's vote on the trigger (CLOCKSS: at least 75% in favour, at most two against)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    in_favour: int = Field(alias="for", ge=0, le=1000)
    against: int = Field(ge=0, le=1000)
    abstain: int = Field(0, ge=0, le=1000)
    decided_on: date | None = None


class EvidenceIn(BaseModel):
    """What the trigger rests on."""

    model_config = ConfigDict(extra="forbid")
    board: BoardIn
    unavailable_since: date | None = Field(None, description="first day the content was unavailable")
    unavailable_until: date | None = Field(None, description="last day seen unavailable; omit if it still is")
    ceased_on: date | None = Field(None, description="when the publisher ceased publishing")
    publisher_statement: str | None = Field(None, max_length=20000,
                                               description="the publisher's statement (consent, or ceasing)")


class ProposalIn(BaseModel):
    """Release AUs, or every AU of a title, for a trigger event, under a Creative Commons license."""

    model_config = ConfigDict(extra="forbid")
    aus: list[Annotated[str, Field(pattern=AU_PATTERN)]] | None = Field(None, min_length=1, max_length=1000)
    title: str | None = Field(None, pattern=TITLE_PATTERN, description="publisher/title: every AU of it")
    trigger: Literal["publisher-ceased", "unavailable-6-months", "publisher-consent"]
    evidence: EvidenceIn
    license: Literal[tuple(rules.LICENSES)] = rules.DEFAULT_LICENSE  # type: ignore[valid-type]


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=5000, description="why (e.g. the court order); recorded")


class ReleaseOut(BaseModel):
    id: str
    state: Literal[rules.STATES]  # type: ignore[valid-type]
    aus: list[str]
    titles: list[str]
    proposal: dict
    proposed_by: str
    proposed_at: str
    approved_by: str | None = None
    approved_at: str | None = None
    withdrawn_by: str | None = None
    withdrawn_at: str | None = None
    withdrawal_reason: str | None = None
    reason: str | None = None
    progress: dict = {}
    render_id: str | None = None
    published_at: str | None = None
    urls: dict = {}


class ReleaseList(BaseModel):
    releases: list[ReleaseOut]


class ErrorOut(BaseModel):
    error: str
    field: str | None = None
    status: int


ERRORS: dict[int, OpenAPIResponse] = {401: {"description": "not signed", "content": {"application/json": {"schema": ErrorOut.model_json_schema()}}},
          403: {"description": "not an admin, or the proposer approving their own release"},
          404: {"description": "no such release or AU"},
          409: {"description": "already released, in another release, or approved by someone else"},
          422: {"description": "malformed, or against the agreements' rules; names the field"}}


# --- who is calling ------------------------------------------------------------------------

def admins() -> set[str]:
    return set(environment().admin_arns)


def caller() -> str:
    """The admin's principal ARN, or ReleaseError 401/403."""
    identity = app.current_event.request_context.identity
    arn = identity.user_arn if identity else None
    if not arn:
        raise Unauthenticated("the request is not signed: sign it with SigV4 (service execute-api) "
                                "using an admin's keys, e.g. `strongroom release … --as alice`")
    if arn not in admins():
        raise NotAllowed(f"{arn} is not a release admin; only admins may propose, approve or withdraw "
                                f"releases (see {ADMINS_ENV})")
    return arn


# --- routes --------------------------------------------------------------------------------

def _service():

    return composition.release_service()


def _answer(status: int, r: rules.Release) -> Response:
    return Response(status_code=status, content_type="application/json", body=ReleaseOut(**r.public_view()))


def _proposal(body: ProposalIn) -> Proposal:
    ev, b = body.evidence, body.evidence.board
    return Proposal(trigger=body.trigger, license=body.license, aus=tuple(body.aus or ()), title=body.title,
                    evidence=Evidence(board=BoardVote(b.in_favour, b.against, b.abstain, b.decided_on),
                                      unavailable_since=ev.unavailable_since, unavailable_until=ev.unavailable_until,
                                      ceased_on=ev.ceased_on, publisher_statement=ev.publisher_statement))


@app.post("/releases", summary="Propose a release", responses={201: {"description": "proposed"},
                                                               200: {"description": "the same proposal again"},
                                                               **ERRORS})
def propose(body: ProposalIn) -> Response[ReleaseOut]:
    who = caller()
    r, created = _service().propose(_proposal(body), who)
    logger.info("release proposed", extra={"release": r.id, "by": who, "new": created})
    return _answer(201 if created else 200, r)


@app.post("/releases/<release_id>/approve", summary="Approve a release (a different admin); it then runs",
          responses={202: {"description": "approved; the release runs"}, **ERRORS})
def approve(release_id: ReleaseIdParam) -> Response[ReleaseOut]:
    who = caller()
    r, changed = _service().approve(release_id, who)
    logger.info("release approved", extra={"release": r.id, "by": who, "changed": changed})
    return _answer(202, r)


@app.post("/releases/<release_id>/withdraw", summary="Withdraw a release (legal takedown)",
          responses={202: {"description": "withdrawn; the content leaves the public surfaces"}, **ERRORS})
def withdraw(release_id: ReleaseIdParam, body: WithdrawIn) -> Response[ReleaseOut]:
    who = caller()
    r, changed = _service().withdraw(release_id, who, body.reason)
    logger.info("release withdrawn", extra={"release": r.id, "by": who, "changed": changed})
    return _answer(202, r)


@app.get("/releases", summary="List releases", responses=ERRORS)
def list_releases() -> ReleaseList:
    caller()
    return ReleaseList(releases=[ReleaseOut(**r.public_view()) for r in _service().releases()])


@app.get("/releases/<release_id>", summary="A release: state, progress, public URLs", responses=ERRORS)
def get_release(release_id: ReleaseIdParam) -> ReleaseOut:
    caller()
    return ReleaseOut(**_service().get(release_id).public_view())


# Each kind of refusal and the status API Gateway's callers get for it.
STATUS = {Unauthenticated: 401, NotAllowed: 403, NoSuchRelease: 404, Conflict: 409, RuleBroken: 422}


@app.exception_handler(ReleaseError)
def refused(e: ReleaseError) -> Response:
    status = next((code for kind, code in STATUS.items() if isinstance(e, kind)), 400)
    return Response(status_code=status, content_type="application/json", body=ErrorOut(**e.as_dict(), status=status))


def openapi_json() -> str:
    """docs/openapi.json: generated from the routes above (tests fail when it drifts)."""
    return app.get_openapi_json_schema(title="strongroom release API", version="1.0.0",
                                       description="Admins propose, approve, inspect and withdraw releases. "
                                                   "Every request is signed with SigV4 (AWS_IAM).")


@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)


if __name__ == "__main__":  # python -m strongroom.handlers.release_api > docs/openapi.json
    print(openapi_json())
