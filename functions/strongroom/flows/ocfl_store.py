"""Reading and writing OCFL objects in a BlobStore, in an order that survives a crash.

Commit protocol: content, then vN/inventory.json and its sidecar, then the root
inventory.json and LAST its sidecar. The root pair, agreeing, is the commit point.
A reader that finds them disagreeing because a writer stopped between the two puts
falls back to the previous version (whose own inventory the old sidecar still
matches), so an interrupted deposit never hides what was already committed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from typing import BinaryIO

from strongroom.domain.errors import StrongroomError
from strongroom.domain.ocfl.inventory import (
    INVENTORY,
    SIDECAR,
    Inventory,
    InventoryError,
    VersionPlan,
    check_path,
    sidecar,
    sidecar_digest,
    version_number,
)
from strongroom.domain.ocfl.layout import (
    LAYOUT_CONFIG_KEY,
    LAYOUT_EXTENSION,
    LAYOUT_FILE,
    LOGS,
    NUMBER_OF_TUPLES,
    OBJECT_DECLARATION,
    OBJECT_DECLARATION_BODY,
    ROOT_DECLARATION,
    object_root,
    storage_root_files,
)
from strongroom.domain.ports import BlobStore, NotFound

log = logging.getLogger(__name__)


class InventoryDigestMismatch(InventoryError):
    """inventory.json does not match its sidecar and no interrupted write explains it: the copy is damaged."""


class VersionConflict(StrongroomError, RuntimeError):
    """The store's committed head is not the one the plan was made from (another writer, or a stale plan)."""


class StorageRootConflict(StrongroomError, RuntimeError):
    """The bucket already holds a storage root we must not change (other OCFL version or layout)."""


class LogExists(StrongroomError, FileExistsError):
    """Object logs are append-only: a log file is never rewritten."""


def _read(store: BlobStore, key: str) -> bytes | None:
    """A small metadata object (inventory, sidecar, config), or None when absent."""
    try:
        with store.open(key) as f:
            return f.read()
    except NotFound:
        return None


def _sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def _put_small(store: BlobStore, key: str, body: bytes) -> bool:
    """Put unless identical bytes are already there (a re-run should not pile up noncurrent versions)."""
    digest = hashlib.sha256(body).hexdigest()
    existing = store.head(key)
    if existing is not None and existing.sha256 == digest and existing.size == len(body):
        return False
    store.put(key, body, sha256=digest, content_type="application/json" if key.endswith(".json") else None)
    return True


def _damaged(store: BlobStore, root: str, why: str) -> InventoryDigestMismatch:
    return InventoryDigestMismatch(
        f"{store.name}/{root}: {why}. This copy of the object is damaged: do not write a new version here; "
        "repair it from a node whose inventory.json matches its inventory.json.sha512."
    )


def read_inventory_at(store: BlobStore, root: str) -> Inventory | None:
    """The committed inventory of the object at root, checked against its sidecar; None if none committed."""
    body = _read(store, f"{root}/{INVENTORY}")
    side = _read(store, f"{root}/{SIDECAR}")
    if body is None:
        if side is None:
            return None
        raise _damaged(store, root, f"{SIDECAR} exists but {INVENTORY} does not")
    if side is not None and sidecar_digest(side) == _sha512(body):
        return Inventory.from_json(body)
    # Disagreement. The only one our writer can leave is "root inventory written, sidecar not yet":
    # the new inventory is then byte-identical to vN/inventory.json, and the old sidecar (if any)
    # matches v(N-1)/inventory.json, the last committed version.
    try:
        head = Inventory.from_json(body).head
    except InventoryError as e:
        raise _damaged(store, root, f"{INVENTORY} does not match {SIDECAR} and cannot be read ({e})") from e
    if _read(store, f"{root}/{head}/{INVENTORY}") == body:
        n = version_number(head)
        if side is None and n == 1:
            return None  # the first version was never committed
        if side is not None and n > 1:
            prev = f"v{n - 1:0{len(head) - 1}d}" if head[1] == "0" else f"v{n - 1}"
            prev_body = _read(store, f"{root}/{prev}/{INVENTORY}")
            if prev_body is not None and _sha512(prev_body) == sidecar_digest(side):
                return Inventory.from_json(prev_body)
    raise _damaged(store, root, f"{INVENTORY} does not match {SIDECAR}")


