"""Who may do what in the local archive: <data>/credentials.json and SeaweedFS's identities.

credentials.json is the persistent source (keys survive stop and start); the S3 server's
identities file is derived from it every time it changes. Publishers get exactly what a
publisher gets on AWS: write under incoming/<name>/ of the ingest bucket, read and list
their own receipts/<name>/ and rejections/<name>/, nothing else.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import string
from dataclasses import asdict, dataclass
from pathlib import Path

from strongroom.config import Settings, settings

ARCHIVE = "archive"
ADMINS = ("alice", "bob")  # two admins, so a release can be proposed by one and approved by the other
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


@dataclass(frozen=True)
class Identity:
    name: str
    kind: str  # "archive" | "admin" | "publisher"
    access_key: str
    secret_key: str


def credentials_path(data_dir: Path) -> Path:
    return Path(data_dir) / "credentials.json"


def weed_identities_path(data_dir: Path) -> Path:
    return Path(data_dir) / "s3-identities.json"


def _new_identity(name: str, kind: str) -> Identity:
    alphabet = string.ascii_uppercase + string.digits
    access = "SR" + "".join(secrets.choice(alphabet) for _ in range(18))
    return Identity(name, kind, access, secrets.token_urlsafe(30))


def _write_private(path: Path, data: dict) -> None:
    """Write atomically and readable only by the owner: these are secrets."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def load(data_dir: Path) -> dict[str, Identity]:
    """All identities by name; empty when the archive has never been started."""
    path = credentials_path(data_dir)
    if not path.exists():
        return {}
    raw = json.loads(path.read_text("utf-8"))
    return {i["name"]: Identity(**i) for i in raw.get("identities", [])}


def _save(data_dir: Path, identities: dict[str, Identity], cfg: Settings) -> None:
    _write_private(credentials_path(data_dir), {"identities": [asdict(i) for i in identities.values()]})
    write_weed_identities(data_dir, identities, cfg)


def ensure(data_dir: Path, cfg: Settings | None = None) -> dict[str, Identity]:
    """Create the archive's own identity and the admins the first time; keep them after."""
    cfg = cfg or settings()
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    identities = load(data_dir)
    changed = False
    for name, kind in [(ARCHIVE, "archive")] + [(a, "admin") for a in ADMINS]:
        if name not in identities:
            identities[name] = _new_identity(name, kind)
            changed = True
    if changed or not weed_identities_path(data_dir).exists():
        _save(data_dir, identities, cfg)
    return identities


def add_publisher(data_dir: Path, name: str, cfg: Settings | None = None) -> Identity:
    """A new publisher with random keys. The caller tells a running S3 server to reload."""
    cfg = cfg or settings()
    if not _NAME.match(name):
        raise ValueError(
            f"publisher name {name!r} must be 2-63 lowercase letters, digits or '-', "
            f"starting with a letter or digit (it becomes the prefix incoming/{name}/)"
        )
    identities = ensure(data_dir, cfg)
    if name in identities:
        what = "a publisher" if identities[name].kind == "publisher" else f"reserved ({identities[name].kind})"
        raise ValueError(f"{name!r} is already {what}; see its keys with `strongroom local env --publisher {name}`")
    identities[name] = _new_identity(name, "publisher")
    _save(data_dir, identities, cfg)
    return identities[name]


def publishers(data_dir: Path) -> list[Identity]:
    return [i for i in load(data_dir).values() if i.kind == "publisher"]


def offline_path(data_dir: Path) -> Path:
    return Path(data_dir) / "offline-nodes.json"


def offline_buckets(data_dir: Path) -> set[str]:
    """Node buckets taken offline with `strongroom chaos offline` (the archive may not reach them)."""
    try:
        return set(json.loads(offline_path(data_dir).read_text("utf-8")).get("buckets", []))
    except (OSError, ValueError):
        return set()


def set_offline(data_dir: Path, bucket: str, offline: bool, cfg: Settings | None = None) -> None:
    """Take a node bucket away from the archive's own identity, or give it back. The caller tells a
    running S3 server to reload (SIGHUP); every request of the archive to that bucket is then refused,
    as an unreachable region's would fail. A restart brings every node back (see all_online)."""
    cfg = cfg or settings()
    if bucket not in {n.bucket for n in cfg.nodes}:
        raise ValueError(f"{bucket!r} is not a node bucket; nodes are {[n.bucket for n in cfg.nodes]}")
    buckets = offline_buckets(data_dir)
    buckets = buckets | {bucket} if offline else buckets - {bucket}
    _write_private(offline_path(data_dir), {"buckets": sorted(buckets)})
    write_weed_identities(data_dir, ensure(data_dir, cfg), cfg)


def all_online(data_dir: Path, cfg: Settings | None = None) -> list[str]:
    """Forget every offline switch (at start: the archive must reach its buckets to set them up)."""
    was = sorted(offline_buckets(data_dir))
    if was:
        offline_path(data_dir).unlink(missing_ok=True)
        write_weed_identities(data_dir, load(data_dir), cfg or settings())
    return was


def actions(identity: Identity, cfg: Settings, offline: set[str] | frozenset = frozenset()) -> list[str]:
    """SeaweedFS actions for an identity: Admin for the archive (the handlers' identity),
    read-only for admins (they act through the signed API), prefix-scoped for publishers.
    With nodes offline the archive's rights are granted bucket by bucket, leaving those out."""
    if identity.kind == "archive":
        if offline:
            reachable = [
                b for b in (cfg.ingest_bucket, cfg.public_bucket, *(n.bucket for n in cfg.nodes)) if b not in offline
            ]
            return [f"{a}:{b}" for b in reachable for a in ("Admin", "Read", "Write", "List", "Tagging")]
        return ["Admin", "Read", "Write", "List", "Tagging"]
    if identity.kind == "admin":
        return ["Read", "List"]
    bucket, name = cfg.ingest_bucket, identity.name
    return [
        f"Write:{bucket}/incoming/{name}/*",
        f"Read:{bucket}/receipts/{name}/*",
        f"Read:{bucket}/rejections/{name}/*",
        f"List:{bucket}/receipts/{name}/*",
        f"List:{bucket}/rejections/{name}/*",
    ]


def write_weed_identities(data_dir: Path, identities: dict[str, Identity], cfg: Settings) -> Path:
    """The -s3.config file SeaweedFS reads at start and again on SIGHUP."""
    offline = offline_buckets(data_dir)
    doc = {
        "identities": [
            {
                "name": i.name,
                "credentials": [{"accessKey": i.access_key, "secretKey": i.secret_key}],
                "actions": actions(i, cfg, offline),
            }
            for i in identities.values()
        ]
    }
    path = weed_identities_path(data_dir)
    _write_private(path, doc)
    return path
