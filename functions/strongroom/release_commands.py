"""`strongroom release …`: admins propose, approve, list and withdraw releases (signed API calls)."""

from __future__ import annotations


def register(sub) -> None:
    """Add this module's subcommands; each sets `run` to the function that carries it out."""


def demo_section(data, say) -> None:
    """The demo's release part: two admins release a title; print the site and replay URLs."""
