"""What goes wrong with a package, said so that a publisher can fix it.

Every check in ingest returns Problems instead of raising on the first one, so a
rejection report lists everything at once.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Literal

from strongroom.domain.errors import StrongroomError

Severity = Literal["error", "warning"]

# Characters no name in a package may hold: C0 controls and DEL, C1 controls (U+0085 ends a line
# for Python's and bagit's splitlines), the line and paragraph separators, and the bidi
# embeddings, overrides, isolates and marks that make a name display as another.
CONTROL_IN_NAMES = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def control_characters(name: str) -> list[str]:
    """The control characters in a name, each once, as U+XXXX."""
    return sorted({f"U+{ord(c):04X}" for c in CONTROL_IN_NAMES.findall(name)})


def escaped(text: str) -> str:
    """text with each control character written as Python writes it (\\x85, \\u202e), so a
    report shows the name it is about and no name can rewrite the report around it."""
    return CONTROL_IN_NAMES.sub(lambda m: repr(m.group(0))[1:-1], text)


@dataclass(frozen=True)
class Problem:
    """One broken rule: where (path inside the package, or the package itself), which rule, what to do."""

    path: str
    rule: str
    message: str
    fix: str
    severity: Severity = "error"

    def __post_init__(self) -> None:  # a hostile name must not make the report lie
        for name in ("path", "message", "fix"):
            object.__setattr__(self, name, escaped(getattr(self, name)))

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.severity}: {self.path}: [{self.rule}] {self.message} Fix: {self.fix}"


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def warnings(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "warning"]


def control_character_problem(name: str, controls: list[str]) -> Problem:
    """The one rule for a name holding control characters, wherever the name is found."""
    return Problem(
        name,
        "control-character",
        f"no control characters in names: this name holds {', '.join(controls)} (control characters, line "
        "separators or text-direction marks), which can make a listing or a report show another name.",
        "rename the file (and any folder) without control characters or direction marks, then package it again",
    )


class Rejected(StrongroomError):
    """A package cannot be accepted; carries every problem found so far."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems[:5]) + (" …" if len(problems) > 5 else ""))
