"""Lambda: the admins' release API (API Gateway REST, AWS_IAM auth).

    POST /releases                   propose (AUs or a whole title, trigger, evidence, license)
    POST /releases/{id}/approve      approve: a different admin; then the release runs
    GET  /releases                   every release
    GET  /releases/{id}              one release: state, progress, public URLs
    POST /releases/{id}/withdraw     legal takedown: the content leaves site and replay

Thin: pydantic models parse the request (422 naming every field at fault), the caller is identified
from requestContext.identity, and strongroom.flows.release applies the rules. Who is an admin:
the caller's IAM principal ARN (identity.userArn, which API Gateway fills only for a valid
SigV4 signature) must be in STRONGROOM_ADMIN_ARNS; a publisher's or anyone else's
credentials get 403. Every call is idempotent: release ids are derived from the proposal's
content, and repeating an approval or a withdrawal gives the same answer.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from strongroom.config import environment
from strongroom.domain import json_body
from strongroom.domain import release as rules
from strongroom.domain.errors import (
    BrokenRule,
    Conflict,
    NoSuchRelease,
    NotAllowed,
    Refused,
    RuleBroken,
    TooLarge,
    Unauthenticated,
    Unreadable,
    error_body,
)
from strongroom.domain.release import BoardVote, Evidence, Proposal
from strongroom.handlers import compose as composition

logger = Logger(service="strongroom-release-api")

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
    publisher_statement: str | None = Field(
        None, max_length=20000, description="the publisher's statement (consent, or ceasing)"
    )


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


class BrokenRuleOut(BaseModel):
    field: str | None = Field(
        description="the request field at fault, dotted (evidence.board.for); null for the whole request"
    )
    rule: str = Field(description="the rule's short name")
    message: str = Field(description="what is wrong with this field and what to do")


class ErrorOut(BaseModel):
    """Every error answer, from this function and from API Gateway alike."""

    message: str = Field(description="what is wrong and what to do")
    errors: list[BrokenRuleOut] = Field(description="every rule the request broke, each with its field")


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"model": ErrorOut}}}


# Each error answer of the API. 403 is also API Gateway's own answer to an unsigned or badly
# signed request (and to an unknown route or method): x-amzn-ErrorType says which.
_ERRORS = {
    400: _error("the body is not JSON, or nested deeper than 32 levels"),
    403: _error(
        "not signed (MissingAuthenticationTokenException), a bad signature "
        "(InvalidSignatureException, IncompleteSignatureException), an unknown access key "
        "(UnrecognizedClientException), not an admin, or the proposer approving their own release"
    ),
    404: _error("no such release or AU"),
    409: _error("already released, in another release, or approved by someone else"),
    413: _error("the body is larger than 1 MB"),
    415: _error("the body is neither JSON nor a form (Content-Type)"),
    422: _error("malformed, or against the agreements' rules; lists every field at fault"),
}


def errors(*statuses: int) -> dict:
    """The error answers a route can give (every route can give 403)."""
    return {status: doc for status, doc in _ERRORS.items() if status in (403, *statuses)}


app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=json_body.loads)


# --- who is calling ------------------------------------------------------------------------


def admins() -> set[str]:
    return set(environment().admin_arns)


def caller() -> str:
    """The admin's principal ARN, or Unauthenticated / NotAllowed."""
    identity = app.current_event.request_context.identity
    arn = identity.user_arn if identity else None
    if not arn:
        raise Unauthenticated(
            "the request is not signed: sign it with SigV4 (service execute-api) "
            "using an admin's keys, e.g. `strongroom release … --as alice`",
            "Authorization",
        )
    if arn not in admins():
        raise NotAllowed(
            f"{arn} is not a release admin; only admins may propose, approve or withdraw releases (see {ADMINS_ENV})",
            "Authorization",
            "admin",
        )
    return arn


# --- routes --------------------------------------------------------------------------------


def _service():

    return composition.release_service()


def _answer(status: int, r: rules.Release) -> Response:
    return Response(status_code=status, content_type="application/json", body=ReleaseOut(**r.public_view()))


def _proposal(body: ProposalIn) -> Proposal:
    ev, b = body.evidence, body.evidence.board
    return Proposal(
        trigger=body.trigger,
        license=body.license,
        aus=tuple(body.aus or ()),
        title=body.title,
        evidence=Evidence(
            board=BoardVote(b.in_favour, b.against, b.abstain, b.decided_on),
            unavailable_since=ev.unavailable_since,
            unavailable_until=ev.unavailable_until,
            ceased_on=ev.ceased_on,
            publisher_statement=ev.publisher_statement,
        ),
    )


@app.post(
    "/releases",
    summary="Propose a release",
    responses={
        201: {"description": "proposed"},
        200: {"description": "the same proposal again"},
        **errors(400, 404, 409, 413, 415, 422),
    },
)
def propose(body: ProposalIn) -> Response[ReleaseOut]:
    who = caller()
    r, created = _service().propose(_proposal(body), who)
    logger.info("release proposed", extra={"release": r.id, "by": who, "new": created})
    return _answer(201 if created else 200, r)


@app.post(
    "/releases/<release_id>/approve",
    summary="Approve a release (a different admin); it then runs",
    responses={202: {"description": "approved; the release runs"}, **errors(404, 409, 422)},
)
def approve(release_id: ReleaseIdParam) -> Response[ReleaseOut]:
    who = caller()
    r, changed = _service().approve(release_id, who)
    logger.info("release approved", extra={"release": r.id, "by": who, "changed": changed})
    return _answer(202, r)


