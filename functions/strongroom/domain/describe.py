"""Describe a bag's payload: every file's size and format, every JATS article, every WARC.

Ingest writes this description into the receipt and the release renders from it. Content
that cannot be described (unparseable JATS, an unreadable WARC) is a *warning*: the bytes
are what the publisher sent and fixity already proved them, so they are kept as they are.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

from strongroom.domain.formats import (
    JATS,
    FileFormat,
    WarcError,
    WarcSummary,
    count_warc_records,
    identify,
)
from strongroom.domain.jats import Article, JatsError, parse_jats
from strongroom.domain.problems import Problem


@dataclass(frozen=True)
class FileInfo:
    path: str  # as given, e.g. data/jmbe.2024.1/article.pdf
    size: int
    format: FileFormat

    def as_dict(self) -> dict:
        return {"path": self.path, "size": self.size, "format": self.format.as_dict()}


@dataclass(frozen=True)
class ArticleEntry:
    """An article and its files: every payload file in the directory of its XML (the XML included).

    An entry reads as its article too (entry.doi, entry.journal_title), so callers that
    only want metadata need not unwrap it.
    """

    xml_path: str
    article: Article
    files: tuple[str, ...]

    def __getattr__(self, name: str):
        if name.startswith("__") or name in ("xml_path", "article", "files"):  # no recursion while unpickling
            raise AttributeError(name)
        return getattr(self.article, name)

    def as_dict(self) -> dict:
        """The article's fields, plus where its XML is and which files belong to it."""
        return {**self.article.as_dict(), "xml_path": self.xml_path, "files": list(self.files)}


@dataclass(frozen=True)
class WarcEntry:
    path: str
    summary: WarcSummary

    def as_dict(self) -> dict:
        return {"path": self.path, **self.summary.as_dict()}


@dataclass(frozen=True)
class Description:
    files: tuple[FileInfo, ...]
    articles: tuple[ArticleEntry, ...]
    warcs: tuple[WarcEntry, ...]
    problems: tuple[Problem, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def as_dict(self) -> dict:
        return {
            "files": [f.as_dict() for f in self.files],
            "total_bytes": self.total_bytes,
            "articles": [a.as_dict() for a in self.articles],
            "warcs": [w.as_dict() for w in self.warcs],
            "problems": [p.as_dict() for p in self.problems],
        }


def describe(bag_dir: Path, payload_paths: list[str]) -> Description:
    """Describe the payload files (paths relative to bag_dir, '/'-separated, as in the bag manifest)."""
    bag_dir = Path(bag_dir)
    root = bag_dir.resolve()
    files: list[FileInfo] = []
    articles: list[ArticleEntry] = []
    warcs: list[WarcEntry] = []
    problems: list[Problem] = []
    jats_paths: list[str] = []

    for rel in sorted(payload_paths):
        local = (bag_dir / rel).resolve()
        if not local.is_relative_to(root):
            problems.append(
                Problem(
                    rel,
                    "payload-path",
                    "the path points outside the bag.",
                    "name payload files by paths inside data/",
                    "error",
                )
            )
            continue
        try:
            size = local.stat().st_size
            fmt = identify(local)
        except OSError as exc:
            problems.append(
                Problem(
                    rel,
                    "payload-unreadable",
                    f"the file cannot be read: {exc.strerror or exc}.",
                    "make sure every file listed in the manifest is in the package",
                )
            )
            continue
        files.append(FileInfo(rel, size, fmt))
        if fmt == JATS:
            jats_paths.append(rel)
        elif fmt.mime == "application/warc":
            try:
                warcs.append(WarcEntry(rel, count_warc_records(local, display_path=rel)))
            except WarcError as exc:
                p = exc.problem
                problems.append(Problem(rel, p.rule, p.message, p.fix, "warning"))

    by_dir: dict[str, list[str]] = {}
    for info in files:
        by_dir.setdefault(posixpath.dirname(info.path), []).append(info.path)
    for rel in jats_paths:
        try:
            with (bag_dir / rel).open("rb") as fh:
                article = parse_jats(fh, name=rel)
        except JatsError as exc:
            problems.append(
                Problem(
                    rel,
                    "jats-unparseable",
                    f"the article metadata cannot be read: {exc}",
                    "send JATS 1.x XML with <front>/<article-meta>; the file is kept as sent",
                    "warning",
                )
            )
            continue
        articles.append(ArticleEntry(rel, article, tuple(by_dir[posixpath.dirname(rel)])))

    return Description(tuple(files), tuple(articles), tuple(warcs), tuple(problems))
