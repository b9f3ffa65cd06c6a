"""The vote's model: what one node answers to one poll, and which files every OCFL object holds.

Pure data: the vote itself (reading bytes where they live) is strongroom.flows.poll.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

from strongroom.domain.ocfl.inventory import INVENTORY, SIDECAR
from strongroom.domain.ocfl.layout import LOGS, OBJECT_DECLARATION

NONCE_BYTES = 32


def new_nonce() -> bytes:
    """A fresh 256-bit nonce for one poll (LOCKSS asks for at least 128 bits)."""
    return os.urandom(NONCE_BYTES)


@dataclass
class FileHash:
    """One stored file on one node: H(nonce || bytes), its sha512 and size, and which version was read."""

    nonce_hash: str
    sha512: str
    size: int
    version_id: str | None = None


@dataclass
class InventoryVote:
    """The node's root inventory as stored: its digest, the head it claims, and whether its sidecar agrees."""

    sha512: str
    nonce_hash: str
    head: str | None = None  # None: the bytes do not parse as an inventory of this object
    sidecar_sha512: str | None = None  # what the sidecar declares (None: absent or unreadable)
    consistent: bool = False  # sidecar declares the inventory's actual digest (necessary, not sufficient)


VOTES_PREFIX = "audit/votes"


def handover_key(object_id: str, nonce_hex: str, node: str) -> str:
    """Where a node's auditor leaves its vote for the poll (gzip'd JSON): one key per AU, poll
    nonce and node, so a vote can never be taken for another poll's."""
    return f"{VOTES_PREFIX}/{object_id}/{nonce_hex}/{node}.json.gz"


@dataclass
class Vote:
    """One node's answer to one poll. JSON-serialisable (as_dict/from_dict): it crosses regions.

    files: key relative to the object root -> FileHash, for every file found (logs/ excepted).
    missing: files the node's own inventory names that are not there.
    extra: files present that the node's own inventory does not name (the tally judges against
    the reference inventory instead; this is the node's own view, for the report).
    """

    node: str
    object_id: str
    nonce: str  # hex
    files: dict[str, FileHash] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    inventory: InventoryVote | None = None
    unavailable: bool = False
    errors: list[str] = field(default_factory=list)
    bytes_read: int = 0
    requests: int = 0

    def as_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> bytes:
        return json.dumps(self.as_dict(), sort_keys=True).encode()

    @classmethod
    def from_dict(cls, d: dict) -> Vote:
        d = dict(d)
        d["files"] = {k: FileHash(**v) for k, v in d.get("files", {}).items()}
        d["inventory"] = InventoryVote(**d["inventory"]) if d.get("inventory") else None
        return cls(**d)


def expected_in_object(relative: str) -> bool:
    """Files OCFL puts in every object besides content: never 'extra', whichever inventory is consulted."""
    if relative in (INVENTORY, SIDECAR, OBJECT_DECLARATION) or relative.startswith(f"{LOGS}/"):
        return True
    version, _, name = relative.partition("/")
    return version[:1] == "v" and version[1:].isdigit() and name in (INVENTORY, SIDECAR)
