"""The ingest handler: AWS's S3 event in, one domain call per object version, at most once."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from strongroom.config import settings
from strongroom.flows.ingest import Outcome
from tests.cfn import create_catalog_table


def s3_event(key: str, version: str, sequencer: str) -> dict:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-11-21T12:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "PackageDeposited",
                    "bucket": {"name": "strongroom-ingest", "arn": "arn:aws:s3:::strongroom-ingest"},
                    "object": {"key": key, "size": 10, "eTag": "abc", "versionId": version, "sequencer": sequencer},
                },
            }
        ]
    }


class Context:
    function_name = "strongroom-ingest"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:strongroom-ingest"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@pytest.fixture
def handler_module(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "strongroom")
    with mock_aws():
        create_catalog_table(boto3.client("dynamodb"), settings().catalog_table)
        from strongroom.handlers import ingest

        calls: list[str] = []
        versions: list[tuple[str, str | None]] = []

        def fake_ingest(archive, key, version_id=None):
            calls.append(key)
            versions.append((key, version_id))
            return Outcome("preserved", key, report_key="receipts/x.json", au="acme/jbio/2024", version="v1", copies=12)

        monkeypatch.setattr(ingest, "ingest_package", fake_ingest)
        monkeypatch.setattr(ingest.compose, "archive", lambda: None)
        ingest.persistence.client = boto3.client("dynamodb")
        monkeypatch.setattr(ingest, "versions_seen", versions, raising=False)
        yield ingest, calls


def test_the_key_is_decoded_as_aws_encodes_it(handler_module):
    ingest, calls = handler_module
    out = ingest.handler(s3_event("incoming/acme/jbio/2024/issue+1%282%29.zip", "v1", "01"), Context())
    assert calls == ["incoming/acme/jbio/2024/issue 1(2).zip"]
    assert out["results"][0]["status"] == "preserved"


def test_the_same_event_delivered_twice_calls_ingest_once(handler_module):
    ingest, calls = handler_module
    event = s3_event("incoming/acme/jbio/2024/p.zip", "ver-1", "0055")
    first = ingest.handler(event, Context())
    second = ingest.handler(event, Context())
    assert calls == ["incoming/acme/jbio/2024/p.zip"]
    assert first == second


def test_the_same_key_pushed_again_is_a_new_version_and_is_ingested(handler_module):
    ingest, calls = handler_module
    ingest.handler(s3_event("incoming/acme/jbio/2024/p.zip", "ver-1", "0055"), Context())
    ingest.handler(s3_event("incoming/acme/jbio/2024/p.zip", "ver-2", "0066"), Context())
    assert len(calls) == 2
    # each event's own version is what the flow opens and removes, not whatever the key holds now
    assert ingest.versions_seen == [
        ("incoming/acme/jbio/2024/p.zip", "ver-1"),
        ("incoming/acme/jbio/2024/p.zip", "ver-2"),
    ]
