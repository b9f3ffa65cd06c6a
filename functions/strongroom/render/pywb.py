"""A pywb replay root: config.yaml, and per title a self-contained collection folder.

    replay/config.yaml
    replay/collections/<title-id>/archive/<publisher>-<title>.warc.gz
    replay/collections/<title-id>/indexes/index.cdxj
    replay/collections/<title-id>/metadata.yaml
    replay/collections/<title-id>/templates/{banner,frame_insert,custom_banner}.html

Serve it with ``wayback -d replay`` (pywb resolves collections/ from the working directory).

Collections are not listed in config.yaml: pywb finds every folder under collections/, so
roots rendered by different releases merge by copying folders, and no release overwrites
another's list. Per collection, pywb looks up each template named in its ``html_templates``
(banner, custom_banner, head_insert, frame_insert, query, search, not_found, index, base,
header, head, footer, error, proxy pages) in ``collections/<coll>/templates/`` first. We
replace three:

* ``banner.html``: the notice (journal, release date and trigger, license with rel="license");
* ``frame_insert.html``: the top frame of framed replay (pywb's default), written here so
  the notice sits above every replayed page, PDFs included, with nothing loaded from outside;
* ``custom_banner.html``: the same notice for non-framed replay, should an operator turn framing off.

head_insert.html stays pywb's: it loads wombat, which replay needs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from strongroom.render.model import ReleasedTitle
from strongroom.render.templating import environment, inert_braces, templates_dir
from strongroom.render.urls import SitePlan, title_dir

CONFIG = {
    "collections_root": "collections",
    "archive_paths": "archive",
    "index_paths": "indexes",
    "framed_replay": True,
    "enable_memento": True,
    "default_access": "allow",
}


def collection_dir(replay_root: Path, title: ReleasedTitle) -> Path:
    return replay_root / "collections" / title.collection


def warc_path(replay_root: Path, title: ReleasedTitle) -> Path:
    return collection_dir(replay_root, title) / "archive" / f"{title.publisher_id}-{title.title_id}.warc.gz"


def index_path(replay_root: Path, title: ReleasedTitle) -> Path:
    return collection_dir(replay_root, title) / "indexes" / "index.cdxj"


def write_config(replay_root: Path) -> Path:
    replay_root.mkdir(parents=True, exist_ok=True)
    path = replay_root / "config.yaml"
    header = (
        "# pywb configuration for strongroom's released titles (written by strongroom.render.pywb).\n"
        "# Each folder under collections/ is one title's collection; pywb finds them itself.\n"
    )
    path.write_text(header + yaml.safe_dump(CONFIG, sort_keys=False), encoding="utf-8")
    return path


def notice_html(title: ReleasedTitle, plan: SitePlan) -> str:
    """The banner notice as HTML whose braces are inert, so pywb's Jinja shows it as it is."""
    html = (
        environment()
        .get_template("replay/notice.html")
        .render(title=title, title_page_url=plan.site_url(title_dir(title) + "index.html"))
    )
    return str(inert_braces(html))


def write_collection(replay_root: Path, title: ReleasedTitle, plan: SitePlan) -> list[Path]:
    """The collection's metadata and templates (its WARC and index are written by warc.py and cdxj.py)."""
    coll = collection_dir(replay_root, title)
    templates = coll / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    notice = notice_html(title, plan)
    written = []

    banner = templates / "banner.html"
    banner.write_text(notice, encoding="utf-8")
    custom = templates / "custom_banner.html"
    custom.write_text(
        '<div style="position:relative;z-index:2147483647;background:#f3f1e8;color:#1b1b1b;'
        'font:15px/1.4 system-ui,sans-serif;padding:.4rem .8rem;border-bottom:2px solid #5a4a1a">'
        + notice
        + "</div>\n",
        encoding="utf-8",
    )
    frame = templates / "frame_insert.html"
    shutil.copyfile(templates_dir() / "replay" / "frame_insert.html", frame)
    metadata = coll / "metadata.yaml"
    metadata.write_text(
        yaml.safe_dump(
            {
                "title": title.journal_title,
                "publisher": title.publisher_name,
                "license": title.license_url,
                "release_date": title.release_date.isoformat(),
            },
            sort_keys=False,
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    written += [banner, custom, frame, metadata]
    for sub in ("archive", "indexes"):
        (coll / sub).mkdir(exist_ok=True)
    return written
