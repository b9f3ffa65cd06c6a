"""KBART holdings of the released titles (NISO RP-9-2014, KBART Phase II), for link resolvers and the Keepers Registry.

One UTF-8, tab-separated file with the 25 Phase II columns in their fixed order, one row
per continuous run of released volumes of a title (a gap starts a new row, as KBART
asks). Values never contain tabs or line breaks. The file is named
``<provider>_AllTitles_<YYYY-MM-DD>.txt`` after KBART's file naming.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from strongroom.render.model import ReleasedAu, ReleasedTitle
from strongroom.render.urls import SitePlan, title_dir

COLUMNS = (
    "publication_title",
    "print_identifier",
    "online_identifier",
    "date_first_issue_online",
    "num_first_vol_online",
    "num_first_issue_online",
    "date_last_issue_online",
    "num_last_vol_online",
    "num_last_issue_online",
    "title_url",
    "first_author",
    "title_id",
    "embargo_info",
    "coverage_depth",
    "notes",
    "publisher_name",
    "publication_type",
    "date_monograph_published_print",
    "date_monograph_published_online",
    "monograph_volume",
    "monograph_edition",
    "first_editor",
    "parent_publication_title_id",
    "preceding_publication_title_id",
    "access_type",
)


def kbart_path(provider: str, day: date) -> str:
    return f"kbart/{re.sub(r'[^A-Za-z0-9-]+', '', provider) or 'strongroom'}_AllTitles_{day.isoformat()}.txt"


def _clean(value: object) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _span(au: ReleasedAu) -> dict:
    """First and last issue of an AU: (date, volume, issue) from its articles' metadata."""
    arts = [e.article for e in au.articles]
    dated = sorted(a.pub_date for a in arts if a.pub_date)
    by_issue = sorted(arts, key=lambda a: (_int(a.volume) or 0, _int(a.issue) or 0, a.pub_date or ""))
    first, last = (by_issue[0], by_issue[-1]) if by_issue else (None, None)
    return {
        "first_date": dated[0] if dated else "",
        "last_date": dated[-1] if dated else "",
        "first_vol": first.volume if first else None,
        "first_issue": first.issue if first else None,
        "last_vol": last.volume if last else None,
        "last_issue": last.issue if last else None,
    }


def _runs(title: ReleasedTitle) -> list[list[dict]]:
    """Consecutive AUs (volume n then n+1, or year y then y+1 without volumes) form one coverage row."""
    spans = sorted(
        (_span(au) for au in title.aus if au.articles), key=lambda s: (_int(s["first_vol"]) or 0, s["first_date"])
    )
    runs: list[list[dict]] = []
    for span in spans:
        if runs:
            prev = runs[-1][-1]
            pv, nv = _int(prev["last_vol"]), _int(span["first_vol"])
            py, ny = _int(prev["last_date"][:4]), _int(span["first_date"][:4])
            if (pv is not None and nv is not None and nv - pv in (0, 1)) or (
                pv is None and nv is None and py is not None and ny is not None and ny - py in (0, 1)
            ):
                runs[-1].append(span)
                continue
        runs.append([span])
    return runs


def kbart_rows(titles: list[ReleasedTitle], plan: SitePlan) -> list[dict[str, str]]:
    rows = []
    for title in sorted(titles, key=lambda t: (t.journal_title.lower(), t.title_id)):
        for run in _runs(title):
            first, last = run[0], run[-1]
            rows.append(
                {
                    "publication_title": title.journal_title,
                    "print_identifier": title.issn or "",
                    "online_identifier": title.eissn or "",
                    "date_first_issue_online": first["first_date"],
                    "num_first_vol_online": first["first_vol"] or "",
                    "num_first_issue_online": first["first_issue"] or "",
                    "date_last_issue_online": last["last_date"],
                    "num_last_vol_online": last["last_vol"] or "",
                    "num_last_issue_online": last["last_issue"] or "",
                    "title_url": plan.site_url(title_dir(title) + "index.html"),
                    "first_author": "",  # monographs only
                    "title_id": f"{title.publisher_id}/{title.title_id}",
                    "embargo_info": "",
                    "coverage_depth": "fulltext",
                    "notes": f"Released from the strongroom archive on {title.release_date.isoformat()} "
                    f"(trigger: {title.trigger}, {title.trigger_date.isoformat()}); "
                    f"license {title.license_id} {title.license_url}",
                    "publisher_name": title.publisher_name,
                    "publication_type": "serial",
                    "access_type": "F",  # free to read
                }
            )
    return rows


def write_kbart(titles: list[ReleasedTitle], plan: SitePlan, site_root: Path, path: str) -> Path:
    dest = site_root / path
    dest.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(COLUMNS)]
    for row in kbart_rows(titles, plan):
        lines.append("\t".join(_clean(row.get(c, "")) for c in COLUMNS))
    dest.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    return dest
