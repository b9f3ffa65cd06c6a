"""The one place configuration is read: strongroom.toml, then environment overrides.

On AWS the template sets STRONGROOM_* variables (bucket and table names carry the stack's
account and region); locally the defaults derived from the prefix are used as they are.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from strongroom.domain.archive import AuditSettings, IngestLimits, Node


@dataclass(frozen=True)
class LocalPorts:
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


def load(env: dict[str, str] | None = None) -> Settings:
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
