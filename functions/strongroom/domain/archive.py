"""What the archive is made of, and the numbers it keeps to: its nodes, ingest limits, audit policy.

Plain values. strongroom.config reads them from strongroom.toml and the environment; the flows
are handed them, so no rule here reads a setting for itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Node:
    """One of the twelve storage locations: an S3 bucket in one region."""

    number: int
    region: str
    place: str
    bucket: str
    lat: float | None = None  # approximate, for choosing the nearest node to repair from
    lon: float | None = None

    @property
    def name(self) -> str:
        return self.region


@dataclass(frozen=True)
class IngestLimits:
    max_package_bytes: int
    max_files: int
    max_expansion_ratio: float
    max_path_bytes: int
    au_lock_seconds: int


@dataclass(frozen=True)
class AuditSettings:
    interval_days: int
    quorum: int
    budget_bytes_per_run: int
    jitter_days: int
    # The most AUs one planner run reads from the catalog's poll index and polls: what keeps a run's
    # work the same whether the archive holds a thousand AUs or sixty million.
    max_aus_per_run: int = 1000
