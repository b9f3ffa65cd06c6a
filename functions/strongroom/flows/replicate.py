"""Copies of an OCFL object from one node to another, each one verified.

A copy is made server-side and counts only when the target's checksums equal the
source's. Keys are copied content first and the root inventory last, so a copy cut short
never shows a version whose content is not all there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from strongroom.domain.errors import StrongroomError
from strongroom.domain.ports import BlobStore, StoredObject


class CopyMismatch(StrongroomError, IOError):
    """A copy's checksums differ from its source's: the copy is not counted."""


def commit_order(keys: list[str]) -> list[str]:
    """Content and logs first, version inventories next, the root inventory (the commit point) last."""

    def rank(key: str) -> tuple[int, str]:
        name = key.rsplit("/", 1)[-1]
        parts = key.split("/")
        is_root_inventory = name.startswith("inventory.json") and not (
            len(parts) >= 2 and parts[-2].startswith("v") and parts[-2][1:].isdigit()
        )
        if is_root_inventory:
            return (3, key)
        if name.startswith("inventory.json"):
            return (2, key)
        if name.startswith("0="):
            return (0, key)
        return (1, key)

    return sorted(keys, key=rank)


def same_bytes(a: StoredObject, b: StoredObject) -> bool:
    """Whether two stored objects are the same bytes, judged by the stores' own checksums."""
    if a.size != b.size:
        return False
    if a.sha256 and b.sha256:
        return a.sha256 == b.sha256
    return bool(a.etag) and a.etag == b.etag


def copy_verified(source: BlobStore, target: BlobStore, key: str, want: StoredObject | None = None) -> StoredObject:
    """Copy one key; it counts only if the target's checksums equal the source's (`want`, if known)."""
    want = want or source.head(key)
    got = target.copy_from(source, key, known=want)
    if want is None or not same_bytes(want, got):
        raise CopyMismatch(f"{target.name}/{key}: copy does not match {source.name}/{key}; it will be retried")
    return got


@dataclass
class SyncResult:
    copied: list[str] = field(default_factory=list)
    already: int = 0
    conflicts: list[str] = field(default_factory=list)  # immutable keys whose bytes differ: for the auditor


MUTABLE = ("inventory.json", "inventory.json.sha512", "inventory.json.sha256")


def sync_object(source: BlobStore, target: BlobStore, object_root: str) -> SyncResult:
    """Bring target's copy of one OCFL object up to source's, copying only what is missing.

    Files that OCFL never rewrites (content, version inventories, logs) are copied only
    when absent; a different file already there is reported, never overwritten here: that
    is damage, for the audit to judge and repair from agreeing copies.
    """
    prefix = object_root.rstrip("/") + "/"
    have = {o.key: o for o in target.list(prefix)}
    result = SyncResult()
    for key in commit_order([o.key for o in source.list(prefix)]):
        mine = have.get(key)
        if mine is not None:
            theirs = source.head(key)
            if theirs is not None and same_bytes(theirs, target.head(key) or mine):
                result.already += 1
                continue
            if key[len(prefix) :] not in MUTABLE:
                result.conflicts.append(key)
                continue
        copy_verified(source, target, key)
        result.copied.append(key)
    return result
