"""OCFL 1.1 storage for strongroom: every node bucket is a storage root, every AU an object.

layout:    the storage root and extension 0003 (object_root)
inventory: the inventory model and version planning (pure)
store:     writing versions in crash-safe order, reading inventories, object logs
"""

from strongroom.domain.ocfl.inventory import (
    DIGEST_ALGORITHM,
    FIXITY_ALGORITHM,
    INVENTORY,
    SIDECAR,
    FileDigest,
    Inventory,
    InventoryError,
    User,
    Version,
    VersionPlan,
    check_path,
    digest_stream,
    plan_version,
    sidecar,
    sidecar_digest,
)
from strongroom.domain.ocfl.layout import (
    LAYOUT_EXTENSION,
    OBJECT_DECLARATION,
    ROOT_DECLARATION,
    encapsulation_directory,
    object_key,
    object_root,
    storage_path,
    storage_root_files,
    storage_root_keys,
)
from strongroom.domain.ocfl.store import (
    InventoryDigestMismatch,
    LogExists,
    OcflWriter,
    StorageRootConflict,
    VersionConflict,
    append_log,
    list_object_ids,
    read_inventory,
    read_inventory_at,
    read_logs,
    version_inventory_digests,
)

__all__ = [
    "version_inventory_digests",
    "DIGEST_ALGORITHM", "FIXITY_ALGORITHM", "INVENTORY", "SIDECAR", "LAYOUT_EXTENSION",
    "OBJECT_DECLARATION", "ROOT_DECLARATION",
    "FileDigest", "Inventory", "User", "Version", "VersionPlan", "OcflWriter",
    "InventoryError", "InventoryDigestMismatch", "LogExists", "StorageRootConflict", "VersionConflict",
    "append_log", "check_path", "digest_stream", "encapsulation_directory", "list_object_ids",
    "object_key", "object_root", "plan_version", "read_inventory", "read_inventory_at", "sidecar",
    "sidecar_digest", "storage_path", "storage_root_files", "storage_root_keys", "read_logs",
]
