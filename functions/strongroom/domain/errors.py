"""The one base of strongroom's own errors, so a caller can tell the archive's refusals and
failures from a bug, and each layer maps them to its users' terms (the API to HTTP statuses,
the CLI to exit codes). Each error's message says what happened and what to do.

A refused request (Refused and its kinds) carries every rule it broke, each with the field at
fault, so one answer lists everything to fix instead of the first problem only. `error_body`
is the one shape every error answer of the release API has, from the Lambda handler and from
the local API alike: {"message": <what is wrong and what to do>, "errors": [{field, rule,
message}, ...]}.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass


class StrongroomError(Exception):
    """Something strongroom refused or could not do, with a message that says what to do."""


@dataclass(frozen=True)
class BrokenRule:
    """One rule a request broke: the field at fault (dotted; None for the whole request), the
    rule's short name, and a sentence saying what is wrong and what to do."""

    field: str | None
    rule: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


def error_body(message: str, errors: Iterable[BrokenRule]) -> dict:
    """The error answer's JSON body."""
    return {"message": message, "errors": [e.as_dict() for e in errors]}


class Refused(StrongroomError):
    """A refused request. Its kind (the subclass) says why; the API maps kinds to statuses.

    Raise it with one message (and the field at fault and the rule's name), or with `errors`,
    every rule broken, and a message that sums them up."""

    default_rule = "refused"

    def __init__(
        self, message: str, field: str | None = None, rule: str | None = None, errors: Iterable[BrokenRule] = ()
    ):
        super().__init__(message)
        self.message = message
        self.errors = tuple(errors) or (BrokenRule(field, rule or self.default_rule, message),)
        self.field = self.errors[0].field

    def body(self) -> dict:
        return error_body(self.message, self.errors)


class Unauthenticated(Refused):
    """The caller did not say who it is."""

    default_rule = "signed"


class NotAllowed(Refused):
    """The caller is known but may not do this (not an admin; approving its own proposal)."""

    default_rule = "allowed"


class NoSuchRelease(Refused):
    """No release (or AU) by that name."""

    default_rule = "exists"


class Conflict(Refused):
    """The request is valid but the archive's state forbids it now (e.g. the AU is in another release)."""

    default_rule = "conflict"


class RuleBroken(Refused):
    """The request breaks a rule of the agreements (CLOCKSS's triggers, the board's vote, a field's form)."""

    default_rule = "rule"


class Unreadable(Refused):
    """The request's body cannot be read: not JSON, or nested deeper than any request needs."""

    default_rule = "json"


class TooLarge(Refused):
    """The request's body is larger than any request needs."""

    default_rule = "size"
