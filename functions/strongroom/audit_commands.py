"""`strongroom audit`, `strongroom chaos`: polls on demand and damage for demos and tests."""

from __future__ import annotations


def register(sub) -> None:
    """Add this module's subcommands; each sets `run` to the function that carries it out."""


def demo_section(data, say) -> None:
    """The demo's audit part: damage copies behind the archive's back, poll, show the repairs."""
