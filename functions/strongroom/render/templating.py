"""The Jinja2 environment for the site and the replay banner: autoescape on, undefined names fail.

Templates live in the repository's top-level ``site_templates/`` (so designers can change
pages without touching code). A Lambda artifact has no repository around it: the build
(functions/Makefile) copies the folder into the package as ``strongroom/site_templates/``,
which is used when present. STRONGROOM_SITE_TEMPLATES, when set, overrides both.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from strongroom.render.safety import href_filter

PACKAGED = Path(__file__).resolve().parents[1] / "site_templates"  # inside a built artifact
REPOSITORY = Path(__file__).resolve().parents[3] / "site_templates"  # functions/strongroom/render/ -> top level


def templates_dir() -> Path:
    configured = os.environ.get("STRONGROOM_SITE_TEMPLATES")
    if configured:
        return Path(configured)
    return PACKAGED if PACKAGED.is_dir() else REPOSITORY


@lru_cache(maxsize=4)
def environment(directory: str | None = None) -> Environment:
    env = Environment(
        loader=FileSystemLoader(directory or str(templates_dir())),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["human_size"] = human_size
    env.filters["href"] = href_filter  # every link in a template goes through the one rule
    return env


def human_size(size: int) -> str:
    """1536 -> '1.5 KB' (decimal units, as file managers show them); the site, the attestation and
    `strongroom status` all say sizes this way."""
    if size < 1000:
        return "1 byte" if size == 1 else f"{size} bytes"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1000
        if value < 1000:
            return f"{value:.1f} {unit}"
    return f"{value / 1000:.1f} TB"


def inert_braces(html: str) -> Markup:
    """HTML with '{' and '}' as character references, so text we render can sit inside a template
    that another Jinja (pywb's) renders later without any of it being read as Jinja syntax."""
    return Markup(str(html).replace("{", "&#123;").replace("}", "&#125;"))


__all__ = ["environment", "escape", "human_size", "inert_braces", "templates_dir"]
