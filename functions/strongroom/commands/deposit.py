"""A publisher's push: upload a package under incoming/ and wait for the archive's answer.

It uses only what a publisher has: credentials that may write its own incoming/ prefix
and read its own receipts/ and rejections/.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from strongroom.domain.au import AuId, PackageKey


@dataclass
class Answer:
    kind: str  # "receipt" or "rejection"
    key: str
    document: dict


def package_key(path: Path, au: AuId) -> PackageKey:
    """Where the package goes; raises Rejected (every problem, each with its fix) for a name ingest would refuse."""
    return PackageKey.parse(f"incoming/{au}/{path.name}")


def push(s3, bucket: str, path: Path, au: AuId, progress=None) -> tuple[PackageKey, float]:
    """Upload the package (multipart for large files); returns its key and when the push began."""
    pk = package_key(path, au)
    started = time.time()
    s3.upload_file(str(path), bucket, pk.key, Callback=progress)
    return pk, started


def wait_for_answer(
    s3, bucket: str, pk: PackageKey, since: float, timeout: float = 600, interval: float = 0.5
) -> Answer:
    """The receipt or rejection written for this push (not an older one for the same key)."""
    deadline = time.time() + timeout
    candidates = (("receipt", pk.sibling("receipts", ".json")), ("rejection", pk.sibling("rejections", ".json")))
    while time.time() < deadline:
        for kind, key in candidates:
            try:
                obj = s3.get_object(Bucket=bucket, Key=key)
            except s3.exceptions.ClientError as e:  # the client carries botocore's error class
                if e.response["Error"]["Code"] in ("NoSuchKey", "404"):
                    continue
                raise
            if obj["LastModified"].timestamp() >= since - 2:
                return Answer(kind, key, json.loads(obj["Body"].read()))
        time.sleep(interval)
    raise TimeoutError(
        f"no receipt or rejection for {pk.key} after {timeout:.0f} s; is the archive running (`strongroom up`)? "
        f"The package is safe in the ingest bucket and will be ingested when it is."
    )