@app.post(
    "/releases/<release_id>/withdraw",
    summary="Withdraw a release (legal takedown)",
    responses={
        202: {"description": "withdrawn; the content leaves the public surfaces"},
        **errors(400, 404, 413, 415, 422),
    },
)
def withdraw(release_id: ReleaseIdParam, body: WithdrawIn) -> Response[ReleaseOut]:
    who = caller()
    r, changed = _service().withdraw(release_id, who, body.reason)
    logger.info("release withdrawn", extra={"release": r.id, "by": who, "changed": changed})
    return _answer(202, r)


@app.get(
    "/releases", summary="List releases", responses={200: {"description": "every release, oldest first"}, **errors()}
)
def list_releases() -> ReleaseList:
    caller()
    return ReleaseList(releases=[ReleaseOut(**r.public_view()) for r in _service().releases()])


@app.get(
    "/releases/<release_id>",
    summary="A release: state, progress, public URLs",
    responses={200: {"description": "the release"}, **errors(404, 422)},
)
def get_release(release_id: ReleaseIdParam) -> ReleaseOut:
    caller()
    return ReleaseOut(**_service().get(release_id).public_view())


# Each kind of refusal and the status its callers get, in this one place. An unsigned request
# is 403, as API Gateway answers it (with AWS_IAM auth it never reaches this function).
STATUS = {
    Unauthenticated: 403,
    NotAllowed: 403,
    NoSuchRelease: 404,
    Conflict: 409,
    RuleBroken: 422,
    Unreadable: 400,
    TooLarge: 413,
}


def _error_response(status: int, body: dict) -> Response:
    return Response(status_code=status, content_type="application/json", body=body)


@app.exception_handler(Refused)
def refused(e: Refused) -> Response:
    status = next((code for kind, code in STATUS.items() if isinstance(e, kind)), 400)
    return _error_response(status, e.body())


def _field(loc) -> str | None:
    """pydantic's location of an error as the request's dotted field (body.evidence.board.for -> evidence.board.for)."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "path", "query", "header"):
        parts = parts[1:]
    return ".".join(parts) or None


@app.exception_handler(RequestValidationError)
def malformed(e: RequestValidationError) -> Response:
    """pydantic's findings, every one, in the one error shape (never the input's values: they may be huge)."""
    problems = [
        BrokenRule(_field(err.get("loc", ())), str(err.get("type", "invalid")), str(err.get("msg", "invalid value")))
        for err in e.errors()
    ]
    if any(p.rule == "json_invalid" for p in problems):
        return _error_response(
            400,
            error_body(
                "the request body is not JSON: send a JSON document with Content-Type: application/json", problems
            ),
        )
    fields = sorted({p.field or "the request" for p in problems})
    message = (
        f"the request does not have the form this API takes ({len(problems)} "
        f"{'problem' if len(problems) == 1 else 'problems'}, in {', '.join(fields)}): fix each one listed "
        "under errors (docs/openapi.json describes every field) and send it again"
    )
    return _error_response(422, error_body(message, problems))


@app.exception_handler(RequestUnsupportedContentType)
def unsupported(_e: RequestUnsupportedContentType) -> Response:
    kind = app.current_event.headers.get("content-type", "")
    return _error_response(
        415,
        error_body(
            f"a body of Content-Type {kind!r} is not read here: send JSON with Content-Type: application/json",
            [BrokenRule("Content-Type", "application/json", "send application/json")],
        ),
    )


@app.not_found
def no_route(_e) -> Response:
    """Behind API Gateway unreachable (it answers 403 first); said plainly for a misrouted event."""
    path = app.current_event.path
    return _error_response(
        404,
        error_body(
            f"no route {app.current_event.http_method} {path}: the routes are in docs/openapi.json",
            [BrokenRule(None, "route", f"no route {path}")],
        ),
    )


# How OpenAPI tools (and API Gateway's importer) name AWS_IAM auth: an Authorization header
# holding a SigV4 signature.
SIGV4 = APIKey.model_validate(
    {
        "name": "Authorization",
        "in": APIKeyIn.header,
        "description": "AWS Signature Version 4 (service execute-api) with the keys of an IAM principal listed as a "
        "release admin",
        "x-amazon-apigateway-authtype": "awsSigv4",
    }
)


def openapi_json() -> str:
    """docs/openapi.json: generated from the routes above (tests fail when it drifts).

    Powertools documents a 422 (its own HTTPValidationError) on every route; here a 422 is an
    ErrorOut, and a route with no parameters and no body has none, so that one is left out,
    with the schemas nothing refers to any more."""
    doc = json.loads(
        app.get_openapi_json_schema(
            title="strongroom release API",
            version="1.0.0",
            description="Admins propose, approve, inspect and withdraw releases. Every request is signed with "
            "SigV4 (service execute-api, API Gateway's AWS_IAM auth); every answer carries "
            "x-amzn-RequestId, and every error the one body shape ErrorOut.",
            security_schemes={"sigv4": SIGV4},
            security=[{"sigv4": []}],
        )
    )
    for operations in doc["paths"].values():
        for operation in operations.values():
            if not operation.get("parameters") and "requestBody" not in operation:
                operation["responses"].pop("422", None)
    schemas = doc["components"]["schemas"]
    while unused := [name for name in schemas if f'"#/components/schemas/{name}"' not in json.dumps(doc)]:
        for name in unused:  # a schema never refers to itself: unreferenced means unused
            del schemas[name]
    return json.dumps(doc, indent=2)


@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)


if __name__ == "__main__":  # python -m strongroom.handlers.release_api > docs/openapi.json
    print(openapi_json())
