"""A probe handler for the local router's tests: it records the event it got in the bucket.

It runs inside the local archive's process, configured exactly as a real handler is (boto3
finds the endpoint and keys in AWS_* variables). A key containing "fail-once" makes it fail
the first time, to check that the router delivers the object again.
"""

from __future__ import annotations

import json
from urllib.parse import unquote_plus

import boto3


def handler(event, context):
    record = event["Records"][0]
    bucket = record["s3"]["bucket"]["name"]
    key = unquote_plus(record["s3"]["object"]["key"])
    name = key.removeprefix("router-probe/")
    s3 = boto3.client("s3")
    if "fail-once" in name:
        try:
            s3.head_object(Bucket=bucket, Key=f"router-probe-failures/{name}")
        except s3.exceptions.ClientError:
            s3.put_object(Bucket=bucket, Key=f"router-probe-failures/{name}", Body=b"failed once")
            raise RuntimeError(f"probe fails once on {key}, as the test asked") from None
    seen = {
        "event": event,
        "context": {
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "invoked_function_arn": context.invoked_function_arn,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
    }
    s3.put_object(Bucket=bucket, Key=f"router-probe-events/{name}.json", Body=json.dumps(seen).encode())
    s3.delete_object(Bucket=bucket, Key=key)  # done, as the ingest handler moves a package away
    return {"recorded": name}
