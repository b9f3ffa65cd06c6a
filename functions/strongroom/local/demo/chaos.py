"""Damage copies on purpose, straight in one node's store (bypassing the archive), for demos and tests.

Each function returns a Damage: what was done to which key, and the version id the good
bytes had, so a test can check afterwards that the poll found and repaired exactly this.
Rewrites stream (bounded memory), as everything else in strongroom does.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import asdict, dataclass, field
from typing import BinaryIO

from strongroom.domain.errors import StrongroomError
from strongroom.domain.hashing import CHUNK
from strongroom.domain.ocfl.inventory import INVENTORY, Inventory, sidecar
from strongroom.domain.ocfl.layout import object_root
from strongroom.domain.ports import BlobStore, NotFound

KINDS = ("flip_bits", "truncate", "delete", "replace", "rollback", "tamper_inventory", "wipe_node")


class ChaosError(StrongroomError, RuntimeError):
    """The damage asked for cannot be done to this key (e.g. nothing older to roll back to)."""


@dataclass
class Damage:
    """Ground truth of one act of chaos."""

    kind: str
    node: str  # the store's name
    keys: list[str] = field(default_factory=list)  # store keys changed
    before: dict[str, str | None] = field(default_factory=dict)  # key -> version id of the bytes replaced
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


class _Rewrite(io.RawIOBase):
    """A stream of another stream's bytes, with bits flipped at given offsets and cut at a length."""

    def __init__(self, source: BinaryIO, flips: dict[int, int], limit: int | None):
        self.source, self.flips, self.limit, self.pos = source, flips, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        want = len(buffer) if self.limit is None else min(len(buffer), self.limit - self.pos)
        data = self.source.read(want) if want > 0 else b""
        if not data:
            return 0
        chunk = bytearray(data)
        for offset, mask in self.flips.items():
            if self.pos <= offset < self.pos + len(chunk):
                chunk[offset - self.pos] ^= mask
        buffer[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


def _current(store: BlobStore, key: str):
    info = store.head(key)
    if info is None:
        raise ChaosError(f"{store.name}/{key} does not exist; pick a key from store.list()")
    return info


def _rewrite(store: BlobStore, key: str, flips: dict[int, int], limit: int | None) -> None:
    with store.open(key) as src:
        store.put(key, io.BufferedReader(_Rewrite(src, flips, limit), CHUNK))


def flip_bits(store: BlobStore, key: str, n: int = 1, rng: random.Random | None = None) -> Damage:
    """Flip n distinct bits (bit rot). An empty file gets one byte instead: still damage."""
    rng = rng or random.Random()
    info = _current(store, key)
    if info.size == 0:
        store.put(key, b"\x01")
        return Damage("flip_bits", store.name, [key], {key: info.version_id}, "empty file: wrote one byte")
    bits = rng.sample(range(info.size * 8), min(max(n, 1), info.size * 8))
    flips: dict[int, int] = {}
    for bit in bits:
        flips[bit // 8] = flips.get(bit // 8, 0) ^ (1 << (bit % 8))
    _rewrite(store, key, flips, None)
    return Damage("flip_bits", store.name, [key], {key: info.version_id}, f"{len(bits)} bit(s) flipped")


def truncate(store: BlobStore, key: str, length: int | None = None) -> Damage:
    """Cut the file short (default: to half its size; an empty file gets one byte)."""
    info = _current(store, key)
    if info.size == 0:
        store.put(key, b"\x00")
        return Damage("truncate", store.name, [key], {key: info.version_id}, "empty file: wrote one byte")
    length = info.size // 2 if length is None else length
    if length >= info.size:
        raise ChaosError(f"{store.name}/{key} is {info.size} bytes; truncate to fewer")
    _rewrite(store, key, {}, length)
    return Damage("truncate", store.name, [key], {key: info.version_id}, f"{info.size} -> {length} bytes")


def delete(store: BlobStore, key: str) -> Damage:
    """Remove the file (a versioned store keeps the old bytes as a noncurrent version)."""
    info = _current(store, key)
    store.delete(key)
    return Damage("delete", store.name, [key], {key: info.version_id}, "deleted")


def replace(store: BlobStore, key: str, body: bytes | BinaryIO) -> Damage:
    """Put other bytes in its place."""
    info = _current(store, key)
    store.put(key, body)
    return Damage("replace", store.name, [key], {key: info.version_id}, "replaced with other bytes")


def rollback(store: BlobStore, key: str) -> Damage:
    """Make the previous version current again (a replayed old write). Needs BlobStore.list_versions."""
    info = _current(store, key)
    versions = getattr(store, "list_versions", None)
    if versions is None:
        raise ChaosError(f"{store.name} cannot list versions; rollback needs a versioned store (list_versions)")
    older = [v for v in versions(key) if v.version_id != info.version_id]
    if not older:
        raise ChaosError(f"{store.name}/{key} has no older version to roll back to; use replace() instead")
    with store.open(key, version_id=older[-1].version_id) as old:
        store.put(key, old)
    return Damage(
        "rollback", store.name, [key], {key: info.version_id}, f"version {older[-1].version_id} made current again"
    )


def tamper_inventory(store: BlobStore, object_id: str, rng: random.Random | None = None) -> Damage:
    """Edit one content digest in the root inventory and rewrite its sidecar to match, so the copy
    looks self-consistent: only comparison with the other nodes (or the catalog) can catch it."""
    rng = rng or random.Random()
    root = object_root(object_id)
    key, side_key = f"{root}/{INVENTORY}", f"{root}/{INVENTORY}.sha512"
    info, side_info = _current(store, key), store.head(side_key)
    with store.open(key) as f:
        doc = json.load(f)  # an inventory is metadata: parsed whole, as readers do
    digest = rng.choice(sorted(doc["manifest"]))
    forged = "".join(rng.choice("0123456789abcdef") for _ in range(128))
    doc["manifest"][forged] = doc["manifest"].pop(digest)
    for version in doc["versions"].values():
        if digest in version["state"]:
            version["state"][forged] = version["state"].pop(digest)
    body = Inventory.from_json(json.dumps(doc).encode()).to_json()
    store.put(key, body)
    store.put(side_key, sidecar(body)[1])
    return Damage(
        "tamper_inventory",
        store.name,
        [key, side_key],
        {key: info.version_id, side_key: side_info.version_id if side_info else None},
        f"digest {digest[:16]}... replaced by {forged[:16]}..., sidecar rewritten to match",
    )


def wipe_node(store: BlobStore, object_id: str | None = None) -> Damage:
    """Delete one object's every file on this node, or (object_id None) everything in the bucket."""
    prefix = f"{object_root(object_id)}/" if object_id else ""
    keys = [o.key for o in store.list(prefix)]
    before = {}
    for k in keys:
        info = store.head(k)
        before[k] = info.version_id if info else None
        try:
            store.delete(k)
        except NotFound:
            pass
    return Damage("wipe_node", store.name, keys, before, f"{len(keys)} file(s) deleted under {prefix or 'the bucket'}")


def take_offline(store: BlobStore, offline: bool = True) -> Damage:
    """Make the node unreachable (every call raises Unavailable), or reachable again."""
    if not hasattr(store, "offline"):
        raise ChaosError(f"{store.name} has no offline switch; block it at the network instead")
    store.offline = offline
    return Damage("take_offline", store.name, [], {}, "offline" if offline else "online again")
