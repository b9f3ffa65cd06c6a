"""PREMIS 3 events: what happened to which AU, when, by whom, and how it ended.

Events are kept twice: in the catalog (for queries) and as JSON lines in each OCFL
object's logs/ (so a node bucket alone tells its history, and the catalog can be rebuilt).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Literal

import strongroom

# Labels from the Library of Congress PREMIS event type vocabulary, with its URIs.
VOCABULARY = "http://id.loc.gov/vocabulary/preservation/eventType/"
EVENT_TYPES = {
    "ingestion": "ing",
    "validation": "val",
    "format identification": "for",
    "metadata extraction": "met",
    "message digest calculation": "mes",
    "replication": "rep",
    "fixity check": "fix",
    "repair": None,  # PREMIS has no 'repair' term; we record it by this label
    "release": None,
    "withdrawal": None,
}

Outcome = Literal["success", "failure", "warning"]


@dataclass(frozen=True)
class PremisEvent:
    type: str
    object: str  # the AU id (OCFL object id), or the package key for rejected packages
    outcome: Outcome
    detail: str
    at: str  # RFC 3339
    agent: str = f"strongroom {strongroom.__version__}"
    outcome_detail: dict = field(default_factory=dict)
    identifier: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self):
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown PREMIS event type {self.type!r}; use one of {sorted(EVENT_TYPES)}")

    @property
    def type_uri(self) -> str | None:
        code = EVENT_TYPES[self.type]
        return VOCABULARY + code if code else None

    def as_dict(self) -> dict:
        d = asdict(self)
        d["type_uri"] = self.type_uri
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PremisEvent:
        d = {k: v for k, v in d.items() if k != "type_uri"}
        return cls(**d)


def event(type: str, object: str, outcome: Outcome, detail: str, at: datetime, **outcome_detail) -> PremisEvent:
    return PremisEvent(
        type=type,
        object=object,
        outcome=outcome,
        detail=detail,
        at=at.isoformat(timespec="seconds"),
        outcome_detail=outcome_detail,
    )


def to_jsonl(events: list[PremisEvent]) -> bytes:
    return b"".join(json.dumps(e.as_dict(), sort_keys=True).encode() + b"\n" for e in events)


def from_jsonl(data: bytes) -> list[PremisEvent]:
    return [PremisEvent.from_dict(json.loads(line)) for line in data.splitlines() if line.strip()]
