"""Point the public site's CloudFront distribution at a new render (AWS only).

The distribution's S3 origin has OriginPath /releases/<render-id>/site; switching a release
is one UpdateDistribution (each edge flips as a whole when the new configuration reaches it)
and an invalidation of everything (cached pages of withdrawn content must go at once). The
old render can only be deleted once the distribution is Deployed, so `switch` says whether
it is: if not, the next publish prunes it.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # development-only stubs
    from types_boto3_cloudfront.client import CloudFrontClient


class OriginSwitch:
    def __init__(
        self, client: CloudFrontClient, distribution_id: str, origin_id: str = "site", wait_seconds: float = 600
    ):
        self.client = client
        self.distribution_id = distribution_id
        self.origin_id = origin_id
        self.wait_seconds = wait_seconds

    def __call__(self, prefix: str) -> bool:
        got = self.client.get_distribution_config(Id=self.distribution_id)
        config, etag = got["DistributionConfig"], got["ETag"]
        path = "/" + prefix.rstrip("/") + "/site"
        origins = config["Origins"]["Items"]
        origin = next((o for o in origins if o["Id"] == self.origin_id), None)
        if origin is None:
            raise RuntimeError(f"distribution {self.distribution_id} has no origin {self.origin_id!r}")
        if origin.get("OriginPath") != path:
            origin["OriginPath"] = path
            self.client.update_distribution(Id=self.distribution_id, IfMatch=etag, DistributionConfig=config)
        self.client.create_invalidation(
            DistributionId=self.distribution_id,
            InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": uuid.uuid4().hex},
        )
        deadline = time.monotonic() + self.wait_seconds
        while time.monotonic() < deadline:
            if self.client.get_distribution(Id=self.distribution_id)["Distribution"]["Status"] == "Deployed":
                return True
            time.sleep(15)
        return False