def read_inventory(store: BlobStore, object_id: str, *, sizes: bool = True) -> Inventory | None:
    """The object's committed inventory (sidecar checked), or None when the store has no version of it.

    With sizes (default), one listing of the object fills inventory.sizes, so head_state_digests()
    works; pass sizes=False when only digests are needed.
    """
    root = object_root(object_id)
    inv = read_inventory_at(store, root)
    if inv is None:
        return None
    if inv.id != object_id:
        raise _damaged(store, root, f"its inventory names id {inv.id!r}, not {object_id!r}")
    if sizes:
        content = {cp for cps in inv.manifest.values() for cp in cps}
        inv.sizes = {
            o.key[len(root) + 1 :]: o.size for o in store.list(f"{root}/v") if o.key[len(root) + 1 :] in content
        }
    return inv


def read_logs(store: BlobStore, object_id: str) -> Iterator[bytes]:
    """The bodies of the object's logs/ files, in name order (append_log's names sort by time if stamped)."""
    prefix = f"{object_root(object_id)}/{LOGS}/"
    for obj in store.list(prefix):
        with store.open(obj.key) as f:
            yield f.read()


def list_object_ids(store: BlobStore, on_damaged: Callable[[str, Exception], None] | None = None) -> Iterator[str]:
    """Every committed object's id, found from the bucket alone (how the catalog is rebuilt).

    Objects whose first version never committed are skipped. A damaged object raises,
    unless on_damaged(object_root, error) is given, which is then told and the walk goes on.
    """
    for obj in store.list():
        root, _, name = obj.key.rpartition("/")
        # Our layout puts object roots exactly NUMBER_OF_TUPLES + 1 segments deep; this skips a
        # content file that merely happens to be called 0=ocfl_object_1.1.
        if name != OBJECT_DECLARATION or root.count("/") != NUMBER_OF_TUPLES:
            continue
        try:
            inv = read_inventory_at(store, root)
            if inv is not None and object_root(inv.id) != root:
                raise _damaged(store, root, f"its inventory id {inv.id!r} belongs at {object_root(inv.id)!r}")
        except InventoryError as e:
            if on_damaged is None:
                raise
            on_damaged(root, e)
            continue
        if inv is not None:
            yield inv.id


def append_log(store: BlobStore, object_id: str, name: str, body: bytes) -> str:
    """Write logs/<name> in the object (OCFL's place for events outside versions); never rewrites one."""
    check_path(name, "log name")
    if "/" in name:
        raise InventoryError(f"log name {name!r} has a '/'; logs/ is flat, use e.g. 20240501T120000Z-ingest.jsonl")
    root = object_root(object_id)
    if store.head(f"{root}/{OBJECT_DECLARATION}") is None:
        # A logs/ directory alone would be a directory without an object declaration: invalid OCFL.
        raise NotFound(f"{store.name}: object {object_id} does not exist yet; write its first version, then log")
    key = f"{root}/{LOGS}/{name}"
    if store.head(key) is not None:
        raise LogExists(f"{store.name}/{key} exists; logs are append-only, choose a new name (add a timestamp)")
    store.put(key, body, sha256=hashlib.sha256(body).hexdigest())
    return key


