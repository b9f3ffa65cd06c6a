"""The OCFL inventory, and planning a new version from a deposit's file list.

Pure logic: nothing here touches a store, so ingest can plan (and tests can check)
a version before a byte is written.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from strongroom.domain.errors import StrongroomError
from strongroom.domain.hashing import HashingReader, Readable

INVENTORY_TYPE = "https://ocfl.io/1.1/spec/#inventory"
DIGEST_ALGORITHM = "sha512"
FIXITY_ALGORITHM = "sha256"
CONTENT_DIRECTORY = "content"
INVENTORY = "inventory.json"
SIDECAR = f"{INVENTORY}.{DIGEST_ALGORITHM}"

_SHA512 = re.compile(r"^[0-9a-f]{128}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_VERSION = re.compile(r"^v(\d+)$")
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


class InventoryError(StrongroomError, ValueError):
    """An inventory (or the input for one) breaks an OCFL rule; the message says which and what to do."""


@dataclass(frozen=True)
class FileDigest:
    """What ingest knows of one file before storing it: both digests (lower-case hex) and its size."""

    sha512: str
    sha256: str
    size: int

    def __post_init__(self):
        object.__setattr__(self, "sha512", self.sha512.lower())
        object.__setattr__(self, "sha256", self.sha256.lower())
        if not _SHA512.match(self.sha512) or not _SHA256.match(self.sha256) or self.size < 0:
            raise InventoryError(
                f"bad FileDigest({self.sha512!r}, {self.sha256!r}, {self.size}); "
                "give 128 hex digits of sha512, 64 of sha256 and a size >= 0"
            )


def digest_stream(stream: Readable) -> FileDigest:
    """Both digests and the size of a stream, read once in bounded memory."""
    reader = HashingReader(stream, (DIGEST_ALGORITHM, FIXITY_ALGORITHM)).drain()
    return FileDigest(reader.hexdigest(DIGEST_ALGORITHM), reader.hexdigest(FIXITY_ALGORITHM), reader.size)


@dataclass(frozen=True)
class User:
    """Who made a version; address SHOULD be a URI (mailto: or an ORCID) for OCFL."""

    name: str
    address: str | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, **({"address": self.address} if self.address else {})}


@dataclass(frozen=True)
class Version:
    """One version block: when, who, why, and state (sha512 -> logical paths)."""

    created: str
    state: dict[str, list[str]]
    message: str | None = None
    user: User | None = None

    def to_dict(self) -> dict:
        out: dict = {"created": self.created}
        if self.message is not None:
            out["message"] = self.message
        out["state"] = {d: sorted(self.state[d]) for d in sorted(self.state)}
        if self.user is not None:
            out["user"] = self.user.to_dict()
        return out

    def logical_state(self) -> dict[str, str]:
        """logical path -> sha512, the form callers usually want."""
        return {path: digest for digest, paths in self.state.items() for path in paths}


def version_number(name: str) -> int:
    m = _VERSION.match(name)
    if not m or int(m.group(1)) < 1:
        raise InventoryError(f"{name!r} is not an OCFL version name; versions are v1, v2, ...")
    return int(m.group(1))


def _next_version(head: str) -> str:
    digits = head[1:]
    n = version_number(head) + 1
    if digits.startswith("0"):  # keep another tool's zero-padding (OCFL requires it to stay consistent)
        if len(str(n)) >= len(digits):
            raise InventoryError(f"the object's zero-padded versions cannot go past {head}; migrate it first")
        return f"v{n:0{len(digits)}d}"
    return f"v{n}"


@dataclass
class Inventory:
    """An OCFL 1.1 inventory with sha512 as the digest and sha256 in the fixity block."""

    id: str
    head: str
    manifest: dict[str, list[str]] = field(default_factory=dict)  # sha512 -> content paths
    versions: dict[str, Version] = field(default_factory=dict)
    fixity: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # algorithm -> digest -> paths
    # content path -> bytes. Not part of inventory.json (OCFL has no place for sizes that validators
    # accept); filled from the plan, or by read_inventory from the bucket listing.
    sizes: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def to_json(self) -> bytes:
        """Stable bytes: the same inventory always serialises the same way, so digests compare."""
        out: dict = {
            "id": self.id,
            "type": INVENTORY_TYPE,
            "digestAlgorithm": DIGEST_ALGORITHM,
            "head": self.head,
            "manifest": {d: sorted(self.manifest[d]) for d in sorted(self.manifest)},
            "versions": {v: self.versions[v].to_dict() for v in sorted(self.versions, key=version_number)},
        }
        if self.fixity:
            out["fixity"] = {
                alg: {d: sorted(block[d]) for d in sorted(block)} for alg, block in sorted(self.fixity.items())
            }
        return (json.dumps(out, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Inventory:
        """Parse and check the parts we rely on; anything else odd is left for an OCFL validator."""
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise InventoryError(f"inventory is not JSON ({e}); restore it from another node's copy") from e
        try:
            if raw.get("type") != INVENTORY_TYPE:
                raise InventoryError(
                    f"inventory type is {raw.get('type')!r}, expected {INVENTORY_TYPE!r} "
                    "(an object of another OCFL version must be migrated first)"
                )
            if raw.get("digestAlgorithm") != DIGEST_ALGORITHM:
                raise InventoryError(
                    f"inventory digestAlgorithm is {raw.get('digestAlgorithm')!r}; "
                    "strongroom writes only sha512 inventories"
                )
            if raw.get("contentDirectory", CONTENT_DIRECTORY) != CONTENT_DIRECTORY:
                raise InventoryError("inventory sets a contentDirectory other than 'content'; not supported")
            versions = {
                name: Version(
                    created=v["created"],
                    state={d.lower(): list(p) for d, p in v["state"].items()},
                    message=v.get("message"),
                    user=User(v["user"]["name"], v["user"].get("address")) if v.get("user") else None,
                )
                for name, v in raw["versions"].items()
            }
            inv = cls(
                id=raw["id"],
                head=raw["head"],
                manifest={d.lower(): list(p) for d, p in raw["manifest"].items()},
                versions=versions,
                fixity={a: {d.lower(): list(p) for d, p in b.items()} for a, b in raw.get("fixity", {}).items()},
            )
        except (KeyError, TypeError, AttributeError) as e:
            raise InventoryError(
                f"inventory lacks or mangles a required field ({e!r}); restore it from another node's copy"
            ) from e
        if inv.head not in inv.versions:
            raise InventoryError(f"inventory head {inv.head!r} is not among its versions {sorted(inv.versions)}")
        return inv

    @property
    def head_version(self) -> Version:
        return self.versions[self.head]

    def logical_state(self, version: str | None = None) -> dict[str, str]:
        """logical path -> sha512 of a version (default: head)."""
        return self.versions[version or self.head].logical_state()

    def content_path(self, digest: str) -> str:
        """Where the bytes with this sha512 are stored, relative to the object root."""
        try:
            return self.manifest[digest.lower()][0]
        except KeyError:
            raise KeyError(f"{self.id}: no content with sha512 {digest} in the manifest") from None

    def head_state_digests(self) -> dict[str, FileDigest]:
        """logical path -> FileDigest of the head version (what plan_version takes, e.g. to merge deposits)."""
        sha256_at = {cp: d for d, cps in self.fixity.get(FIXITY_ALGORITHM, {}).items() for cp in cps}
        out: dict[str, FileDigest] = {}
        for path, digest in self.logical_state().items():
            cp = self.content_path(digest)
            if cp not in sha256_at or cp not in self.sizes:
                raise InventoryError(
                    f"{self.id}: no {'sha256' if cp not in sha256_at else 'size'} known for {cp}; read the "
                    "inventory with read_inventory(store, id) (sizes come from the bucket), or audit this copy"
                )
            out[path] = FileDigest(digest, sha256_at[cp], self.sizes[cp])
        return out


def sidecar(inventory_bytes: bytes) -> tuple[str, bytes]:
    """The inventory's sidecar: its name and '<sha512 hex> inventory.json\\n'."""
    return SIDECAR, f"{hashlib.sha512(inventory_bytes).hexdigest()} {INVENTORY}\n".encode("ascii")


