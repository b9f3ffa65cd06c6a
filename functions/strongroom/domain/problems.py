"""What goes wrong with a package, said so that a publisher can fix it.

Every check in ingest returns Problems instead of raising on the first one, so a
rejection report lists everything at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from strongroom.domain.errors import StrongroomError

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One broken rule: where (path inside the package, or the package itself), which rule, what to do."""

    path: str
    rule: str
    message: str
    fix: str
    severity: Severity = "error"

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.severity}: {self.path}: [{self.rule}] {self.message} Fix: {self.fix}"


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def warnings(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "warning"]


class Rejected(StrongroomError):
    """A package cannot be accepted; carries every problem found so far."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems[:5]) + (" …" if len(problems) > 5 else ""))
