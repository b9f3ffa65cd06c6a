"""One WACZ 1.1.1 per title (the title's WARC, its index and a page list), made by the ``wacz`` tool.

pages/pages.jsonl lists one page per article: its harvested landing page when the harvest
has it, else its PDF, else its first file, with the article's title and the capture time,
so ReplayWeb.page opens on the articles rather than on bag files.

``wacz create`` takes a title and a description but has no option for a license, so the
license is added to datapackage.json afterwards, as a Frictionless ``licenses`` entry, and
datapackage-digest.json is computed again over the new bytes, as WACZ 1.1.1 requires.
Rewriting means copying the zip's entries into a new zip: streamed, entry by entry, each
keeping its compression (WARCs and the compressed index stay stored, as the spec asks).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from warcio.timeutils import timestamp_to_iso_date

from strongroom.domain.errors import StrongroomError
from strongroom.domain.hashing import CHUNK, HashingReader
from strongroom.render.model import ReleasedTitle
from strongroom.render.urls import SitePlan
from strongroom.render.warc import Capture, TitleWarc
from strongroom.render.whole_files import written_whole

_LOCK = threading.Lock()  # wacz prints to stdout; redirecting it is process-wide
DATAPACKAGE = "datapackage.json"
DIGEST = "datapackage-digest.json"


class WaczError(StrongroomError, RuntimeError):
    """The wacz tool failed; the message carries what it printed."""


@dataclass(frozen=True)
class WaczResult:
    path: Path
    size: int
    sha256: str
    pages: int


def page_list(title: ReleasedTitle, plan: SitePlan, warc: TitleWarc) -> list[dict]:
    """One page per article that has a capture in the WARC: url, ts (ISO) and the article's title."""
    pages, seen = [], set()
    for au in title.aus:
        for place in plan.places(au):
            capture: Capture | None = warc.capture_of(place.landing)
            if capture is None or capture.source != "harvest":
                shown = place.entry.pdf or next(iter(place.entry.files), None)
                capture = warc.files.get((au.au_id, shown.path)) if shown else None
            if capture is None or (capture.timestamp, capture.url) in seen:
                continue
            seen.add((capture.timestamp, capture.url))
            pages.append(
                {
                    "url": capture.url,
                    "ts": timestamp_to_iso_date(capture.timestamp),
                    "title": place.entry.article.title or capture.url,
                }
            )
    return pages


def description(title: ReleasedTitle) -> str:
    return (
        f"{title.journal_title} ({title.publisher_name}), released from the strongroom archive on "
        f"{title.release_date.isoformat()} because {title.trigger_text}. "
        f"License: {title.license_name} ({title.license_id}), {title.license_url}"
    )


def write_wacz(title: ReleasedTitle, plan: SitePlan, warc: TitleWarc, dest: Path, *, now: datetime) -> WaczResult:
    """Package the title's WARC as dest (a .wacz), with pages and the license in its datapackage."""
    from wacz.main import (
        main as wacz_main,  # heavy import (frictionless); only when a WACZ is made
    )

    dest.parent.mkdir(parents=True, exist_ok=True)
    pages = page_list(title, plan, warc)
    with tempfile.TemporaryDirectory(prefix="wacz-", dir=dest.parent) as tmp:
        pages_file = Path(tmp) / "pages.jsonl"
        with pages_file.open("w", encoding="utf-8") as fh:
            fh.write(
                json.dumps({"format": "json-pages-1.0", "id": "pages", "title": f"Articles of {title.journal_title}"})
                + "\n"
            )
            for page in pages:
                fh.write(json.dumps(page, ensure_ascii=False) + "\n")
        raw = Path(tmp) / "raw.wacz"
        printed = io.StringIO()
        with _LOCK, contextlib.redirect_stdout(printed):
            code = wacz_main(
                [
                    "create",
                    "-o",
                    str(raw),
                    "--pages",
                    str(pages_file),
                    "--title",
                    title.journal_title,
                    "--desc",
                    description(title),
                    str(warc.path),
                ]
            )
        if code != 0:
            raise WaczError(f"wacz create failed for {title.title_id}: {printed.getvalue()[-2000:]}")
        with written_whole(dest) as partial:
            _with_license(raw, partial, title, now)
    with dest.open("rb") as fh:
        written = HashingReader(fh, ("sha256",)).drain()
    return WaczResult(dest, written.size, written.hexdigest("sha256"), len(pages))


def _with_license(src: Path, dest: Path, title: ReleasedTitle, now: datetime) -> None:
    """Copy the WACZ, adding the license to datapackage.json and re-digesting it."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", allowZip64=True) as zout:
        package = json.loads(zin.read(DATAPACKAGE))
        for info in zin.infolist():
            if info.filename in (DATAPACKAGE, DIGEST):
                continue
            copy = zipfile.ZipInfo(info.filename, info.date_time)
            copy.compress_type, copy.external_attr, copy.file_size = (
                info.compress_type,
                info.external_attr,
                info.file_size,
            )
            with zin.open(info) as r, zout.open(copy, "w", force_zip64=info.file_size > 0x7FFFFFFF) as w:
                shutil.copyfileobj(r, w, CHUNK)
        package["licenses"] = [{"name": title.license_id, "path": title.license_url, "title": title.license_name}]
        package["created"] = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = json.dumps(package, indent=2, ensure_ascii=False).encode("utf-8")
        stamp = now.astimezone(UTC).timetuple()[:6]
        info = zipfile.ZipInfo(DATAPACKAGE, stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        zout.writestr(info, body)
        digest = {"path": DATAPACKAGE, "hash": "sha256:" + hashlib.sha256(body).hexdigest()}
        info = zipfile.ZipInfo(DIGEST, stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        zout.writestr(info, json.dumps(digest, indent=2))


def validate_wacz(path: Path) -> tuple[bool, str]:
    """Run ``wacz validate`` on a file: (valid, what it printed). It unpacks the file into a temporary folder."""
    from wacz.main import main as wacz_main

    printed = io.StringIO()
    with _LOCK, contextlib.redirect_stdout(printed):
        code = wacz_main(["validate", "-f", str(path)])
    return code == 0, printed.getvalue()
