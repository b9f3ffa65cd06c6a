"""Votes taken where the bytes live: the control region's poll invokes each node's auditor.

infra/node.yaml deploys one auditor function per node region (strongroom.handlers.auditor);
it hashes its own bucket with the poll's nonce and hands over only the Vote JSON (under
audit/votes/ in the control region's ingest bucket, where this reads it: a vote of many files
outgrows a Lambda response), so no preserved byte crosses a region (principle 2). The twelve
invocations run at once: the first call for a poll starts all of them, later calls pick up
their answers.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from strongroom.domain.ports import BlobStore, NotFound, Unavailable
from strongroom.domain.vote import Vote, handover_key

if TYPE_CHECKING:  # development-only stubs
    from types_boto3_lambda.client import LambdaClient


class LambdaVoter:
    """voter(region, store, au, nonce, keys=None) -> Vote, for strongroom.flows.audit.run_poll."""

    def __init__(
        self, function_name: str, regions: list[str], client_for: Callable[[str], LambdaClient], votes: BlobStore
    ):
        self.function_name, self.regions, self.client_for = function_name, list(regions), client_for
        self.votes = votes
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.regions)), thread_name_prefix="vote")
        self._pending: dict[tuple, dict[str, Future]] = {}
        self._lock = threading.Lock()

    def __call__(self, region: str, store, au: str, nonce: bytes, keys: Collection[str] | None = None) -> Vote:
        poll = (au, nonce, tuple(sorted(keys)) if keys is not None else None)
        with self._lock:
            if poll not in self._pending:
                self._pending[poll] = {r: self._pool.submit(self._invoke, r, au, nonce, keys) for r in self.regions}
            futures = self._pending[poll]
        future = futures.get(region) or self._pool.submit(self._invoke, region, au, nonce, keys)
        vote = future.result()
        with self._lock:
            futures.pop(region, None)
            if not futures:
                self._pending.pop(poll, None)
        return vote

    def _invoke(self, region: str, au: str, nonce: bytes, keys: Collection[str] | None) -> Vote:
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
