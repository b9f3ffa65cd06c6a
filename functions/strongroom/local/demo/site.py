"""Released titles made from the sample packages, for tests, the demo and the render benchmark.

python -m strongroom.local.demo.site OUT_DIR [ARTICLES]   # renders a sample release and prints the report
"""

from __future__ import annotations

import json
import sys
import tarfile
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

from strongroom.domain.release import Trigger
from strongroom.local.demo.samples import (
    CC_BY,
    PRESS,
    SOCIETY,
    JournalSpec,
    PackageFormat,
    make_articles,
    make_package,
)
from strongroom.render.from_bag import released_au_from_bags
from strongroom.render.model import ReleasedTitle
from strongroom.render.release import render_release

CC_BY_NAME = "Creative Commons Attribution 4.0 International"


def unpack(archive: Path, into: Path) -> Path:
    """Unpack a sample package; returns its one top-level folder (the bag, named like the package)."""
    into.mkdir(parents=True, exist_ok=True)
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(into)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(into, filter="data")
    (top,) = [p for p in into.iterdir() if p.is_dir()]
    return top


def _title(spec: JournalSpec, aus, trigger: Trigger, attestation: str | None) -> ReleasedTitle:
    return ReleasedTitle(
        publisher_id=spec.publisher,
        publisher_name=spec.publisher_name,
        title_id=spec.title,
        journal_title=spec.journal_title,
        issn=spec.issn,
        eissn=spec.eissn,
        license_id="CC-BY-4.0",
        license_url=CC_BY,
        license_name=CC_BY_NAME,
        trigger=trigger,
        trigger_date=date(2025, 1, 15),
        release_date=date(2025, 3, 1),
        attestation_url=attestation,
        aus=tuple(aus),
    )


def sample_titles(dest: Path, articles: int = 3) -> list[ReleasedTitle]:
    """Two titles: Northfield's journal, two years deposited as files only, and Lakeside's, one
    year deposited with a web-harvest WARC of its landing pages and PDFs."""
    dest = Path(dest)
    s23, s24 = SOCIETY, SOCIETY.for_year(2024)
    society_aus = []
    years: tuple[tuple[JournalSpec, str, int, PackageFormat], ...] = (
        (s23, "2023", 1, "zip"),
        (s24, "2024", 2, "tar.gz"),
    )
    for spec, au, seed, fmt in years:
        package = make_package(
            dest / "packages",
            publisher=spec.publisher,
            title=spec.title,
            au=au,
            articles=make_articles(articles, seed, spec),
            fmt=fmt,
            seed=seed,
        )
        bag = unpack(package, dest / "bags" / f"{spec.title}-{au}")
        society_aus.append(
            released_au_from_bags(
                f"{spec.publisher}/{spec.title}/{au}",
                [bag],
                ocfl_version="v1",
                deposited=datetime(int(au) + 1, 2, 1, 9, 30, tzinfo=UTC),
            )
        )
    package = make_package(
        dest / "packages",
        publisher=PRESS.publisher,
        title=PRESS.title,
        au="2024",
        articles=make_articles(articles, 3, PRESS),
        fmt="tar",
        warc=True,
        seed=3,
    )
    bag = unpack(package, dest / "bags" / "lrh-2024")
    press_au = released_au_from_bags(f"{PRESS.publisher}/{PRESS.title}/2024", [bag], ocfl_version="v2")
    return [
        _title(s23, society_aus, "publisher-consent", None),
        _title(PRESS, [press_au], "publisher-ceased", "https://attest.example/lakeside-up/lrh/"),
    ]


def main(argv: list[str] | None = None) -> int:

    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        print("usage: python -m strongroom.local.demo.site OUT_DIR [ARTICLES_PER_AU]", file=sys.stderr)
        return 2
    out = Path(args[0])
    titles = sample_titles(out / "input", int(args[1]) if len(args) > 1 else 3)
    report = render_release(
        titles,
        out / "release",
        site_base_url="http://localhost:8000",
        replay_base_url="http://localhost:8080",
        now=datetime.now(UTC),
    )
    print(json.dumps(report.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
