"""Build the renderer's input from unpacked bags on disk (tests, the demo, benchmarks).

The release flow builds the same model from the OCFL inventory and a node's stream; this
is the short way when the bags are at hand. Logical paths are ``<package stem>/<path in
the bag>``, as ingest stores them, so both routes give the same page and file URLs.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from strongroom.domain.describe import describe
from strongroom.domain.formats import identify
from strongroom.domain.ocfl import digest_stream
from strongroom.render.model import ReleasedArticle, ReleasedAu, ReleasedFile, opener


def _digests(path: Path) -> tuple[int, str, str]:
    with path.open("rb") as fh:
        d = digest_stream(fh)
    return d.size, d.sha256, d.sha512


def released_au_from_bags(
    au_id: str, bag_dirs: list[Path], *, ocfl_version: str = "v1", deposited: datetime | None = None
) -> ReleasedAu:
    """One AU from one or more unpacked bags (each bag's folder name is its package stem)."""
    files: dict[str, ReleasedFile] = {}
    articles: list[ReleasedArticle] = []
    for bag_dir in bag_dirs:
        bag_dir = Path(bag_dir)
        stem = bag_dir.name
        rels = sorted(p.relative_to(bag_dir).as_posix() for p in bag_dir.rglob("*") if p.is_file())
        description = describe(bag_dir, [r for r in rels if r.startswith("data/")])
        formats = {info.path: info.format.mime for info in description.files}
        for rel in rels:
            local = bag_dir / rel
            size, sha256, sha512 = _digests(local)
            mime = formats.get(rel) or identify(local).mime
            logical = f"{stem}/{rel}"
            files[logical] = ReleasedFile(logical, size, sha256, sha512, mime, opener(local))
        for entry in description.articles:
            articles.append(
                ReleasedArticle(
                    entry.article, tuple(files[f"{stem}/{p}"] for p in entry.files), f"{stem}/{entry.xml_path}"
                )
            )
    return ReleasedAu(au_id, ocfl_version, tuple(articles), tuple(files[k] for k in sorted(files)), deposited)
