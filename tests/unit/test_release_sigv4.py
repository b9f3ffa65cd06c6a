"""The local API's SigV4 check: botocore's signature accepted, anything tampered refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from strongroom.local.api import (
    INCOMPLETE_SIGNATURE,
    INVALID_SIGNATURE,
    MISSING_TOKEN,
    UNRECOGNIZED_CLIENT,
    AuthError,
    SigV4Verifier,
    sign,
)
from strongroom.local.identities import Identity

REGION = "us-east-1"
URL = "http://127.0.0.1:8335/releases?x=1&a=b%20c"
BODY = b'{"aus": ["lakeside-up/lrh/2024"]}'
ALICE = Identity("alice", "admin", "SRALICEKEY000000000", "alice-secret")
PUBLISHER = Identity("lakeside-up", "publisher", "SRLAKESIDE000000000", "lakeside-secret")


@pytest.fixture
def verifier():
    return SigV4Verifier(lambda: {i.name: i for i in (ALICE, PUBLISHER)}, REGION)


def signed(who=ALICE, body=BODY, url=URL, method="POST", service="execute-api"):
    return sign(method, url, who, REGION, body, {"Content-Type": "application/json"}, service=service)


def test_a_botocore_signature_is_accepted_and_names_the_signer(verifier):
    assert verifier.verify("POST", URL, signed(), BODY, "execute-api") == ALICE
    assert verifier.verify("POST", URL, signed(PUBLISHER), BODY, "execute-api") == PUBLISHER


def test_tampered_body_is_403(verifier):
    with pytest.raises(AuthError) as e:
        verifier.verify("POST", URL, signed(), BODY.replace(b"2024", b"2023"), "execute-api")
    assert e.value.status == 403 and e.value.error_type == INVALID_SIGNATURE
    assert e.value.message.startswith("The request signature we calculated does not match the signature you provided.")


@pytest.mark.parametrize(
    "change",
    [
        lambda h: {**h, "Content-Type": "text/plain"},  # a signed header altered
        lambda h: {**h, "X-Amz-Date": (datetime.now(UTC) - timedelta(seconds=5)).strftime("%Y%m%dT%H%M%SZ")},
        lambda h: {**h, "Authorization": h["Authorization"][:-4] + "0000"},
    ],
)
def test_tampered_headers_are_403(verifier, change):
    with pytest.raises(AuthError) as e:
        verifier.verify("POST", URL, change(signed()), BODY, "execute-api")
    assert e.value.status == 403


def test_tampered_path_query_or_method_is_403(verifier):
    headers = signed()
    for method, url in (
        ("POST", URL.replace("releases", "releases/x")),
        ("POST", URL.replace("x=1", "x=2")),
        ("PUT", URL),
    ):
        with pytest.raises(AuthError) as e:
            verifier.verify(method, url, headers, BODY, "execute-api")
        assert e.value.status == 403


def test_a_wrong_secret_is_403(verifier):
    forged = Identity("alice", "admin", ALICE.access_key, "guessed")
    with pytest.raises(AuthError) as e:
        verifier.verify("POST", URL, signed(forged), BODY, "execute-api")
    assert e.value.status == 403 and e.value.error_type == INVALID_SIGNATURE
    body = e.value.body()
    assert body["message"].startswith("The request signature we calculated does not match")
    assert body["errors"][0]["field"] == "Authorization" and "secret" in body["errors"][0]["message"]


def test_an_unknown_key_is_403(verifier):
    stranger = Identity("mallory", "admin", "SRMALLORY0000000000", "x")
    with pytest.raises(AuthError) as e:
        verifier.verify("POST", URL, signed(stranger), BODY, "execute-api")
    assert e.value.status == 403 and e.value.error_type == UNRECOGNIZED_CLIENT
    assert e.value.message == "The security token included in the request is invalid."


def test_unsigned_is_403_missing_authentication_token(verifier):
    """As API Gateway answers it (the local API said 401 before)."""
    with pytest.raises(AuthError) as e:
        verifier.verify("POST", URL, {"Content-Type": "application/json"}, BODY, "execute-api")
    assert (e.value.status, e.value.error_type, e.value.message) == (403, MISSING_TOKEN, "Missing Authentication Token")
    assert "SigV4" in e.value.body()["errors"][0]["message"]


def test_missing_date_and_an_old_one_are_403():
    headers = signed()
    v = SigV4Verifier(lambda: {"alice": ALICE}, REGION)
    with pytest.raises(AuthError) as e:
        v.verify("POST", URL, {k: v_ for k, v_ in headers.items() if k != "X-Amz-Date"}, BODY, "execute-api")
    assert e.value.status == 403 and e.value.error_type == INCOMPLETE_SIGNATURE and e.value.field == "X-Amz-Date"
    later = SigV4Verifier(lambda: {"alice": ALICE}, REGION, clock=lambda: datetime.now(UTC) + timedelta(minutes=16))
    with pytest.raises(AuthError) as e:
        later.verify("POST", URL, headers, BODY, "execute-api")
    assert e.value.status == 403 and e.value.error_type == INVALID_SIGNATURE and "expired" in e.value.message


def test_a_signature_for_another_service_or_region_is_403(verifier):
    for headers in (signed(service="lambda"), sign("POST", URL, ALICE, "eu-west-2", BODY)):
        with pytest.raises(AuthError) as e:
            verifier.verify("POST", URL, headers, BODY, "execute-api")
        assert e.value.status == 403


def test_publisher_keys_are_valid_signatures_but_the_api_refuses_them(verifier, monkeypatch):
    """The signature check says who; the handler says no (403) to anyone not an admin."""
    import json

    from strongroom.handlers import release_api
    from strongroom.local.api import identity_context, rest_event

    who = verifier.verify("POST", URL, signed(PUBLISHER), BODY, "execute-api")
    monkeypatch.setenv(release_api.ADMINS_ENV, "arn:aws:iam::000000000000:user/alice")
    event = rest_event("GET", "/releases", "/releases", identity=identity_context(who))

    class Ctx:
        function_name, memory_limit_in_mb, aws_request_id = "f", 128, "r"
        invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:f"

    out = release_api.handler(event, Ctx())
    assert out["statusCode"] == 403 and "not a release admin" in json.loads(out["body"])["message"]
