"""The composition root: boto3 clients from the environment, wrapped in the domain's ports.

The same code serves AWS and the local archive; only the environment differs (boto3 reads
AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_DYNAMODB for the local servers).
"""

from __future__ import annotations

from strongroom.adapters import clients
from strongroom.adapters.cloudfront import OriginSwitch
from strongroom.adapters.dynamodb import DynamoCatalog
from strongroom.adapters.lambda_invoke import AsyncInvoker
from strongroom.adapters.lambda_voter import LambdaVoter
from strongroom.adapters.s3 import S3BlobStore
from strongroom.config import Settings, environment, settings
from strongroom.domain.ports import Unavailable
from strongroom.flows.ingest import Archive, NodeStore
from strongroom.flows.rebuild import rebuild_catalog as rebuild
from strongroom.flows.release import PublishTarget, ReleaseService
from strongroom.flows.release import restore_releases as restore


def archive(cfg: Settings | None = None) -> Archive:
    """The archive as the handlers see it, wired to real clients."""
    cfg = cfg or settings()
    # On AWS each node's bucket is reached through a client of its own region.
    on_aws = not clients.on_local_endpoints()
    # Locally, `strongroom chaos offline` revokes the archive's rights on a node bucket: that refusal is the node
    # being unreachable. On AWS a refusal is a misconfiguration and stays an error.
    nodes = [
        NodeStore(n, S3BlobStore(clients.s3(n.region if on_aws else None), n.bucket, denied_is_unavailable=not on_aws))
        for n in cfg.nodes
    ]
    return Archive(
        ingest=S3BlobStore(clients.s3(), cfg.ingest_bucket),
        nodes=nodes,
        catalog=DynamoCatalog(clients.dynamodb(), cfg.catalog_table),
        limits=cfg.limits,
        audit=cfg.audit,
        lock_seconds=cfg.limits.au_lock_seconds,
        scratch=None,
    )


def rebuild_catalog() -> int:
    """Recreate the catalog from the first node bucket that answers."""

    a = archive()
    last: Exception | None = None
    for ns in a.nodes:
        try:
            count = rebuild(ns.store, a.catalog)
            restore_releases()  # decisions are not derived from the nodes: they come from their journal
            return count
        except Unavailable as e:
            last = e
    raise RuntimeError(f"no node answered; cannot rebuild the catalog: {last}")


def public_store(cfg: Settings | None = None) -> S3BlobStore:
    cfg = cfg or settings()
    return S3BlobStore(clients.s3(), cfg.public_bucket)


def voter(cfg: Settings | None = None):
    """How a poll takes each node's vote: through the per-region auditor functions when the control
    stack names them (STRONGROOM_AUDITOR_FUNCTION, on AWS), else in this process (local archive)."""
    name = environment().auditor_function
    if not name:
        return None
    return LambdaVoter(name, clients.auditor_lambda, votes_store())


def votes_store() -> S3BlobStore:
    """Where votes are handed from the node auditors to the poll: the control region's ingest bucket
    (an auditor is told it by STRONGROOM_VOTES_BUCKET/_REGION; the control stack's functions know it)."""
    env = environment()
    if env.votes_bucket:
        return S3BlobStore(clients.s3(env.votes_region or None), env.votes_bucket)
    return S3BlobStore(clients.s3(), settings().ingest_bucket)


def auditor_store() -> S3BlobStore:
    """The one bucket a per-region auditor may hash: its own node's (infra/node.yaml sets the name)."""
    env = environment()
    bucket = env.auditor_bucket
    if not bucket:
        raise RuntimeError("STRONGROOM_AUDITOR_BUCKET is not set: the auditor runs only as infra/node.yaml deploys it")
    return S3BlobStore(clients.s3(env.region or None), bucket)


# --- releases ------------------------------------------------------------------------------
# Release settings come from the environment the template sets on the release functions
# (and lambda_environment sets locally): who the admins are, which function runs a release,
# where the public site and replay answer, and (AWS) which CloudFront distribution to switch.


def start_release_worker(release_id: str) -> None:
    """Hand a release to the worker function, asynchronously (it may run for minutes)."""
    name = environment().release_worker
    if not name:
        raise RuntimeError(
            "STRONGROOM_RELEASE_WORKER is not set: the template sets it to the release worker's "
            "function name (locally the runtime does)"
        )
    AsyncInvoker(clients.lambda_(), name)({"release_id": release_id})


def release_service():
    cfg = settings()
    return ReleaseService(
        archive(cfg), start=start_release_worker, journal=S3BlobStore(clients.s3(), cfg.ingest_bucket)
    )


def publish_target():
    env = environment()
    switch = OriginSwitch(clients.cloudfront(), env.site_distribution) if env.site_distribution else None
    return PublishTarget(
        public=public_store(), site_base_url=env.site_url, replay_base_url=env.replay_url, switch=switch
    )


def restore_releases() -> int:
    """Release decisions back into the catalog from their journal in the ingest bucket."""

    cfg = settings()
    return restore(archive(cfg).catalog, S3BlobStore(clients.s3(), cfg.ingest_bucket))
