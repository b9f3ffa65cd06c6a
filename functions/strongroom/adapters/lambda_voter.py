"""Votes taken where the bytes live: the control region's poll invokes each node's auditor.

infra/node.yaml deploys one auditor function per node region (strongroom.handlers.auditor);
it hashes its own bucket with the poll's nonce and hands over only the Vote JSON (under
audit/votes/ in the control region's ingest bucket, where this reads it: a vote of many files
outgrows a Lambda response), so no preserved byte crosses a region (principle 2). The poll
takes the twelve votes at once (strongroom.flows.audit.take_votes): each call here is one
node's invocation.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from strongroom.domain.ports import BlobStore, NotFound, Unavailable
from strongroom.domain.vote import Vote, handover_key

if TYPE_CHECKING:  # development-only stubs
    from types_boto3_lambda.client import LambdaClient


class LambdaVoter:
    """voter(region, store, au, nonce, keys=None) -> Vote, for strongroom.flows.audit.run_poll."""

    def __init__(self, function_name: str, client_for: Callable[[str], LambdaClient], votes: BlobStore):
        self.function_name, self.client_for, self.votes = function_name, client_for, votes

    def __call__(self, region: str, store, au: str, nonce: bytes, keys: Collection[str] | None = None) -> Vote:
        """Invoke the auditor in `region` and read the vote it handed over (`store` stays unused:
        the auditor reads its own bucket)."""
        request = {"au": au, "nonce": nonce.hex(), "node": region, "keys": sorted(keys) if keys is not None else None}
        try:
            r = self.client_for(region).invoke(FunctionName=self.function_name, Payload=json.dumps(request).encode())
            body = json.loads(r["Payload"].read() or b"{}")
        except (ClientError, BotoCoreError, ValueError) as e:
            return _unavailable(region, au, nonce, f"the auditor in {region} could not be invoked: {e}")
        if r.get("FunctionError") or "vote_key" not in body:
            return _unavailable(
                region,
                au,
                nonce,
                f"the auditor in {region} failed: {body.get('errorMessage', body)}; "
                f"see its logs (/aws/lambda/{self.function_name} in {region})",
            )
        # Read where this poll's vote for this node must be, whatever key the answer names.
        key = handover_key(au, nonce.hex(), region)
        try:
            with self.votes.open(key) as f, gzip.open(f) as unzipped:
                vote = Vote.from_dict(json.load(unzipped))
        except (NotFound, Unavailable, OSError, ValueError, TypeError) as e:
            return _unavailable(
                region,
                au,
                nonce,
                f"the auditor in {region} answered, but its vote at s3://{self.votes.name}/{key} cannot be read: {e}",
            )
        if vote.nonce != nonce.hex() or vote.object_id != au:
            return _unavailable(region, au, nonce, f"the vote at s3://{self.votes.name}/{key} is for another poll")
        vote.node = region  # counted as the region we asked, whatever the answer claims
        return vote


def _unavailable(region: str, au: str, nonce: bytes, why: str) -> Vote:
    return Vote(node=region, object_id=au, nonce=nonce.hex(), unavailable=True, errors=[why])