def sidecar_digest(body: bytes) -> str:
    """The digest a sidecar declares; raises InventoryError when it is not a sidecar."""
    parts = body.decode("ascii", "replace").split()
    if len(parts) != 2 or parts[1] != INVENTORY or not _SHA512.match(parts[0].lower()):
        raise InventoryError(f"not an OCFL sidecar: {body[:200]!r}; expected '<sha512 hex> {INVENTORY}'")
    return parts[0].lower()


def check_path(path: str, what: str = "logical path") -> str:
    """OCFL path rules (logical and content paths): relative, '/'-separated, no '', '.' or '..' segments."""
    if not isinstance(path, str) or not path:
        raise InventoryError(f"{what} {path!r} is empty; give a relative path like 'article1/article.xml'")
    if path.startswith("/") or path.endswith("/"):
        raise InventoryError(f"{what} {path!r} starts or ends with '/'; remove it")
    bad = [s for s in path.split("/") if s in ("", ".", "..")]
    if bad:
        raise InventoryError(f"{what} {path!r} has a {bad[0]!r} segment, which OCFL forbids; normalise the path")
    if "\x00" in path:
        raise InventoryError(f"{what} {path!r} contains a NUL character; rename the file")
    return path


def _check_no_conflicts(paths, what: str) -> None:
    """OCFL E095/E101: a path cannot be both a file and a directory in the same state or manifest."""
    files = set(paths)
    for p in files:
        parts = p.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in files:
                raise InventoryError(f"{what} {prefix!r} is a file and also a directory of {p!r}; rename one")


