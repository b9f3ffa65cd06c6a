"""The two things the domain needs from the outside world, as small interfaces.

Adapters (strongroom.adapters) implement them over boto3; tests implement them in memory
(tests/fakes.py). Nothing in strongroom.domain imports boto3.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from strongroom.domain.errors import StrongroomError


@dataclass(frozen=True)
class StoredObject:
    """What a store says about one object, without reading it."""

    key: str
    size: int
    etag: str | None = None
    sha256: str | None = None  # hex; the store's own checksum when it keeps one
    version_id: str | None = None


class NotFound(StrongroomError, KeyError):
    """The key is not in the store."""


class Unavailable(StrongroomError, IOError):
    """The store (a node) cannot be reached now; the operation can be retried later."""


class BlobStore(Protocol):
    """One bucket. Keys are '/'-separated. Bodies are streams: never load a whole object."""

    name: str

    def put(
        self,
        key: str,
        body: BinaryIO | bytes,
        *,
        sha256: str | None = None,
        content_type: str | None = None,
        content_disposition: str | None = None,
    ) -> StoredObject:
        """Store body at key. With sha256 (hex), the store refuses bytes that do not match it.
        content_type and content_disposition are kept with the object and sent when it is served."""
        ...

    def open(self, key: str, *, version_id: str | None = None) -> BinaryIO:
        """A readable stream of the object; raises NotFound."""
        ...

    def head(self, key: str) -> StoredObject | None:
        """The object's size and checksums, or None when it does not exist."""
        ...

    def list(self, prefix: str = "", *, versions: bool = False) -> Iterator[StoredObject]:
        """Every current object under prefix, in key order: key, size and ETag.

        versions=True also gives each one's version_id (S3: ListObjectVersions), so that a reader
        can pin its reads to what was listed without asking for each object again."""
        ...

    def copy_from(
        self, source: BlobStore, key: str, *, dest_key: str | None = None, known: StoredObject | None = None
    ) -> StoredObject:
        """Copy source's key here (server-side where the stores allow), keeping its checksums.
        `known` is the source's head when the caller has it already (one request saved per copy)."""
        ...

    def delete(self, key: str, *, version_id: str | None = None) -> None:
        """Remove the current version (versioned buckets keep the old bytes); with version_id,
        remove exactly that version for good (S3: a newer one stays, an older one becomes current)."""
        ...

    def list_versions(self, key: str) -> builtins.list[StoredObject]:  # `list` here is the method above
        """Every stored version of key, oldest first, the current one last (its version_id opens it).

        Optional: the audit's chaos tools use it to roll a file back; stores without versions may omit it.
        """
        ...
