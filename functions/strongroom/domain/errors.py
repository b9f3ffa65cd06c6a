"""The one base of strongroom's own errors, so a caller can tell the archive's refusals and
failures from a bug, and each layer maps them to its users' terms (the API to HTTP statuses,
the CLI to exit codes). Each error's message says what happened and what to do."""


class StrongroomError(Exception):
    """Something strongroom refused or could not do, with a message that says what to do."""
