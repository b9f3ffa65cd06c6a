"""One node's vote in a poll: what its bytes hash to under a fresh nonce, computed where they live.

As in LOCKSS, a node proves it still holds the bytes by hashing them with a nonce it could
not have known in advance: H(nonce || bytes) = sha256(nonce, then the bytes). A stored
checksum proves nothing; a nonce hash cannot be replayed. In the same single read of each
file the node also computes the sha512 that OCFL inventories use, so the tally can judge
each copy against the inventory and against the other nodes. Only these digests leave the
node's region (on AWS, vote runs in a per-region Lambda).

The vote hashes every file under the object root except logs/, not only the files its own
inventory names: that inventory may itself be damaged, rolled back or tampered with, and a
vote that trusted it would hide the very files the tally must judge.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from strongroom.domain.hashing import CHUNK, HashingReader
from strongroom.domain.ocfl.inventory import (
    INVENTORY,
    SIDECAR,
    Inventory,
    InventoryError,
    sidecar_digest,
)
from strongroom.domain.ocfl.layout import LOGS, object_root
from strongroom.domain.ports import BlobStore, NotFound, Unavailable
from strongroom.domain.vote import FileHash, InventoryVote, Vote, expected_in_object

INVENTORY_LIMIT = 256 << 20  # a root inventory larger than this is not parsed (it is still hashed)
# Files read at once by one vote: small files cost a request's latency each, so a vote of many small
# files is bound by round trips, not bytes, unless several are in flight.
READS_IN_FLIGHT = 8

T = TypeVar("T")
R = TypeVar("R")


class _Counting:
    """Counts the requests a vote makes, so the report says what a poll cost each node."""

    def __init__(self, store: BlobStore):
        self.store, self.requests, self._lock = store, 0, threading.Lock()

    def __getattr__(self, name):
        attr = getattr(self.store, name)
        if callable(attr):

            def call(*a, **kw):
                with self._lock:
                    self.requests += 1
                return attr(*a, **kw)

            return call
        return attr


def in_order(fn: Callable[[T], R], items: Iterable[T], in_flight: int) -> Iterator[R]:
    """fn over items with up to in_flight calls running at once, results in the items' order; at most
    in_flight results wait to be taken, so memory stays bounded however many items there are."""
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="read") as pool:
        window: deque[Future[R]] = deque()
        for item in items:
            if len(window) >= in_flight:
                yield window.popleft().result()
            window.append(pool.submit(fn, item))
        while window:
            yield window.popleft().result()


def hash_file(
    store: BlobStore, key: str, nonce: bytes, version_id: str | None = None, keep_prefix: int = 0
) -> tuple[FileHash, bytes]:
    """One read of one object: its nonce hash, sha512 and size, in bounded memory.

    keep_prefix > 0 also returns up to that many first bytes (the vote parses the root
    inventory from them, so the inventory is read once, like any other file).
    """
    kept = bytearray()
    with store.open(key, version_id=version_id) if version_id is not None else store.open(key) as f:
        # sha256 seeded with the nonce is H(nonce || bytes); sha512 is the plain digest OCFL records.
        reader = HashingReader(f, ("sha256", "sha512"), seed={"sha256": nonce})
        while len(kept) < keep_prefix and (chunk := reader.read(CHUNK)):
            kept += chunk[: keep_prefix - len(kept)]
        reader.drain()
    return FileHash(reader.hexdigest("sha256"), reader.hexdigest("sha512"), reader.size, version_id), bytes(kept)


def vote(store: BlobStore, object_id: str, nonce: bytes, node: str, *, keys: Collection[str] | None = None) -> Vote:
    """Hash one node's copy of one object with the poll's nonce: one read pass per file.

    keys (relative to the object root) limits the vote to those files (a confirmation poll
    after a repair); by default every file under the object root but logs/ is hashed.
    An unreachable node votes unavailable=True (never 'damaged'): the poll retries it later.
    """
    if len(nonce) < 16:
        raise ValueError("a poll nonce needs at least 128 bits; use new_nonce()")
    counted = _Counting(store)
    result = Vote(node=node, object_id=object_id, nonce=nonce.hex())
    root = object_root(object_id)
    try:
        _vote(counted, root, nonce, result, keys)
    except Unavailable as e:
        return Vote(
            node=node,
            object_id=object_id,
            nonce=nonce.hex(),
            unavailable=True,
            errors=[f"{getattr(store, 'name', node)} unavailable: {e}; the poll will ask again"],
            requests=counted.requests,
            bytes_read=result.bytes_read,
        )
    result.requests = counted.requests
    return result


def _vote(store: _Counting, root: str, nonce: bytes, result: Vote, keys: Collection[str] | None) -> None:
    # One listing with version ids: each read is pinned to the version listed, with no request per file
    # to learn it.
    listed = {o.key[len(root) + 1 :]: o for o in store.list(f"{root}/", versions=True)}
    wanted = [k for k in listed if not k.startswith(f"{LOGS}/")] if keys is None else list(keys)
    inventory_bytes, declared = b"", None
    result.missing += [rel for rel in sorted(wanted) if rel not in listed]

    def read(rel: str) -> tuple[str, tuple[FileHash, bytes] | None]:
        obj = listed[rel]
        try:
            return rel, hash_file(
                store, obj.key, nonce, obj.version_id, keep_prefix=INVENTORY_LIMIT if rel in (INVENTORY, SIDECAR) else 0
            )
        except NotFound:  # deleted between listing and reading
            return rel, None

    for rel, got in in_order(read, sorted(r for r in wanted if r in listed), READS_IN_FLIGHT):
        if got is None:
            result.missing.append(rel)
            continue
        fh, prefix = got
        result.files[rel] = fh
        result.bytes_read += fh.size
        if rel == INVENTORY:
            inventory_bytes = prefix if fh.size <= INVENTORY_LIMIT else b""
        elif rel == SIDECAR:
            try:
                declared = sidecar_digest(prefix)
            except InventoryError as e:
                result.errors.append(f"{SIDECAR}: {e}")

    if INVENTORY in result.files:
        fh = result.files[INVENTORY]
        inv = InventoryVote(
            sha512=fh.sha512, nonce_hash=fh.nonce_hash, sidecar_sha512=declared, consistent=declared == fh.sha512
        )
        named: set[str] | None = None
        try:
            parsed = Inventory.from_json(inventory_bytes)
            if parsed.id != result.object_id:
                raise InventoryError(f"it names object {parsed.id!r}")
            inv.head = parsed.head
            named = {cp for cps in parsed.manifest.values() for cp in cps}
        except InventoryError as e:
            result.errors.append(f"{INVENTORY} is not a usable inventory of {result.object_id}: {e}")
        result.inventory = inv
        if named is not None and keys is None:
            result.missing += sorted(named - set(listed))
            result.extra = sorted(k for k in listed if k not in named and not expected_in_object(k))
    elif keys is None and listed:
        result.errors.append(f"{INVENTORY} is missing: this copy cannot say what it should hold")
