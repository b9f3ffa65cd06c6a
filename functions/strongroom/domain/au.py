"""Archival units and the ingest keys that name them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from strongroom.domain.problems import Problem, Rejected

# Names that are safe as S3 key segments, OCFL ids and URL path segments alike.
SEGMENT = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
PACKAGE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
INCOMING = "incoming/"


@dataclass(frozen=True, order=True)
class AuId:
    """One title's volume or year at one publisher: the unit of preservation, audit and release."""

    publisher: str
    title: str
    au: str

    def __str__(self) -> str:
        return f"{self.publisher}/{self.title}/{self.au}"

    @property
    def object_id(self) -> str:
        """The OCFL object id: readable and stable for decades."""
        return str(self)

    @classmethod
    def parse(cls, text: str) -> AuId:
        parts = text.strip("/").split("/")
        if len(parts) != 3 or not all(SEGMENT.match(p) for p in parts):
            raise ValueError(
                f"{text!r} is not an AU id; write publisher/title/au, each part lower-case letters, "
                "digits, '.', '_' or '-', starting with a letter or digit"
            )
        return cls(*parts)


@dataclass(frozen=True)
class PackageKey:
    """incoming/<publisher>/<title>/<au>/<package>: where a publisher put a package."""

    au: AuId
    package: str  # file name, with its suffix

    @property
    def key(self) -> str:
        return f"{INCOMING}{self.au}/{self.package}"

    @property
    def stem(self) -> str:
        for suffix in PACKAGE_SUFFIXES:
            if self.package.endswith(suffix):
                return self.package[: -len(suffix)]
        return self.package

    def sibling(self, area: str, suffix: str = "") -> str:
        """The key of this package's receipt, rejection or quarantined copy."""
        return f"{area}/{self.au}/{self.package}{suffix}"

    @classmethod
    def parse(cls, key: str) -> PackageKey:
        """The package key; raises Rejected with every problem of a key outside the layout (it cannot be ingested)."""
        fix = (
            "put packages at incoming/<publisher>/<title>/<au>/<package>.zip (or .tar, .tar.gz), "
            "each name lower-case letters, digits, '.', '_' or '-'"
        )
        if not key.startswith(INCOMING):
            raise Rejected([Problem(key, "key-layout", "the key is not under incoming/.", fix)])
        parts = key[len(INCOMING) :].split("/")
        if len(parts) != 4:
            raise Rejected([Problem(key, "key-layout", f"expected 4 parts after incoming/, found {len(parts)}.", fix)])
        publisher, title, au, package = parts
        problems = [
            Problem(key, "key-layout", f"{what} {value!r} is not a valid name.", fix)
            for what, value in (("publisher", publisher), ("title", title), ("AU", au))
            if not SEGMENT.match(value)
        ]
        if not package.lower().endswith(PACKAGE_SUFFIXES) or not SEGMENT.match(package.lower()):
            problems.append(
                Problem(key, "package-type", f"{package!r} is not a .zip, .tar or .tar.gz package name.", fix)
            )
        if problems:
            raise Rejected(problems)
        return cls(AuId(publisher, title, au), package)
