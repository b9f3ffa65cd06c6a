"""Writing a rendered file so that no reader ever sees half of it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def written_whole(dest: Path) -> Iterator[Path]:
    """Yields a ``.partial`` path to write dest's content to; dest appears (or is replaced) only when the
    block ends without an error, so a crash or a failed fixity check never leaves a half-written file
    that an upload or a later render would take for a whole one."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(dest)
