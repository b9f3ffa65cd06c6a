"""The release API through its Lambda handler: fake API Gateway events, in-memory catalog.

The agreements' rules (six months unavailable, 75% of the board with at most two against),
the two-person rule, who may call, 409s, 422s naming the field, idempotency, PREMIS events.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from strongroom.config import settings
from strongroom.domain.catalog import AuRecord
from strongroom.flows.ingest import Archive
from strongroom.flows.release import ReleaseService
from strongroom.handlers import release_api
from strongroom.local.api import rest_event
from tests.fakes import MemoryBlobStore, MemoryCatalog

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:iam::123456789012:user/bob"
CAROL = "arn:aws:iam::123456789012:user/carol"
PUBLISHER = "arn:aws:iam::123456789012:user/lakeside-up"
AUS = ("lakeside-up/lrh/2023", "lakeside-up/lrh/2024", "northfield/jmbe/2024")


class Context:
    function_name = "ReleaseApiFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ReleaseApiFunction"
    aws_request_id = "req"


@pytest.fixture
def world(monkeypatch):
    catalog = MemoryCatalog()
    for au in AUS:
        catalog.put_au(AuRecord(au=au, head="v1", files=3, bytes=100))
    started: list[str] = []
    journal = MemoryBlobStore("ingest")
    archive = Archive(ingest=journal, nodes=[], catalog=catalog, limits=settings().limits, audit=settings().audit)
    service = ReleaseService(archive, start=started.append, clock=lambda: NOW, journal=journal)
    monkeypatch.setattr("strongroom.handlers.compose.release_service", lambda: service)
    monkeypatch.setenv(release_api.ADMINS_ENV, f"{ALICE},{BOB},{CAROL}")
    return service, started


def call(
    method: str,
    path: str,
    body=None,
    who: str | None = ALICE,
    resource: str | None = None,
    params: dict | None = None,
    raw: str | None = None,
):
    identity = {"userArn": who, "accessKey": "AK"} if who else {}
    event = rest_event(
        method,
        resource or path,
        path,
        path_parameters=params,
        headers={"Content-Type": "application/json"},
        body=raw if raw is not None else (json.dumps(body) if body is not None else None),
        identity=identity,
    )
    out = release_api.handler(event, Context())
    return out["statusCode"], json.loads(out["body"]) if out.get("body") else None


def fields(answer: dict) -> list:
    """The fields an error answer names, in order (and it has the one error shape)."""
    assert set(answer) == {"message", "errors"} and answer["message"], answer
    assert all(set(e) == {"field", "rule", "message"} and e["message"] for e in answer["errors"]), answer
    return [e["field"] for e in answer["errors"]]


def proposal(**over):
    body = {
        "aus": ["lakeside-up/lrh/2024"],
        "trigger": "publisher-ceased",
        "evidence": {
            "unavailable_since": "2025-06-01",
            "ceased_on": "2025-05-31",
            "board": {"for": 9, "against": 1, "abstain": 0, "decided_on": "2026-02-20"},
        },
    }
    for k, v in over.items():
        if k.startswith("evidence."):
            body["evidence"][k.split(".", 1)[1]] = v
        elif v is None:
            body.pop(k, None)
        else:
            body[k] = v
    return body


def approve(rid, who=BOB):
    return call(
        "POST",
        f"/releases/{rid}/approve",
        who=who,
        resource="/releases/{release_id}/approve",
        params={"release_id": rid},
    )


def withdraw(rid, reason="court order 2026/17", who=ALICE):
    return call(
        "POST",
        f"/releases/{rid}/withdraw",
        {"reason": reason} if reason is not None else {},
        who=who,
        resource="/releases/{release_id}/withdraw",
        params={"release_id": rid},
    )


# --- happy path and idempotency --------------------------------------------------------------------


def test_propose_then_a_second_admin_approves_and_the_release_starts(world):
    service, started = world
    status, r = call("POST", "/releases", proposal())
    assert status == 201
    assert r["state"] == "proposed" and r["aus"] == ["lakeside-up/lrh/2024"] and r["proposed_by"] == ALICE
    assert r["proposal"]["license"] == "CC-BY-4.0"  # the default
    assert started == []  # nothing runs before a second admin approves
    status, a = approve(r["id"])
    assert status == 202 and a["state"] == "approved" and a["approved_by"] == BOB
    assert started == [r["id"]]
    status, got = call("GET", f"/releases/{r['id']}", resource="/releases/{release_id}", params={"release_id": r["id"]})
    assert status == 200 and got["state"] == "approved"
    status, listed = call("GET", "/releases")
    assert status == 200 and [x["id"] for x in listed["releases"]] == [r["id"]]


def test_every_decision_is_a_premis_event_and_is_journaled(world):
    service, _ = world
    _, r = call("POST", "/releases", proposal())
    approve(r["id"])
    withdraw(r["id"])
    events = service.archive.catalog.events("lakeside-up/lrh/2024")
    by_step = {e.outcome_detail["step"]: e for e in events}
    assert {(e.type, step) for step, e in by_step.items()} == {
        ("release", "proposed"),
        ("release", "approved"),
        ("withdrawal", "withdrawn"),
    }
    assert "court order" in by_step["withdrawn"].detail
    assert by_step["proposed"].outcome_detail["trigger"] == "publisher-ceased"
    journal = json.loads(service.journal.objects[f"releases/{r['id']}.json"])
    assert journal["state"] == "withdrawn" and journal["withdrawal_reason"] == "court order 2026/17"


def test_the_same_proposal_twice_is_one_release(world):
    service, _ = world
    s1, r1 = call("POST", "/releases", proposal())
    s2, r2 = call("POST", "/releases", proposal())
    assert (s1, s2) == (201, 200) and r1["id"] == r2["id"]
    assert len(service.releases()) == 1
    assert len(service.archive.catalog.events("lakeside-up/lrh/2024")) == 1


def test_approving_twice_by_the_same_admin_gives_the_same_answer(world):
    service, started = world
    _, r = call("POST", "/releases", proposal())
    first = approve(r["id"])
    second = approve(r["id"])
    assert first == second and first[0] == 202
    assert len(service.archive.catalog.events("lakeside-up/lrh/2024")) == 2  # proposed + approved, once each


def test_a_third_admin_cannot_approve_again(world):
    _, r = call("POST", "/releases", proposal())
    approve(r["id"])
    status, err = approve(r["id"], who=CAROL)
    assert status == 409 and "already approved by bob" in err["message"]


def test_a_title_proposal_takes_every_au_of_the_title(world):
    status, r = call("POST", "/releases", proposal(aus=None, title="lakeside-up/lrh"))
    assert status == 201 and r["aus"] == ["lakeside-up/lrh/2023", "lakeside-up/lrh/2024"]
    assert r["titles"] == ["lakeside-up/lrh"]


# --- two-person rule and who may call ------------------------------------------------------------


def test_the_proposer_cannot_approve(world):
    _, started = world
    _, r = call("POST", "/releases", proposal())
    status, err = approve(r["id"], who=ALICE)
    assert status == 403 and "two-person rule" in err["message"]
    assert started == []


@pytest.mark.parametrize("who", [PUBLISHER, "arn:aws:iam::999999999999:user/anyone"])
def test_publishers_and_the_public_are_refused(world, who):
    status, err = call("POST", "/releases", proposal(), who=who)
    assert status == 403 and "not a release admin" in err["message"]
    assert call("GET", "/releases", who=who)[0] == 403


def test_an_unsigned_request_is_403_as_api_gateway_answers_it(world):
    status, err = call("POST", "/releases", proposal(), who=None)
    assert status == 403 and "SigV4" in err["message"] and fields(err) == ["Authorization"]


# --- the agreements' rules -------------------------------------------------------------------


@pytest.mark.parametrize(
    "since,until,ok",
    [
        ("2025-09-01", None, True),  # exactly six months before NOW's date
        ("2025-09-02", None, False),  # a day short
        ("2025-01-01", "2025-06-30", False),  # available again before six months passed
        ("2025-01-01", "2025-07-01", True),
    ],
)
def test_six_consecutive_months_unavailable(world, since, until, ok):
    body = proposal(trigger="unavailable-6-months", **{"evidence.unavailable_since": since})
    if until:
        body["evidence"]["unavailable_until"] = until
    status, r = call("POST", "/releases", body)
    if ok:
        assert status == 201, r
    else:
        assert status == 422 and fields(r) == ["evidence.unavailable_since"]
        assert "six" in r["message"] or "6 consecutive months" in r["message"]


def test_without_consent_the_dates_are_required(world):
    body = proposal()
    del body["evidence"]["unavailable_since"]
    status, r = call("POST", "/releases", body)
    assert status == 422 and fields(r) == ["evidence.unavailable_since"]


def test_consent_needs_the_publishers_statement_but_no_six_months(world):
    body = proposal(trigger="publisher-consent")
    del body["evidence"]["unavailable_since"]
    status, r = call("POST", "/releases", body)
    assert status == 422 and fields(r) == ["evidence.publisher_statement"]
    body["evidence"]["publisher_statement"] = "Lakeside University Press consents to the release of LRH 2024."
    assert call("POST", "/releases", body)[0] == 201


@pytest.mark.parametrize(
    "vote,field",
    [
        ({"for": 6, "against": 2, "abstain": 0}, "evidence.board.for"),  # exactly 75%: passes
        ({"for": 5, "against": 2, "abstain": 0}, "evidence.board.for"),  # 71%
        ({"for": 12, "against": 3, "abstain": 0}, "evidence.board.against"),  # 80% but three against
        ({"for": 3, "against": 0, "abstain": 2}, "evidence.board.for"),  # abstentions count as cast
        ({"for": 0, "against": 0, "abstain": 0}, "evidence.board"),
    ],
)
def test_board_needs_three_quarters_in_favour_and_at_most_two_against(world, vote, field):
    status, r = call("POST", "/releases", proposal(**{"evidence.board": vote}))
    if vote == {"for": 6, "against": 2, "abstain": 0}:
        assert status == 201, r
    else:
        assert status == 422 and fields(r) == [field], r


# --- malformed requests name the field -------------------------------------------------------------


@pytest.mark.parametrize(
    "body,field",
    [
        (proposal(trigger="asteroid"), "trigger"),
        (proposal(license="all-rights-reserved"), "license"),
        (proposal(aus=["../etc/passwd"]), "aus"),
        (proposal(**{"evidence.unavailable_since": "last spring"}), "unavailable_since"),
        (proposal(**{"evidence.board": {"for": -1, "against": 0}}), "for"),
        ({**proposal(), "surprise": 1}, "surprise"),
    ],
)
def test_malformed_proposals_are_422_naming_the_field(world, body, field):
    status, r = call("POST", "/releases", body)
    assert status == 422
    assert field in json.dumps(r), r


def test_aus_and_title_together_are_refused(world):
    status, r = call("POST", "/releases", proposal(title="lakeside-up/lrh"))
    assert status == 422 and fields(r) == ["aus"]


def test_every_broken_rule_of_the_agreements_is_listed_with_its_field(world):
    body = proposal(
        **{"evidence.unavailable_since": "2026-01-01", "evidence.board": {"for": 3, "against": 3, "abstain": 0}}
    )
    status, r = call("POST", "/releases", body)
    assert status == 422
    assert fields(r) == ["evidence.unavailable_since", "evidence.board.against", "evidence.board.for"]
    assert "3 rules" in r["message"] and "fix each one" in r["message"]
    assert [e["rule"] for e in r["errors"]] == [
        "six-months-unavailable",
        "board-at-most-two-against",
        "board-three-quarters-in-favour",
    ]


def test_every_malformed_field_is_listed(world):
    body = {**proposal(trigger="asteroid", license="all-rights-reserved"), "surprise": 1}
    status, r = call("POST", "/releases", body)
    assert status == 422
    assert sorted(fields(r)) == ["license", "surprise", "trigger"]
    assert "3 problems" in r["message"] and "license" in r["message"]
    assert "asteroid" not in json.dumps(r)  # pydantic's echo of the input is left out


def test_not_json_is_400(world):
    status, r = call("POST", "/releases", raw="{not json")
    assert status == 400 and fields(r) == ["body"] and "not JSON" in r["message"]


@pytest.mark.parametrize(
    "raw", ["[" * 100000 + "]" * 100000, '{"a":' * 100000 + "1" + "}" * 100000, '{"evidence": ' + "[" * 5000]
)  # nor when it is cut short
def test_deeply_nested_json_is_400_not_a_crash(world, raw):
    status, r = call("POST", "/releases", raw=raw)
    assert status == 400 and fields(r) == ["body"] and "32 levels" in r["message"]
    assert r["errors"][0]["rule"] == "depth"


def test_a_body_over_1_mb_is_413(world):
    raw = json.dumps({**proposal(), "evidence": {**proposal()["evidence"], "publisher_statement": "x" * 1100000}})
    status, r = call("POST", "/releases", raw=raw)
    assert status == 413 and fields(r) == ["body"] and "at most 1048576 bytes" in r["message"]


def test_unknown_au_is_404(world):
    status, r = call("POST", "/releases", proposal(aus=["lakeside-up/lrh/1999"]))
    assert status == 404 and fields(r) == ["aus"] and "1999" in r["message"]


def test_withdraw_needs_a_reason(world):
    _, r = call("POST", "/releases", proposal())
    status, err = withdraw(r["id"], reason="")
    assert status == 422 and "reason" in json.dumps(err)


# --- conflicts -------------------------------------------------------------------------------


def test_an_au_in_an_active_release_cannot_be_proposed_again(world):
    _, r = call("POST", "/releases", proposal())
    other = proposal(**{"evidence.board": {"for": 10, "against": 0, "abstain": 0}})
    status, err = call("POST", "/releases", other, who=BOB)
    assert status == 409 and fields(err) == ["aus"] and r["id"] in err["message"]


def test_already_released_is_409_and_after_withdrawal_it_may_be_proposed_again(world):
    service, _ = world
    _, r = call("POST", "/releases", proposal())
    approve(r["id"])
    stored = service.archive.catalog.get_release(r["id"])
    service.archive.catalog.put_release(
        {**stored, "state": "published", "revision": stored["revision"] + 1}, stored["revision"]
    )
    other = proposal(**{"evidence.board": {"for": 10, "against": 0, "abstain": 0}})
    status, err = call("POST", "/releases", other, who=BOB)
    assert status == 409 and "already released" in err["message"]
    assert withdraw(r["id"])[0] == 202
    assert call("POST", "/releases", other, who=BOB)[0] == 201
    # the withdrawn proposal itself stays withdrawn
    status, err = call("POST", "/releases", proposal())
    assert status == 409 and "withdrawn" in err["message"]


def test_someone_else_proposing_the_same_content_is_409(world):
    _, r = call("POST", "/releases", proposal())
    status, err = call("POST", "/releases", proposal(), who=BOB)
    assert status == 409 and "approve it instead" in err["message"]


def test_withdrawing_twice_is_the_same_answer(world):
    _, r = call("POST", "/releases", proposal())
    assert withdraw(r["id"]) == withdraw(r["id"])


def test_approving_a_withdrawn_release_is_409(world):
    _, r = call("POST", "/releases", proposal())
    withdraw(r["id"])
    status, err = approve(r["id"])
    assert status == 409


def test_unknown_release_is_404_and_bad_ids_422(world):
    assert approve("rel-0000000000000000")[0] == 404
    assert approve("nonsense")[0] == 422
