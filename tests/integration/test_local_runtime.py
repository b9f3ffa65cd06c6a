"""The one-machine archive: wiring read from template.yaml, buckets, publishers' rights,
persistence across stop/start and kill -9, and S3 events delivered as AWS delivers them."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError

from strongroom.config import settings
from strongroom.local import router, template

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("archive")]


def _cli(archive, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "strongroom.commands.cli", "--data", str(archive.data_dir), *args],
        env=archive.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def _denied(call, *args, **kwargs) -> None:
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    assert e.value.response["Error"]["Code"] in ("AccessDenied", "403"), e.value.response


def _wait_for(what: str, probe, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = probe()
            if got:
                return got
        except Exception:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_template_reader_finds_the_ingest_function_and_its_s3_event():
    t = template.load()
    ingest = t.function("IngestFunction")
    assert ingest.handler == "strongroom.handlers.ingest.handler"
    (event,) = ingest.events_of(template.S3Event)
    assert event.bucket_logical_id == "IngestBucket"
    assert event.bucket == settings().ingest_bucket
    assert event.prefix == "incoming/"
    assert "s3:ObjectCreated:*" in event.events
    assert ingest.memory_mb >= 128 and ingest.timeout_s > 0
    assert not any(k.startswith("STRONGROOM_") for k in ingest.environment)  # config defaults apply locally
    assert settings().catalog_table in [tb.name for tb in t.tables]


def test_schedule_expressions_and_the_s3_key_encoding():
    start = datetime(2026, 1, 1, 10, 7, tzinfo=UTC)
    assert router.next_fire("rate(5 minutes)", start) == datetime(2026, 1, 1, 10, 12, tzinfo=UTC)
    assert router.next_fire("cron(0 3 * * ? *)", start) == datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
    # 1 = Sunday in AWS cron; 2026-01-04 is a Sunday
    assert router.next_fire("cron(30 2 ? * 1 *)", start) == datetime(2026, 1, 4, 2, 30, tzinfo=UTC)
    ev = router.s3_event(
        bucket="b",
        key="incoming/a b+c/ü.zip",
        size=3,
        etag='"abc"',
        version_id="v1",
        region="us-east-1",
        configuration_id="X",
    )
    obj = ev["Records"][0]["s3"]["object"]
    assert obj["key"] == "incoming/a+b%2Bc/%C3%BC.zip" and obj["eTag"] == "abc"


def test_buckets_and_tables_exist_as_the_archive_needs_them(local_archive):
    s3, dynamodb = local_archive.clients()
    cfg = settings()
    assert s3.get_bucket_versioning(Bucket=cfg.ingest_bucket)["Status"] == "Enabled"
    for node in cfg.nodes:
        assert s3.get_bucket_versioning(Bucket=node.bucket)["Status"] == "Enabled"
        lock = s3.get_object_lock_configuration(Bucket=node.bucket)["ObjectLockConfiguration"]
        assert lock["ObjectLockEnabled"] == "Enabled"
    s3.head_bucket(Bucket=cfg.public_bucket)
    table = dynamodb.describe_table(TableName=cfg.catalog_table)["Table"]
    assert {k["AttributeName"] for k in table["KeySchema"]} == {"pk", "sk"}


def test_a_publisher_reaches_only_its_own_prefixes(local_archive):
    me, other = f"pub-{uuid.uuid4().hex[:6]}", f"pub-{uuid.uuid4().hex[:6]}"
    _cli(local_archive, "local", "add-publisher", me)
    _cli(local_archive, "local", "add-publisher", other)
    # exactly what a publisher's shell would get
    exports = _cli(local_archive, "local", "env", "--publisher", me)
    env = dict(kv.split("=", 1) for kv in shlex.split(exports.removeprefix("export ")))
    assert env["AWS_ENDPOINT_URL_S3"] == local_archive.endpoints.s3
    bucket = env["STRONGROOM_INGEST_BUCKET"]
    import boto3

    pub = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    archive, _ = local_archive.clients()
    for who in (me, other):
        archive.put_object(Bucket=bucket, Key=f"receipts/{who}/r.json", Body=b"{}")
        archive.put_object(Bucket=bucket, Key=f"rejections/{who}/r.json", Body=b"{}")

    _wait_for("the new keys", lambda: pub.put_object(Bucket=bucket, Key=f"incoming/{me}/t/au/p.zip", Body=b"x"))
    assert pub.get_object(Bucket=bucket, Key=f"receipts/{me}/r.json")["Body"].read() == b"{}"
    assert pub.get_object(Bucket=bucket, Key=f"rejections/{me}/r.json")["Body"].read() == b"{}"
    listed = pub.list_objects_v2(Bucket=bucket, Prefix=f"receipts/{me}/")
    assert [o["Key"] for o in listed["Contents"]] == [f"receipts/{me}/r.json"]

    _denied(pub.put_object, Bucket=bucket, Key=f"incoming/{other}/t/au/p.zip", Body=b"x")
    _denied(pub.put_object, Bucket=bucket, Key=f"receipts/{me}/forged.json", Body=b"x")
    _denied(pub.get_object, Bucket=bucket, Key=f"receipts/{other}/r.json")
    _denied(pub.get_object, Bucket=bucket, Key=f"rejections/{other}/r.json")
    _denied(pub.list_objects_v2, Bucket=bucket, Prefix=f"receipts/{other}/")
    _denied(pub.list_objects_v2, Bucket=bucket, Prefix="")
    node = settings().nodes[0].bucket
    _denied(pub.put_object, Bucket=node, Key=f"incoming/{me}/p.zip", Body=b"x")
    _denied(pub.list_objects_v2, Bucket=node)
    _denied(pub.put_object, Bucket=settings().public_bucket, Key="x", Body=b"x")


def test_data_survives_stop_and_start(local_archive):
    s3, _ = local_archive.clients()
    node = settings().nodes[3].bucket
    key = f"persist/{uuid.uuid4().hex}"
    s3.put_object(Bucket=node, Key=key, Body=b"kept across restarts")
    first_pid = local_archive.state()["pid"]
    local_archive.restart()
    assert local_archive.state()["pid"] != first_pid
    s3, _ = local_archive.clients()
    assert s3.get_object(Bucket=node, Key=key)["Body"].read() == b"kept across restarts"


def test_a_killed_storage_server_is_restarted_with_its_data(local_archive):
    s3, _ = local_archive.clients()
    bucket = settings().public_bucket
    key = f"kill-9/{uuid.uuid4().hex}"
    s3.put_object(Bucket=bucket, Key=key, Body=b"still here")
    weed_pid = local_archive.state()["servers"]["weed"]["pid"]
    os.kill(weed_pid, signal.SIGKILL)
    _wait_for(
        "weed to be restarted",
        lambda: local_archive.state()["servers"]["weed"]["pid"] not in (None, weed_pid),
        timeout=60,
    )
    got = _wait_for(
        "the object after the restart",
        lambda: local_archive.clients().s3.get_object(Bucket=bucket, Key=key)["Body"].read(),
    )
    assert got == b"still here"


def _probe_event(s3, name: str) -> dict:
    body = s3.get_object(Bucket=settings().ingest_bucket, Key=f"router-probe-events/{name}.json")["Body"]
    return json.loads(body.read())


def test_the_router_delivers_the_s3_event_aws_would(local_archive):
    s3, _ = local_archive.clients()
    bucket = settings().ingest_bucket
    name = f"dir {uuid.uuid4().hex[:6]}/a b+c.txt"
    put = s3.put_object(Bucket=bucket, Key=f"router-probe/{name}", Body=b"probe")
    seen = _wait_for("the probe handler's record", lambda: _probe_event(s3, name))

    (record,) = seen["event"]["Records"]
    assert record["eventVersion"] == "2.1" and record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put" and record["awsRegion"] == local_archive.endpoints.region
    assert record["eventTime"].endswith("Z")
    assert record["s3"]["bucket"] == {
        "name": bucket,
        "arn": f"arn:aws:s3:::{bucket}",
        "ownerIdentity": record["s3"]["bucket"]["ownerIdentity"],
    }
    obj = record["s3"]["object"]
    assert obj["key"] != f"router-probe/{name}" and unquote_plus(obj["key"]) == f"router-probe/{name}"
    assert obj["size"] == 5 and obj["eTag"] == put["ETag"].strip('"')
    assert obj["versionId"] == put["VersionId"] and obj["sequencer"]
    ctx = seen["context"]
    assert ctx["function_name"] == "RouterProbeFunction" and ctx["memory_limit_in_mb"] == 256
    assert ctx["invoked_function_arn"].endswith(":function:RouterProbeFunction") and ctx["remaining_ms"] > 0
    # the handler deleted the object when done, so it is delivered once
    _wait_for(
        "the probe object to be gone",
        lambda: "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=f"router-probe/{name}"),
    )


def test_the_router_delivers_again_after_a_handler_failure(local_archive):
    s3, _ = local_archive.clients()
    bucket = settings().ingest_bucket
    name = f"fail-once-{uuid.uuid4().hex[:6]}.txt"
    s3.put_object(Bucket=bucket, Key=f"router-probe/{name}", Body=b"probe")
    seen = _wait_for("the delivery after the failure", lambda: _probe_event(s3, name))
    assert unquote_plus(seen["event"]["Records"][0]["s3"]["object"]["key"]) == f"router-probe/{name}"
    s3.head_object(Bucket=bucket, Key=f"router-probe-failures/{name}")  # it did fail first
    log = local_archive.log()
    assert f"probe fails once on router-probe/{name}" in log and "Traceback" in log
