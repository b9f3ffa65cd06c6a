"""The site's search: a Pagefind bundle when the ``pagefind[bin]`` package is installed, and always
a small JSON index that the site's own search.js falls back to.

Both are files in the site, so search needs no server and loads nothing from elsewhere.
Pagefind indexes only elements marked ``data-pagefind-body`` (article and title pages).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

JSON_INDEX = "search/index.json"
PAGEFIND_DIR = "pagefind"


def pagefind_available() -> bool:
    return (
        importlib.util.find_spec("pagefind_bin") is not None
        or importlib.util.find_spec("pagefind_extended_bin") is not None
    )


def write_json_index(entries: list[dict], site_root: Path) -> Path:
    dest = site_root / JSON_INDEX
    dest.parent.mkdir(parents=True, exist_ok=True)
    ordered = sorted(entries, key=lambda e: (e["t"].lower(), e["u"]))
    dest.write_text(json.dumps(ordered, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    return dest


def run_pagefind(site_root: Path, timeout: float = 600) -> Path:
    """Index the built site with the Pagefind binary from PyPI; raises when it fails."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pagefind",
            "--site",
            str(site_root),
            "--output-subdir",
            PAGEFIND_DIR,
            "--keep-index-url",
            "--silent",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pagefind failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return site_root / PAGEFIND_DIR
