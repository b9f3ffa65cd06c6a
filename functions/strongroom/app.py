"""The composition root: boto3 clients from the environment, wrapped in the domain's ports.

The same code serves AWS and the local archive; only the environment differs (boto3 reads
AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_DYNAMODB for the local servers).
"""

from __future__ import annotations

import os
from functools import lru_cache

import boto3
from botocore.config import Config

from strongroom.adapters.dynamodb import DynamoCatalog
from strongroom.adapters.s3 import S3BlobStore
from strongroom.config import Settings, settings
from strongroom.domain.ingest import Archive, NodeStore


def _s3_config() -> Config:
    local = bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
    return Config(
        s3={"addressing_style": "path"} if local else {},
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=120,
        # Only send a checksum when we give one: the whole-object SHA-256 we compute is the one that matters.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


@lru_cache(maxsize=None)
def s3_client(region: str | None = None):
    return boto3.client("s3", region_name=region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                        config=_s3_config())


@lru_cache(maxsize=1)
def dynamodb_client():
    return boto3.client("dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 5}))


def archive(cfg: Settings | None = None) -> Archive:
    """The archive as the handlers see it, wired to real clients."""
    cfg = cfg or settings()
    # On AWS each node's bucket is reached through a client of its own region.
    on_aws = not (os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
    nodes = [NodeStore(n, S3BlobStore(s3_client(n.region if on_aws else None), n.bucket)) for n in cfg.nodes]
    return Archive(
        ingest=S3BlobStore(s3_client(), cfg.ingest_bucket),
        nodes=nodes,
        catalog=DynamoCatalog(dynamodb_client(), cfg.catalog_table),
        limits=cfg.limits,
        lock_seconds=cfg.limits.au_lock_seconds,
        scratch=None,
    )


def rebuild_catalog() -> int:
    """Recreate the catalog from the first node bucket that answers."""
    from strongroom.domain.ports import Unavailable
    from strongroom.domain.rebuild import rebuild_catalog as rebuild

    a = archive()
    last: Exception | None = None
    for ns in a.nodes:
        try:
            return rebuild(ns.store, a.catalog)
        except Unavailable as e:
            last = e
    raise RuntimeError(f"no node answered; cannot rebuild the catalog: {last}")
