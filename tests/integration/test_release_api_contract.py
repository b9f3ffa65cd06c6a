"""The local API held to docs/openapi.json, and `strongroom release --api` signing for real.

A real local API server (strongroom.local.api.ApiServer: SigV4 check, API Gateway's event, the
template's routes) on a loopback port, in front of the real release API handler; only the
archive behind it is in memory (the catalog and AUs of tests/fakes.py). Every route gets real
HTTP requests, signed and unsigned, good and bad; every answer's status must be one the document
declares for that route, and its body must validate against the document's schema for that status.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime

import pytest
from jsonschema import Draft202012Validator

from strongroom.commands import cli
from strongroom.config import settings
from strongroom.domain.catalog import AuRecord
from strongroom.flows.ingest import Archive
from strongroom.flows.release import ReleaseService
from strongroom.handlers import release_api
from strongroom.local import template
from strongroom.local.api import ApiServer, principal_arn, sign
from strongroom.local.identities import Identity
from strongroom.local.router import Router
from tests.fakes import MemoryBlobStore, MemoryCatalog
from tests.integration.conftest import REPO

pytestmark = pytest.mark.integration

REGION = "eu-west-2"
ALICE = Identity("alice", "admin", "SRALICEKEY000000000", "alice-secret")
BOB = Identity("bob", "admin", "SRBOBKEY00000000000", "bob-secret")
CAROL = Identity("carol", "admin", "SRCAROLKEY000000000", "carol-secret")
PUBLISHER = Identity("lakeside-up", "publisher", "SRLAKESIDE000000000", "lakeside-secret")
FORGED = Identity("alice", "admin", ALICE.access_key, "guessed")
STRANGER = Identity("mallory", "admin", "SRMALLORY0000000000", "mallory-secret")
AUS = ("lakeside-up/lrh/2023", "lakeside-up/lrh/2024", "northfield/jmbe/2024")
DOC = json.loads((REPO / "docs" / "openapi.json").read_text("utf-8"))


@pytest.fixture
def server(monkeypatch):
    """The local API on a free loopback port, routing the template's Api events to the real handler."""
    catalog = MemoryCatalog()
    for au in AUS:
        catalog.put_au(AuRecord(au=au, head="v1", files=3, bytes=100))
    journal = MemoryBlobStore("ingest")
    archive = Archive(ingest=journal, nodes=[], catalog=catalog, limits=settings().limits, audit=settings().audit)
    service = ReleaseService(archive, start=lambda _id: None, clock=lambda: datetime.now(UTC), journal=journal)
    monkeypatch.setattr("strongroom.handlers.compose.release_service", lambda: service)
    monkeypatch.setenv(release_api.ADMINS_ENV, ",".join(principal_arn(i) for i in (ALICE, BOB, CAROL)))
    router = Router(template.load(), lambda: None, region=REGION)
    who = {i.name: i for i in (ALICE, BOB, CAROL, PUBLISHER)}
    api = ApiServer(router, lambda: who, REGION, port=0)
    api.start()
    yield api
    api.stop()