def format_created(created: datetime | str) -> str:
    """RFC 3339 in UTC to the second (finer if given), as OCFL asks."""
    if isinstance(created, str):
        if not _RFC3339.match(created):
            raise InventoryError(f"created {created!r} is not RFC 3339 with a time zone, e.g. 2024-05-01T12:00:00Z")
        return created
    if created.tzinfo is None:
        raise InventoryError("created has no time zone; pass datetime.now(timezone.utc)")
    c = created.astimezone(UTC)
    frac = f".{c.microsecond:06d}" if c.microsecond else ""
    return c.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"


@dataclass(frozen=True)
class VersionPlan:
    """What write_version must do: the new inventory and which files to store where.

    new_content pairs a content path (relative to the object root) with the logical
    path whose bytes go there. unchanged means the deposit adds nothing: write nothing.
    """

    object_id: str
    version: str
    inventory: Inventory
    new_content: list[tuple[str, str]]
    unchanged: bool
    previous_head: str | None
    sizes: dict[str, int] = field(default_factory=dict)  # content path -> expected size

    @property
    def new_bytes(self) -> int:
        return sum(self.sizes.values())


def plan_version(
    previous: Inventory | None,
    object_id: str,
    state: Mapping[str, FileDigest],
    created: datetime | str,
    message: str | None,
    user: User | Mapping | None,
) -> VersionPlan:
    """Plan the next version of an object holding exactly `state` (logical path -> digests).

    Bytes already in the manifest (same sha512) are referenced, not stored again, across
    and within versions; a deposit identical to the head plans nothing (unchanged).
    """
    if previous is not None and previous.id != object_id:
        raise InventoryError(f"previous inventory is for {previous.id!r}, not {object_id!r}")
    if not state:
        raise InventoryError(f"{object_id}: a version needs at least one file")
    for path in state:
        check_path(path)
    _check_no_conflicts(state, "logical path")
    if isinstance(user, Mapping):
        user = User(user["name"], user.get("address"))

    new_state: dict[str, list[str]] = {}
    for path in sorted(state):
        new_state.setdefault(state[path].sha512, []).append(path)

    if previous is not None:
        if {d: sorted(p) for d, p in previous.head_version.state.items()} == new_state:
            return VersionPlan(object_id, previous.head, previous, [], True, previous.head)
        version = _next_version(previous.head)
        manifest = {d: list(p) for d, p in previous.manifest.items()}
        fixity = {a: {d: list(p) for d, p in b.items()} for a, b in previous.fixity.items()}
        versions = dict(previous.versions)
    else:
        version, manifest, fixity, versions = "v1", {}, {}, {}
    all_sizes = dict(previous.sizes) if previous is not None else {}

    sha256_block = fixity.setdefault(FIXITY_ALGORITHM, {})
    sha256_at = {cp: d for d, cps in sha256_block.items() for cp in cps}
    new_content: list[tuple[str, str]] = []
    sizes: dict[str, int] = {}
    for digest, paths in sorted(new_state.items(), key=lambda kv: kv[1][0]):
        fd = state[paths[0]]
        known = {sha256_at[cp] for cp in manifest.get(digest, []) if cp in sha256_at}
        known |= {state[p].sha256 for p in paths}
        if len(known) > 1 or (known and fd.sha256 not in known):
            raise InventoryError(
                f"{object_id}: {paths[0]!r} has sha512 {digest[:16]}... but sha256 values {sorted(known)} "
                "disagree (with each other or with the stored fixity); recompute the digests"
            )
        if digest in manifest:
            continue
        content_path = f"{version}/{CONTENT_DIRECTORY}/{paths[0]}"
        manifest[digest] = [content_path]
        sha256_block.setdefault(fd.sha256, []).append(content_path)
        new_content.append((content_path, paths[0]))
        sizes[content_path] = fd.size
    _check_no_conflicts([p for ps in manifest.values() for p in ps], "content path")

    versions[version] = Version(format_created(created), new_state, message, user)
    inventory = Inventory(object_id, version, manifest, versions, fixity, {**all_sizes, **sizes})
    return VersionPlan(object_id, version, inventory, new_content, False, previous.head if previous else None, sizes)