class OcflWriter:
    """Writes the storage root and object versions into one node's BlobStore."""

    def __init__(self, store: BlobStore):
        self.store = store

    def ensure_storage_root(self) -> list[str]:
        """Make the bucket an OCFL 1.1 storage root (idempotent); returns the keys it had to write."""
        store = self.store
        others = [o.key for o in store.list("0=") if "/" not in o.key and o.key != ROOT_DECLARATION]
        if others:
            raise StorageRootConflict(
                f"{store.name} declares {others}, not {ROOT_DECLARATION}; "
                "use an empty bucket, or migrate that storage root first"
            )
        for key, ours in storage_root_files():
            if key in (LAYOUT_FILE, LAYOUT_CONFIG_KEY):
                found = _read(store, key)
                if found is not None and found != ours:
                    raise StorageRootConflict(
                        f"{store.name}/{key} differs from strongroom's {LAYOUT_EXTENSION} layout; objects would "
                        "not be found where it says. Use an empty bucket, or fix the file by hand"
                    )
        return [key for key, body in storage_root_files() if _put_small(store, key, body)]

    def write_version(
        self, plan: VersionPlan, open_logical: Callable[[str], BinaryIO], sha256_of: Callable[[str], str] | None = None
    ) -> list[str]:
        """Store plan's new content and inventories, commit last; returns every key of the version, in order.

        open_logical(logical_path) gives a stream that goes straight to the store.
        sha256_of(logical_path), when given, must agree with the plan (a second, independent
        source, e.g. the bag manifest); the store verifies the bytes against it on write.
        A re-run after a crash (same or new plan from read_inventory) completes the job.
        """
        if plan.unchanged:
            return []
        store, root = self.store, object_root(plan.object_id)
        committed = read_inventory(store, plan.object_id, sizes=False)
        if (committed.head if committed else None) != plan.previous_head:
            raise VersionConflict(
                f"{store.name}: {plan.object_id} is at {committed.head if committed else 'no version'}, "
                f"but the plan was made from {plan.previous_head or 'no version'}; "
                "re-plan from this store's read_inventory()"
            )
        inv_bytes = plan.inventory.to_json()
        sidecar_name, sidecar_bytes = sidecar(inv_bytes)
        version_keys = [f"{root}/{plan.version}/{INVENTORY}", f"{root}/{plan.version}/{sidecar_name}"]
        content_keys = {f"{root}/{cp}": cp for cp, _ in plan.new_content}

        # Whatever a crashed attempt left in this (uncommitted) version directory and the plan does not
        # name would make the object invalid. Versioned buckets keep it as a noncurrent version.
        for obj in list(store.list(f"{root}/{plan.version}/")):
            if obj.key not in content_keys and obj.key not in version_keys:
                store.delete(obj.key)

        written: list[str] = []
        try:
            self._write_uncommitted(plan, open_logical, sha256_of, written)
            _put_small(store, f"{root}/{INVENTORY}", inv_bytes)  # the commit point
        except Exception:
            # A failure before the commit point (a refused write, a source that changed, a store that
            # stopped answering) must not leave an invalid object behind: an uncommitted version
            # directory, or a declaration with no inventory. The bytes stay as noncurrent versions.
            # (A process killed here cannot clean up: a re-run clears the attempt, see above.)
            for key in reversed(written):
                try:
                    store.delete(key)
                except Exception as e:  # noqa: BLE001 - the first error is the one to report
                    log.warning("%s/%s: left by a failed write and not removed (%s)", store.name, key, e)
            raise
        written.append(f"{root}/{INVENTORY}")
        _put_small(store, f"{root}/{sidecar_name}", sidecar_bytes)  # past the commit point: a re-run ends it
        written.append(f"{root}/{sidecar_name}")
        return written

    def _write_uncommitted(
        self,
        plan: VersionPlan,
        open_logical: Callable[[str], BinaryIO],
        sha256_of: Callable[[str], str] | None,
        written: list[str],
    ) -> None:
        """The declaration (first version), the new content and the version's inventories: everything
        up to the commit point, each key added to `written` as it lands."""
        store, root = self.store, object_root(plan.object_id)
        inv_bytes = plan.inventory.to_json()
        sidecar_name, sidecar_bytes = sidecar(inv_bytes)
        version_keys = [f"{root}/{plan.version}/{INVENTORY}", f"{root}/{plan.version}/{sidecar_name}"]
        if plan.previous_head is None:
            _put_small(store, f"{root}/{OBJECT_DECLARATION}", OBJECT_DECLARATION_BODY)
            written.append(f"{root}/{OBJECT_DECLARATION}")

        sha256_at = {cp: d for d, cps in plan.inventory.fixity.get("sha256", {}).items() for cp in cps}
        if sha256_of is not None:  # check all before writing any
            for content_path, logical_path in plan.new_content:
                if sha256_of(logical_path).lower() != sha256_at[content_path]:
                    raise InventoryError(
                        f"{plan.object_id}: {logical_path!r} sha256 {sha256_of(logical_path)} disagrees with "
                        f"the plan's {sha256_at[content_path]}; recompute the file's digests and plan again"
                    )
        for content_path, logical_path in plan.new_content:
            key, expected, size = f"{root}/{content_path}", sha256_at[content_path], plan.sizes[content_path]
            existing = store.head(key)
            if existing is None or existing.sha256 != expected or existing.size != size:
                with open_logical(logical_path) as stream:
                    stored = store.put(key, stream, sha256=expected)
                if stored.size != size:
                    raise InventoryError(
                        f"{store.name}/{key}: stored {stored.size} bytes, the plan says {size}; "
                        "the source changed after it was hashed, hash it again and re-plan"
                    )
            written.append(key)

        for key, body in zip(version_keys, (inv_bytes, sidecar_bytes)):
            _put_small(store, key, body)
            written.append(key)


def version_inventory_digests(store: BlobStore, object_id: str, inventory: Inventory) -> dict[str, str]:
    """{version: sha512 of its inventory.json} as the object's version sidecars record them.

    A version's inventory is byte-identical to the root inventory it was committed as, so
    these are the digests a poll trusts over a majority of nodes (used when the catalog is
    rebuilt from a bucket)."""
    root = object_root(object_id)
    digests: dict[str, str] = {}
    for version in inventory.versions:
        side = _read(store, f"{root}/{version}/{SIDECAR}")
        if side is not None:
            digests[version] = sidecar_digest(side)
    return digests