def send(
    api: ApiServer,
    method: str,
    path: str,
    body=None,
    who: Identity | None = ALICE,
    raw: bytes | None = None,
    content_type: str = "application/json",
):
    """One HTTP request as a client sends it; (status, headers, decoded JSON body)."""
    url = api.url + path
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    headers = {"Content-Type": content_type} if data else {}
    if who is not None:
        headers = sign(method, url, who, REGION, data, headers)
    request = urllib.request.Request(url, data=data or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            status, answer, raw_body = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, answer, raw_body = e.code, e.headers, e.read()
    return status, answer, json.loads(raw_body)


def proposal(**evidence) -> dict:
    return {
        "aus": ["lakeside-up/lrh/2024"],
        "trigger": "publisher-ceased",
        "evidence": {
            "unavailable_since": "2025-01-01",
            "ceased_on": "2024-12-31",
            "board": {"for": 9, "against": 1, "abstain": 0},
            **evidence,
        },
    }


def check(route: str, method: str, status: int, headers, body, seen: set) -> None:
    """The answer is one the document declares, in the shape it declares; with a fresh request id."""
    operation = DOC["paths"][route][method.lower()] if route else None
    if operation is None:  # API Gateway's answer to an unknown route: the error shape
        schema = {"$ref": "#/components/schemas/ErrorOut"}
    else:
        assert str(status) in operation["responses"], (method, route, status, body)
        schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    errors = sorted(Draft202012Validator({**schema, "components": DOC["components"]}).iter_errors(body), key=str)
    assert not errors, (method, route, status, [e.message for e in errors], body)
    request_id = headers["x-amzn-RequestId"]
    assert str(uuid.UUID(request_id)) == request_id and request_id not in seen
    seen.add(request_id)


def test_every_answer_of_every_route_is_the_documented_one(server):
    seen: set[str] = set()
    exercised: set[tuple[str, str, int]] = set()

    def call(route, method, path, expected, body=None, who=ALICE, raw=None, error_type=None, **kw):
        status, headers, answer = send(server, method, path, body, who, raw, **kw)
        assert status == expected, (method, path, status, answer)
        check(route, method, status, headers, answer, seen)
        if error_type:
            assert headers["x-amzn-ErrorType"] == error_type, dict(headers)
        if route:
            exercised.add((route, method.lower(), status))
        return answer

    gateway = [
        (None, MISSING := "MissingAuthenticationTokenException"),
        (FORGED, "InvalidSignatureException"),
        (STRANGER, "UnrecognizedClientException"),
    ]
    routes = [
        ("/releases", "POST", "/releases", proposal()),
        ("/releases", "GET", "/releases", None),
        ("/releases/{release_id}", "GET", "/releases/rel-0000000000000000", None),
        ("/releases/{release_id}/approve", "POST", "/releases/rel-0000000000000000/approve", None),
        (
            "/releases/{release_id}/withdraw",
            "POST",
            "/releases/rel-0000000000000000/withdraw",
            {"reason": "court order"},
        ),
    ]
    for route, method, path, body in routes:  # API Gateway refuses before the function runs
        for who, error_type in gateway:
            answer = call(route, method, path, 403, body, who, error_type=error_type)
            assert answer["errors"][0]["field"] == "Authorization"
        assert call(route, method, path, 403, body, PUBLISHER)["errors"][0]["rule"] == "admin"
    assert call(None, "DELETE", "/releases", 403, error_type=MISSING)["message"] == "Missing Authentication Token"
    assert call(None, "GET", "/nowhere", 403, who=None, error_type=MISSING)["message"] == "Missing Authentication Token"

    r = call("/releases", "POST", "/releases", 201, proposal())
    call("/releases", "POST", "/releases", 200, proposal())  # the same proposal again
    call("/releases", "POST", "/releases", 409, proposal(board={"for": 10, "against": 0, "abstain": 0}), BOB)
    call("/releases", "POST", "/releases", 404, {**proposal(), "aus": ["lakeside-up/lrh/1999"]})
    bad = call("/releases", "POST", "/releases", 422, proposal(board={"for": 1, "against": 3, "abstain": 0}))
    assert [e["field"] for e in bad["errors"]] == ["evidence.board.against", "evidence.board.for"]
    call("/releases", "POST", "/releases", 400, raw=b"{not json")
    call("/releases", "POST", "/releases", 415, raw=b"<proposal/>", content_type="application/xml")
    call("/releases", "POST", "/releases", 400, raw=b"[" * 100000 + b"]" * 100000)
    call("/releases", "POST", "/releases", 413, raw=json.dumps({"x": "y" * 1100000}).encode())
    release = f"/releases/{r['id']}"
    assert call("/releases/{release_id}", "GET", release, 200)["id"] == r["id"]
    call("/releases/{release_id}", "GET", "/releases/rel-0000000000000000", 404)
    call("/releases/{release_id}", "GET", "/releases/nonsense", 422)
    assert [x["id"] for x in call("/releases", "GET", "/releases", 200)["releases"]] == [r["id"]]
    call("/releases/{release_id}/approve", "POST", release + "/approve", 403)  # the proposer: two-person rule
    call("/releases/{release_id}/approve", "POST", release + "/approve", 202, who=BOB)
    call("/releases/{release_id}/approve", "POST", release + "/approve", 409, who=CAROL)
    call("/releases/{release_id}/approve", "POST", "/releases/rel-0000000000000000/approve", 404, who=BOB)
    call("/releases/{release_id}/approve", "POST", "/releases/nonsense/approve", 422, who=BOB)
    call("/releases/{release_id}/withdraw", "POST", release + "/withdraw", 422, {"reason": ""})
    call("/releases/{release_id}/withdraw", "POST", release + "/withdraw", 400, raw=b"reason: none")
    call("/releases/{release_id}/withdraw", "POST", release + "/withdraw", 415, raw=b"why", content_type="text/plain")
    call(
        "/releases/{release_id}/withdraw",
        "POST",
        release + "/withdraw",
        413,
        raw=json.dumps({"reason": "y" * 1100000}).encode(),
    )
    call(
        "/releases/{release_id}/withdraw",
        "POST",
        "/releases/rel-0000000000000000/withdraw",
        404,
        {"reason": "court order"},
    )
    call("/releases/{release_id}/withdraw", "POST", release + "/withdraw", 202, {"reason": "court order"})

    documented = {
        (route, method, int(status))
        for route, operations in DOC["paths"].items()
        for method, operation in operations.items()
        for status in operation["responses"]
    }
    assert documented == exercised, (
        "documented but never answered",
        documented - exercised,
        "answered but not documented",
        exercised - documented,
    )


def test_the_local_api_refuses_a_body_over_api_gateways_limit_in_the_error_shape(server):
    request = urllib.request.Request(
        server.url + "/releases", data=b"", method="POST", headers={"Content-Length": str(11 * 1024 * 1024)}
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=30)
    answer = json.loads(e.value.read())
    assert e.value.code == 413 and answer["errors"][0]["field"] == "body" and "10 MB" in answer["message"]
    check(None, "POST", 413, e.value.headers, answer, set())


def test_a_failing_function_is_502_in_the_error_shape(server, monkeypatch):
    def broken():
        raise RuntimeError("the catalog is unreachable")

    monkeypatch.setattr("strongroom.handlers.compose.release_service", broken)
    status, headers, answer = send(server, "GET", "/releases")
    assert status == 502 and answer["message"] == "Internal server error"
    assert (
        "RuntimeError" in answer["errors"][0]["message"]
        and headers["x-amzn-RequestId"] in answer["errors"][0]["message"]
    )
    check(None, "GET", status, headers, answer, set())


# --- `strongroom release … --api URL --profile NAME --region REGION` ---------------------------


@pytest.fixture
def aws_profiles(tmp_path, monkeypatch):
    """An AWS credentials file with alice's known key pair (profile archive-alice), a forged one and bob's."""
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "".join(
            f"[{name}]\naws_access_key_id = {who.access_key}\naws_secret_access_key = {who.secret_key}\n\n"
            for name, who in (("archive-alice", ALICE), ("forged", FORGED), ("archive-bob", BOB))
        )
    )
    config = tmp_path / "config"
    config.write_text(f"[profile archive-bob]\nregion = {REGION}\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "STRONGROOM_API_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def strongroom(*args: str) -> int:
    return cli.main(["--data", "/nonexistent-local-archive", "release", *args])


PROPOSE = (
    "propose",
    "--au",
    "lakeside-up/lrh/2024",
    "--trigger",
    "publisher-ceased",
    "--unavailable-since",
    "2025-01-01",
    "--board-for",
    "9",
    "--board-against",
    "1",
)


def test_release_commands_sign_with_an_aws_profile_when_pointed_at_an_api(server, aws_profiles, capsys):
    assert strongroom(*PROPOSE, "--api", server.url, "--profile", "archive-alice", "--region", REGION) == 0
    out = capsys.readouterr().out
    release_id = next(line.split()[0] for line in out.splitlines() if line.startswith("rel-"))
    assert "PROPOSED" in out and "proposed  by alice" in out  # the server knew her key
    # the same from the environment; bob's profile names its region in ~/.aws/config
    assert strongroom("approve", release_id, "--api", server.url, "--profile", "archive-bob") == 0
    assert "approved  by bob" in capsys.readouterr().out


def test_the_environment_names_the_api_profile_and_region(server, aws_profiles, capsys, monkeypatch):
    monkeypatch.setenv("STRONGROOM_API_URL", server.url)
    monkeypatch.setenv("AWS_PROFILE", "archive-alice")
    monkeypatch.setenv("AWS_REGION", REGION)
    assert strongroom("list") == 0
    assert "no releases yet" in capsys.readouterr().out


def test_api_errors_are_printed_as_the_message_and_each_error_not_a_traceback(server, aws_profiles, capsys):
    where = ("--api", server.url, "--profile", "archive-alice", "--region", REGION)
    assert strongroom(*PROPOSE[:-4], "--board-for", "1", "--board-against", "3", *where) == 1
    err = capsys.readouterr().err
    assert "strongroom: refused (422): the proposal breaks 2 rules" in err
    assert "  - evidence.board.against: 3 board members voted against" in err
    assert "  - evidence.board.for: 1 of 4 votes in favour" in err and "Traceback" not in err

    assert strongroom("list", "--api", server.url, "--profile", "forged", "--region", REGION) == 1
    err = capsys.readouterr().err
    assert "refused (403): The request signature we calculated does not match" in err
    assert "  - Authorization: the signature was made with another secret key" in err

    assert strongroom("list", "--api", server.url, "--profile", "archive-alice", "--region", "us-west-1") == 1
    assert "Credential should be scoped to" in capsys.readouterr().err


def test_bad_targets_are_said_plainly(server, aws_profiles):
    with pytest.raises(SystemExit) as e:
        strongroom("list", "--api", server.url, "--profile", "nobody", "--region", REGION)
    assert "no AWS profile 'nobody'" in str(e.value)
    with pytest.raises(SystemExit) as e:
        strongroom("list", "--api", server.url, "--profile", "archive-alice")
    assert "give --region" in str(e.value)
    with pytest.raises(SystemExit) as e:
        strongroom("list", "--api", server.url, "--as", "bob", "--region", REGION)
    assert "--profile" in str(e.value)
    with pytest.raises(SystemExit) as e:
        strongroom("list", "--api", "http://127.0.0.1:9", "--profile", "archive-alice", "--region", REGION)
    assert "cannot be reached" in str(e.value)
