"""BlobStore over an S3 bucket (AWS, SeaweedFS, moto): the only module that speaks S3.

Writes carry a SHA-256 the server checks (x-amz-checksum-sha256), so a corrupted upload is
refused rather than stored; copies are server-side, so replicating to eleven nodes moves
no bytes through this process.
"""

from __future__ import annotations

import base64
import builtins
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from strongroom.domain.ports import NotFound, StoredObject, Unavailable

if TYPE_CHECKING:  # development-only stubs
    from types_boto3_s3.client import S3Client

# Objects up to this size are written in one PUT with a whole-object SHA-256 the server
# verifies; larger ones in parts, each part verified. CopyObject's limit is 5 GiB.
SINGLE_PUT_LIMIT = 256 * 1024 * 1024
COPY_LIMIT = 5 * 1024**3
# Streams, not loads: s3transfer reads each part of a stream into memory and by default keeps
# up to ten parts there (max_in_memory_upload_chunks=10: ~830 MB peak ingesting a 1 GB file with
# 64 MiB parts, tests/bench/bench_ingest.py). Four 32 MiB parts, one per upload thread, keep an
# ingest's peak near 250 MB whatever the package size.
TRANSFER = TransferConfig(multipart_threshold=SINGLE_PUT_LIMIT, multipart_chunksize=32 * 1024 * 1024, max_concurrency=4)
TRANSFER.max_in_memory_upload_chunks = 4  # boto3's TransferConfig takes no argument for it
UNAVAILABLE = (BotoConnectionError, BotoCoreError)


def _b64(hexdigest: str) -> str:
    return base64.b64encode(bytes.fromhex(hexdigest)).decode()


def _hex(b64: str | None) -> str | None:
    if not b64 or "-" in b64:  # composite (multipart) checksums are not whole-object digests
        return None
    return base64.b64decode(b64).hex()


