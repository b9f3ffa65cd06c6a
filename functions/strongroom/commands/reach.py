"""How a command reaches the local archive: its data directory, its endpoints, the archive's own identity."""

from __future__ import annotations

import os
from pathlib import Path

from strongroom.config import environment
from strongroom.handlers import compose
from strongroom.local import runtime, template

DEFAULT_DATA = environment().data_dir


def endpoints(data: Path) -> runtime.Endpoints:
    """The running local archive in `data`, or a clear exit saying how to start it."""
    try:
        return runtime.connect(data)
    except runtime.NotRunning as e:
        raise SystemExit(str(e)) from None


def as_archive(data: Path) -> None:
    """Point this process's boto3 at the local archive, with the archive's own identity."""
    os.environ.update(runtime.lambda_environment(endpoints(data), template.load()))


def archive(data: Path):
    """The archive as the handlers see it (strongroom.handlers.compose), reached as the archive itself."""

    as_archive(data)
    return compose.archive()
