"""Every boto3 client strongroom makes, made here: one place for endpoints, retries and timeouts.

On AWS boto3 finds credentials and regions as usual; locally the runtime sets
AWS_ENDPOINT_URL_<SERVICE> (as principle 6 says), or a caller passes an endpoint and keys
(the local tools, which speak as one identity or another).
"""

from __future__ import annotations

import os
from functools import cache, lru_cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:  # the stubs are a development dependency; Lambda never imports them
    from types_boto3_cloudfront.client import CloudFrontClient
    from types_boto3_dynamodb.client import DynamoDBClient
    from types_boto3_lambda.client import LambdaClient
    from types_boto3_s3.client import S3Client


def on_local_endpoints() -> bool:
    """True when boto3 is pointed at the local servers rather than AWS."""
    return bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))


def _s3_config(path_style: bool) -> Config:
    return Config(
        s3={"addressing_style": "path"} if path_style else {},
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=120,
        # Only send a checksum when we give one: the whole-object SHA-256 we compute is the one that matters.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


@cache
def s3(region: str | None = None) -> S3Client:
    """S3 in `region` (default: the process's), from the environment's credentials and endpoints."""
    return boto3.client(
        "s3",
        region_name=region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        config=_s3_config(on_local_endpoints()),
    )


@lru_cache(maxsize=1)
def dynamodb() -> DynamoDBClient:
    return boto3.client("dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 5}))


@cache
def auditor_lambda(region: str) -> LambdaClient:
    """Lambda in `region`, for a vote: wait as long as a Lambda may run, and never retry (a retry
    would hash the whole AU again; the poll marks the node unavailable and asks next time)."""
    return boto3.client(
        "lambda", region_name=region, config=Config(read_timeout=910, connect_timeout=10, retries={"max_attempts": 0})
    )


def lambda_() -> LambdaClient:
    return boto3.client("lambda", config=Config(retries={"mode": "standard", "max_attempts": 3}))


def cloudfront() -> CloudFrontClient:
    return boto3.client("cloudfront")


def signed_as(
    access_key: str,
    secret_key: str,
    region: str,
    *,
    s3_endpoint: str | None = None,
    dynamodb_endpoint: str | None = None,
) -> tuple[S3Client, DynamoDBClient]:
    """(S3, DynamoDB) clients signed with one identity's keys, at explicit endpoints: the local
    tools' way to act as the archive, a publisher or an admin."""
    session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region)
    config = _s3_config(path_style=True)
    return (
        session.client("s3", endpoint_url=s3_endpoint, config=config),
        session.client("dynamodb", endpoint_url=dynamodb_endpoint, config=config),
    )
