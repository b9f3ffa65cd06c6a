"""The one place configuration is read: strongroom.toml, then environment overrides.

On AWS the template sets STRONGROOM_* variables (bucket and table names carry the stack's
account and region); locally the defaults derived from the prefix are used as they are.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from strongroom.domain.archive import AuditSettings, IngestLimits, Node


@dataclass(frozen=True)
class LocalPorts:
    """The local archive's five loopback ports, as strongroom.toml's [local] section gives them."""

    s3: int
    dynamodb: int
    api: int
    site: int
    replay: int


@dataclass(frozen=True)
class Settings:
    prefix: str
    digest: str
    nodes: tuple[Node, ...]
    ingest_bucket: str
    public_bucket: str
    catalog_table: str
    limits: IngestLimits
    audit: AuditSettings
    ports: LocalPorts
    raw: dict = field(repr=False, compare=False, default_factory=dict)

    def node(self, region: str) -> Node:
        for node in self.nodes:
            if node.region == region:
                return node
        raise KeyError(f"no node in region {region!r}; nodes are {[n.region for n in self.nodes]}")


def _read_toml() -> dict:
    override = os.environ.get("STRONGROOM_CONFIG")
    if override:
        with open(override, "rb") as f:
            return tomllib.load(f)
    return tomllib.loads(resources.files("strongroom").joinpath("strongroom.toml").read_text("utf-8"))


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from strongroom.toml and STRONGROOM_* environment variables."""
    env = os.environ if env is None else env
    raw = _read_toml()
    prefix = env.get("STRONGROOM_PREFIX", raw["archive"]["prefix"])
    node_buckets = json.loads(env.get("STRONGROOM_NODE_BUCKETS", "{}"))
    nodes = tuple(
        Node(
            number=i,
            region=n["region"],
            place=n["place"],
            bucket=node_buckets.get(n["region"], f"{prefix}-node-{n['region']}"),
            lat=n.get("lat"),
            lon=n.get("lon"),
        )
        for i, n in enumerate(raw["nodes"], start=1)
    )
    ports = raw["local"]
    return Settings(
        prefix=prefix,
        digest=raw["archive"]["digest"],
        nodes=nodes,
        ingest_bucket=env.get("STRONGROOM_INGEST_BUCKET", f"{prefix}-ingest"),
        public_bucket=env.get("STRONGROOM_PUBLIC_BUCKET", f"{prefix}-public"),
        catalog_table=env.get("STRONGROOM_CATALOG_TABLE", f"{prefix}-catalog"),
        limits=IngestLimits(**raw["ingest"]),
        audit=AuditSettings(**raw["audit"]),
        ports=LocalPorts(
            s3=ports["s3_port"],
            dynamodb=ports["dynamodb_port"],
            api=ports["api_port"],
            site=ports["site_port"],
            replay=ports["replay_port"],
        ),
        raw=raw,
    )


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load()


@dataclass(frozen=True)
class Environment:
    """What a function's (or the local runtime's) environment says, read fresh on each call: the
    template sets these on each Lambda (and the local runtime does the same), tests change them.
    Every STRONGROOM_* variable outside strongroom.toml's overrides is named here, once."""

    region: str  # AWS_REGION: the region this function runs in
    admin_arns: frozenset[str]  # STRONGROOM_ADMIN_ARNS, comma-separated
    auditor_function: str | None  # STRONGROOM_AUDITOR_FUNCTION: the per-region vote function's name
    auditor_bucket: str | None  # STRONGROOM_AUDITOR_BUCKET: the one bucket an auditor may hash
    votes_bucket: str | None  # STRONGROOM_VOTES_BUCKET: where an auditor hands its vote to the poll
    votes_region: str | None  # STRONGROOM_VOTES_REGION: that bucket's region (the control stack's)
    release_worker: str | None  # STRONGROOM_RELEASE_WORKER: the function a release is handed to
    site_distribution: str | None  # STRONGROOM_SITE_DISTRIBUTION: CloudFront, switched on release (AWS)
    site_url: str  # STRONGROOM_SITE_URL
    replay_url: str  # STRONGROOM_REPLAY_URL
    replay_dir: Path  # STRONGROOM_REPLAY_DIR: where the replay function unpacks a render
    local_ports: str | None  # STRONGROOM_LOCAL_PORTS: a base port for the local archive's five servers
    local_template: str | None  # STRONGROOM_TEMPLATE: template paths joined by os.pathsep
    local_detached: bool  # STRONGROOM_LOCAL_DETACHED: the runtime was started in the background
    data_dir: Path  # STRONGROOM_DATA: the local archive's data directory (default ./.strongroom)
    api_url: str | None  # STRONGROOM_API_URL: a deployed release API `strongroom release` calls (default: local)
    aws_profile: str | None  # AWS_PROFILE: whose AWS credentials sign requests to that API


def environment(env: Mapping[str, str] | None = None) -> Environment:
    env = os.environ if env is None else env
    return Environment(
        region=env.get("AWS_REGION", ""),
        admin_arns=frozenset(a.strip() for a in env.get("STRONGROOM_ADMIN_ARNS", "").split(",") if a.strip()),
        auditor_function=env.get("STRONGROOM_AUDITOR_FUNCTION") or None,
        auditor_bucket=env.get("STRONGROOM_AUDITOR_BUCKET") or None,
        votes_bucket=env.get("STRONGROOM_VOTES_BUCKET") or None,
        votes_region=env.get("STRONGROOM_VOTES_REGION") or None,
        release_worker=env.get("STRONGROOM_RELEASE_WORKER") or None,
        site_distribution=env.get("STRONGROOM_SITE_DISTRIBUTION") or None,
        site_url=env.get("STRONGROOM_SITE_URL", ""),
        replay_url=env.get("STRONGROOM_REPLAY_URL", ""),
        replay_dir=Path(env.get("STRONGROOM_REPLAY_DIR", "/tmp/replay")),
        local_ports=env.get("STRONGROOM_LOCAL_PORTS") or None,
        local_template=env.get("STRONGROOM_TEMPLATE") or None,
        local_detached=bool(env.get("STRONGROOM_LOCAL_DETACHED")),
        data_dir=Path(env.get("STRONGROOM_DATA", Path.cwd() / ".strongroom")),
        api_url=env.get("STRONGROOM_API_URL") or None,
        aws_profile=env.get("AWS_PROFILE") or None,
    )