class S3BlobStore:
    """denied_is_unavailable: treat AccessDenied as Unavailable. Only for node buckets of the local
    archive, where `strongroom chaos offline` takes a node away by revoking the archive's rights on
    its bucket; on AWS a refusal is a misconfiguration and must stay loud."""

    def __init__(self, client: S3Client, bucket: str, *, denied_is_unavailable: bool = False):
        self.client = client
        self.name = bucket
        self.denied_is_unavailable = denied_is_unavailable

    def _call(self, what: str, key: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "NoSuchVersion", "404", "NotFound"):
                raise NotFound(f"s3://{self.name}/{key}") from e
            if code in ("ServiceUnavailable", "SlowDown", "InternalError", "503", "500"):
                raise Unavailable(f"s3://{self.name}: {what} {key}: {code}") from e
            if self.denied_is_unavailable and code in ("AccessDenied", "403", "Forbidden"):
                raise Unavailable(
                    f"s3://{self.name} refuses the archive ({what} {key}: {code}): the node is "
                    "offline; `strongroom chaos online <region>` brings it back"
                ) from e
            raise
        except UNAVAILABLE as e:
            raise Unavailable(f"s3://{self.name} cannot be reached ({what} {key}): {e}") from e

    def put(self, key, body, *, sha256=None, content_type=None, content_disposition=None) -> StoredObject:
        extra: dict = {}
        if content_type:
            extra["ContentType"] = content_type
        if content_disposition:
            extra["ContentDisposition"] = content_disposition
        if sha256:
            extra["Metadata"] = {"sha256": sha256}
        size = _size(body) if sha256 and not isinstance(body, bytes) else None
        if isinstance(body, bytes) or (size is not None and size <= SINGLE_PUT_LIMIT):
            if sha256:
                extra["ChecksumSHA256"] = _b64(sha256)
            else:
                extra["ChecksumAlgorithm"] = "SHA256"
            self._call("put", key, self.client.put_object, Bucket=self.name, Key=key, Body=body, **extra)
        else:
            extra["ChecksumAlgorithm"] = "SHA256"
            self._call("put", key, self.client.upload_fileobj, body, self.name, key, ExtraArgs=extra, Config=TRANSFER)
        info = self.head(key)
        if info is None:
            raise Unavailable(f"s3://{self.name}/{key} was written but cannot be read back")
        return info

    def open(self, key, *, version_id=None) -> BinaryIO:
        args = {"Bucket": self.name, "Key": key}
        if version_id:
            args["VersionId"] = version_id
        return self._call("get", key, self.client.get_object, **args)["Body"]

    def head(self, key) -> StoredObject | None:
        try:
            r = self._call("head", key, self.client.head_object, Bucket=self.name, Key=key, ChecksumMode="ENABLED")
        except NotFound:
            return None
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("403", "AccessDenied"):
                raise
            raise
        return StoredObject(
            key=key,
            size=r["ContentLength"],
            etag=r.get("ETag", "").strip('"') or None,
            sha256=_hex(r.get("ChecksumSHA256")) or r.get("Metadata", {}).get("sha256"),
            version_id=r.get("VersionId"),
        )

    def list(self, prefix="", *, versions=False) -> Iterator[StoredObject]:
        # Page by page as the caller walks: a node bucket of millions of keys is never held in memory.
        if versions:
            yield from self._list_current_versions(prefix)
            return
        pages = iter(self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix))
        while (page := self._call("list", prefix, next, pages, None)) is not None:
            for o in page.get("Contents", []):
                yield StoredObject(key=o["Key"], size=o["Size"], etag=o.get("ETag", "").strip('"') or None)

    def _list_current_versions(self, prefix: str) -> Iterator[StoredObject]:
        # Every version and delete marker, by key; a key's current version says IsLatest (a deleted
        # key's latest entry is a delete marker, so none of its versions does).
        pages = iter(self.client.get_paginator("list_object_versions").paginate(Bucket=self.name, Prefix=prefix))
        while (page := self._call("list versions", prefix, next, pages, None)) is not None:
            for v in page.get("Versions", []):
                if v.get("IsLatest"):
                    yield StoredObject(
                        key=v["Key"],
                        size=v["Size"],
                        etag=v.get("ETag", "").strip('"') or None,
                        version_id=v.get("VersionId"),
                    )

    def copy_from(self, source, key, *, dest_key=None, known=None) -> StoredObject:
        dest_key = dest_key or key
        src = {"Bucket": source.name, "Key": key}
        want = known or source.head(key)
        if want is None:
            raise NotFound(f"s3://{source.name}/{key}")
        if want.size <= COPY_LIMIT:
            r = self._call(
                "copy",
                dest_key,
                self.client.copy_object,
                Bucket=self.name,
                Key=dest_key,
                CopySource=src,
                MetadataDirective="COPY",
            )
            # The destination's own answer about the bytes it now holds: no second request needed.
            result = r.get("CopyObjectResult", {})
            etag = (result.get("ETag") or "").strip('"') or None
            if etag:
                return StoredObject(
                    key=dest_key,
                    size=want.size,
                    etag=etag,
                    sha256=_hex(result.get("ChecksumSHA256")) or want.sha256,
                    version_id=r.get("VersionId"),
                )
        else:
            self._call(
                "copy",
                dest_key,
                self.client.copy,
                src,
                self.name,
                dest_key,
                Config=TRANSFER,
                ExtraArgs={"MetadataDirective": "COPY"},
            )
        info = self.head(dest_key)
        if info is None:
            raise Unavailable(f"s3://{self.name}/{dest_key} was copied but cannot be read back")
        return info

    def delete(self, key, *, version_id=None) -> None:
        args = {"Bucket": self.name, "Key": key}
        if version_id:
            args["VersionId"] = version_id
        self._call("delete", key, self.client.delete_object, **args)

    def list_versions(self, key) -> builtins.list[StoredObject]:  # `list` here is the method above
        """Every stored version of exactly `key`, oldest first, the current one last. Delete markers
        are left out: they hold no bytes to open (a deleted key's last entry is its newest real version)."""
        paginator = self.client.get_paginator("list_object_versions")
        pages = self._call("list versions", key, lambda: list(paginator.paginate(Bucket=self.name, Prefix=key)))
        found = [v for page in pages for v in page.get("Versions", []) if v["Key"] == key]
        found.reverse()  # S3 lists a key's versions newest first (timestamps can tie within a second)
        return [
            StoredObject(
                key=key, size=v["Size"], etag=v.get("ETag", "").strip('"') or None, version_id=v.get("VersionId")
            )
            for v in found
        ]


def _size(stream) -> int | None:
    """Remaining bytes of a seekable stream, or None."""
    try:
        here = stream.tell()
        end = stream.seek(0, 2)
        stream.seek(here)
        return end - here
    except (AttributeError, OSError):
        return None
