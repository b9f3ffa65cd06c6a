"""OCFL 1.1 storage for strongroom: every node bucket is a storage root, every AU an object.

layout:    the storage root and extension 0003 (object_root)
inventory: the inventory model and version planning (pure)
Reading and writing objects over a BlobStore is I/O: strongroom.flows.ocfl_store.
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

__all__ = [
    "DIGEST_ALGORITHM",
    "FIXITY_ALGORITHM",
    "INVENTORY",
    "SIDECAR",
    "LAYOUT_EXTENSION",
    "OBJECT_DECLARATION",
    "ROOT_DECLARATION",
    "FileDigest",
    "Inventory",
    "User",
    "Version",
    "VersionPlan",
    "InventoryError",
    "check_path",
    "digest_stream",
    "encapsulation_directory",
    "object_key",
    "object_root",
    "plan_version",
    "sidecar",
    "sidecar_digest",
    "storage_path",
    "storage_root_files",
    "storage_root_keys",
]
