"""Lambda, one per node region (infra/node.yaml): hash this node's copy of one AU with the poll's nonce.

Invoked by the control region's audit (strongroom.adapters.lambda_voter) with
{"au": "pub/title/au", "nonce": "<hex, >= 32 digits>", "node": "<region>", "keys": null | [...]}.
It reads only its own bucket (STRONGROOM_AUDITOR_BUCKET), where the bytes live, and lets only
digests out: the vote goes, gzip'd JSON, to the control region's ingest bucket under
audit/votes/ (STRONGROOM_VOTES_BUCKET, domain.vote.handover_key), since a vote of 100,000 files
outgrows a Lambda response; the answer says where it is: {"vote_key", "files", "bytes"}.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from strongroom.config import environment
from strongroom.domain.au import AuId
from strongroom.domain.vote import handover_key
from strongroom.flows.poll import vote
from strongroom.handlers import compose

logger = Logger(service="strongroom-auditor")
metrics = Metrics(namespace="strongroom", service="auditor")
tracer = Tracer(service="strongroom-auditor")


@dataclass(frozen=True)
class VoteRequest:
    au: str
    nonce: bytes
    node: str
    keys: tuple[str, ...] | None

    @classmethod
    def parse(cls, event: dict, here: str) -> VoteRequest:
        try:
            au, nonce = str(AuId.parse(event["au"])), bytes.fromhex(event["nonce"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"a vote request needs au (publisher/title/au) and nonce (hex): {e}") from None
        node = event.get("node") or here
        if node != here:
            raise ValueError(f"asked to vote as {node}, but this auditor serves {here}; invoke the one in {node}")
        keys = event.get("keys")
        return cls(au, nonce, node, tuple(keys) if keys is not None else None)


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    request = VoteRequest.parse(event, environment().region)
    result = vote(compose.auditor_store(), request.au, request.nonce, request.node, keys=request.keys)
    metrics.add_metric(name="BytesHashed", unit=MetricUnit.Bytes, value=result.bytes_read)
    metrics.add_metric(name="FilesHashed", unit=MetricUnit.Count, value=len(result.files))
    logger.info(
        "voted",
        extra={
            "au": request.au,
            "files": len(result.files),
            "bytes": result.bytes_read,
            "missing": len(result.missing),
            "unavailable": result.unavailable,
        },
    )
    key = handover_key(request.au, request.nonce.hex(), request.node)
    compose.votes_store().put(key, gzip.compress(result.to_json(), mtime=0), content_type="application/gzip")
    return {"vote_key": key, "files": len(result.files), "bytes": result.bytes_read}
