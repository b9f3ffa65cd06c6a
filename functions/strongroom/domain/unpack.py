"""Unpack a publisher's package without trusting it.

A package is a zip or a (gzipped) tar holding one BagIt bag. Everything in it is hostile
until shown otherwise: names may climb out of the destination, members may be links or
devices, and declared sizes may hide a bomb. So:

* `inspect` reads only the listing (the zip central directory; tar headers in one
  streaming pass, skipping the data) and reports *every* problem, writing nothing;
* `extract` refuses when `inspect` found an error, then copies member by member in
  small chunks, counting the bytes it really writes, because declared sizes can lie.

The archive type comes from the content (magic bytes), never from the file name.
"""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import struct
import tarfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal, TypeGuard, get_args

from strongroom.domain.archive import IngestLimits
from strongroom.domain.hashing import CHUNK
from strongroom.domain.problems import Problem, Rejected, control_character_problem, control_characters, errors

ArchiveType = Literal["zip", "tar", "tar.gz"]
MemberKind = Literal["file", "dir", "symlink", "hardlink", "special", "other"]

PACKAGE = "(package)"  # Problem.path for problems with the package as a whole
# Below this many expanded bytes a high compression ratio cannot hurt (a 2 kB zip of
# a 500 kB XML file is not a bomb), so the ratio rule only applies above it.
RATIO_FLOOR_BYTES = 16 << 20
# Zip compression methods Python's zipfile can read: stored, deflate, bzip2, lzma.
ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}

HOW_TO_PACKAGE = (
    "make the bag with bagit.py (or bagger), then zip the bag folder itself, e.g. "
    "`cd parent && zip -r -X mybag.zip mybag` or `tar -czf mybag.tar.gz mybag`, "
    "so the archive holds either bagit.txt at its top or one folder containing bagit.txt"
)
REPACK = "rebuild the package from the bag folder with zip -r or tar -czf, which store only plain files and folders"

# (signature, offset, what it is) for types we recognise but do not accept.
_OTHER_TYPES = (
    (b"BZh", 0, "a bzip2 file"),
    (b"\xfd7zXZ\x00", 0, "an xz file"),
    (b"7z\xbc\xaf\x27\x1c", 0, "a 7-Zip archive"),
    (b"Rar!\x1a\x07", 0, "a RAR archive"),
    (b"\x28\xb5\x2f\xfd", 0, "a zstd file"),
    (b"%PDF", 0, "a PDF document"),
)
_EXTENSIONS: dict[str, ArchiveType] = {".zip": "zip", ".tar": "tar", ".tar.gz": "tar.gz", ".tgz": "tar.gz"}


@dataclass(frozen=True)
class Extracted:
    """Where the bag landed and how much was written."""

    root: Path  # the bag root: the directory holding bagit.txt
    file_count: int
    total_bytes: int
    warnings: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class _Member:
    """One archive entry, reduced to what the safety rules need."""

    name: str  # as stored in the archive
    kind: MemberKind
    size: int  # declared expanded size
    encrypted: bool = False
    method_ok: bool = True


# ---------------------------------------------------------------- type detection


def _is_archive_type(detected: str) -> TypeGuard[ArchiveType]:
    return detected in get_args(ArchiveType)


def detect_type(archive_path: Path) -> ArchiveType | str:
    """The archive type from its first bytes; for anything else, a phrase saying what it is."""
    with open(archive_path, "rb") as f:
        head = f.read(512)
        if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
            return "zip"
        if head[:2] == b"\x1f\x8b":
            # A gzip file: a package only if a tar is inside. Look at the first block.
            f.seek(0)
            try:
                with gzip.GzipFile(fileobj=f) as gz:
                    inner = gz.read(512)
            except (OSError, EOFError):
                return "a corrupt gzip file"
            return "tar.gz" if _is_tar_header(inner) else "a gzip file without a tar inside"
        if _is_tar_header(head):
            return "tar"
    for signature, offset, what in _OTHER_TYPES:
        if head[offset : offset + len(signature)] == signature:
            return what
    return "not an archive" if head else "an empty file"


def _is_tar_header(block: bytes) -> bool:
    """A POSIX/GNU tar header (magic "ustar"), or an old v7 header with a valid checksum."""
    if len(block) < 512:
        return False
    if block[257:262] == b"ustar":
        return True
    try:
        stored = int(block[148:156].replace(b"\x00", b" ").strip() or b"-1", 8)
    except ValueError:
        return False
    computed = sum(block[:148]) + 8 * 32 + sum(block[156:512])
    return stored == computed and block[0] != 0


def _extension_type(name: str) -> ArchiveType | None:
    lower = name.lower()
    for ext in (".tar.gz", ".tgz", ".zip", ".tar"):
        if lower.endswith(ext):
            return _EXTENSIONS[ext]
    return None


# ---------------------------------------------------------------- listing


def _zip_entry_count(archive_path: Path) -> int | None:
    """Entries declared by the zip's end record, read before zipfile loads the directory.

    A central directory with millions of entries costs memory to load; counting first
    lets a too-many-files package be refused cheaply. None if the record is not found.
    """
    size = os.path.getsize(archive_path)
    with open(archive_path, "rb") as f:
        tail_len = min(size, 22 + 65535)
        f.seek(size - tail_len)
        tail = f.read(tail_len)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + 22 > len(tail):
            return None
        (count,) = struct.unpack("<H", tail[at + 10 : at + 12])
        if count != 0xFFFF or at < 20 or tail[at - 20 : at - 16] != b"PK\x06\x07":
            return count
        (zip64_end,) = struct.unpack("<Q", tail[at - 12 : at - 4])
        f.seek(zip64_end)
        record = f.read(56)
        if record[:4] != b"PK\x06\x06" or len(record) < 40:
            return None
        (count64,) = struct.unpack("<Q", record[32:40])
        return count64


def _zip_member(info: zipfile.ZipInfo) -> _Member:
    mode = info.external_attr >> 16 if info.create_system == 3 else 0
    kind: MemberKind
    if info.is_dir():
        kind = "dir"
    elif stat.S_ISLNK(mode):
        kind = "symlink"
    elif mode and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        kind = "special"
    else:
        kind = "file"
    return _Member(
        info.orig_filename,  # zipfile cuts .filename at a NUL; the name as stored is what is judged
        kind,
        info.file_size,
        encrypted=bool(info.flag_bits & 0x1),
        method_ok=info.compress_type in ZIP_METHODS,
    )


def _tar_member(info: tarfile.TarInfo) -> _Member:
    kind: MemberKind
    if info.isdir():
        kind = "dir"
    elif info.issym():
        kind = "symlink"
    elif info.islnk():
        kind = "hardlink"
    elif info.ischr() or info.isblk() or info.isfifo():
        kind = "special"
    elif info.isreg():
        kind = "file"
    else:
        kind = "other"
    return _Member(info.name, kind, info.size if kind == "file" else 0)


def _tar_members(tf: tarfile.TarFile) -> Iterator[tuple[tarfile.TarInfo, _Member]]:
    """Members of a streamed tar, forgetting each one once seen (bounded memory)."""
    while True:
        info = tf.next()
        if info is None:
            return
        # Stream mode keeps every TarInfo otherwise. getmembers() would read the whole archive;
        # typeshed does not declare the list CPython keeps in TarFile.members.
        tf.members.clear()  # type: ignore[attr-defined]
        yield info, _tar_member(info)


# ---------------------------------------------------------------- the rules


def _clean_parts(name: str) -> tuple[str, ...] | None:
    """The path segments of a safe member name (".", "" dropped), or None when the name climbs out."""
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    return None if ".." in parts else parts


def _name_problems(name: str, limits: IngestLimits) -> list[Problem]:
    """Rules about one member's name alone."""
    found = []
    if any(0xD800 <= ord(c) <= 0xDFFF for c in name):
        found.append(
            Problem(
                name,
                "name-not-utf8",
                "the name is not valid UTF-8.",
                "rename the file using UTF-8, or create the archive with a tool that stores UTF-8 names",
            )
        )
    if controls := control_characters(name):
        found.append(control_character_problem(name, controls))
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":" and name[0].isalpha()):
        found.append(
            Problem(
                name,
                "absolute-path",
                "the name is an absolute path; it would be written outside the package folder.",
                "store paths relative to the bag folder (zip -r / tar -c from the bag's parent folder)",
            )
        )
    if "\\" in name:
        found.append(
            Problem(
                name,
                "backslash-in-path",
                "the name contains a backslash; on Windows it is a folder separator and can point elsewhere.",
                "use '/' as the folder separator (zip/tar tools on macOS and Linux do this)",
            )
        )
    if ".." in name.replace("\\", "/").split("/"):
        found.append(
            Problem(
                name,
                "path-traversal",
                "the name contains '..' and would be written outside the package folder.",
                "store only paths inside the bag folder, with no '..' segments",
            )
        )
    if len(name.encode("utf-8", "surrogateescape")) > limits.max_path_bytes:
        found.append(
            Problem(
                name[:200] + "…",
                "path-too-long",
                f"the name is {len(name.encode('utf-8', 'surrogateescape'))} bytes; the limit is {limits.max_path_bytes}.",
                "shorten the folder and file names",
            )
        )
    return found


def _kind_problems(m: _Member) -> list[Problem]:
    """Rules about what a member is: only plain files and folders are accepted."""
    what = {
        "symlink": (
            "symlink",
            "the member is a symbolic link; links can point outside the package.",
            "replace the link with a copy of the file it points to",
        ),
        "hardlink": (
            "hard-link",
            "the member is a hard link to another member.",
            "store the file itself, not a link (tar --hard-dereference)",
        ),
        "special": (
            "special-file",
            "the member is a device, FIFO or socket, not a file.",
            "remove it from the package; only files and folders belong in a bag",
        ),
        "other": ("unsupported-member-type", "the member is neither a plain file nor a folder.", REPACK),
    }
    found = []
    if m.kind in what:
        rule, message, fix = what[m.kind]
        found.append(Problem(m.name, rule, message, fix))
    if m.encrypted:
        found.append(
            Problem(
                m.name,
                "encrypted-member",
                "the member is encrypted; the archive must be able to read and keep it in clear.",
                "zip without a password (the transfer is already protected)",
            )
        )
    if not m.method_ok:
        found.append(
            Problem(
                m.name,
                "unsupported-compression",
                "the member uses a compression method that cannot be read (e.g. Deflate64).",
                "re-zip with ordinary deflate (zip -r, or 'Compress' without special options)",
            )
        )
    return found


class _Listing:
    """Accumulates the rules that need the whole listing: duplicates, collisions, totals."""

    def __init__(self, limits: IngestLimits, archive_bytes: int):
        self.limits = limits
        self.archive_bytes = archive_bytes
        self.problems: list[Problem] = []
        self.files = 0
        self.declared = 0
        self.kinds: dict[tuple[str, ...], str] = {}  # clean path -> "file" | "dir"
        self.folded: dict[str, str] = {}  # NFC+casefold path -> first name seen
        self.top: set[str] = set()
        self.stopped = False

    def add(self, m: _Member) -> None:
        self.problems += _name_problems(m.name, self.limits) + _kind_problems(m)
        if m.kind == "file":
            self.files += 1
            self.declared += m.size
        parts = _clean_parts(m.name.replace("\\", "/"))
        if not parts or self.files > self.limits.max_files:
            return  # traversal already reported; past the file limit, stop tracking names
        self.top.add(parts[0])
        for depth in range(1, len(parts)):  # parent folders implied by the name
            self._record(parts[:depth], "dir", m.name)
        self._record(parts, "dir" if m.kind == "dir" else "file", m.name)

    def _record(self, parts: tuple[str, ...], kind: str, name: str) -> None:
        seen = self.kinds.get(parts)
        if seen is None:
            self.kinds[parts] = kind
            path = "/".join(parts)
            key = unicodedata.normalize("NFC", path).casefold()
            other = self.folded.setdefault(key, path)
            if other != path:
                if unicodedata.normalize("NFC", other) == unicodedata.normalize("NFC", path):
                    self.problems.append(
                        Problem(
                            name,
                            "normalization-collision",
                            f"the name is the same as {other!r} once Unicode is normalised (NFC); one would overwrite the other.",
                            "keep one of the two files, or rename one; use NFC-normalised names",
                        )
                    )
                else:
                    self.problems.append(
                        Problem(
                            name,
                            "case-collision",
                            f"the name differs from {other!r} only in upper/lower case; on many systems one would overwrite the other.",
                            "rename one of the two so the names differ by more than case",
                        )
                    )
        elif kind == "file" and seen == "file":
            self.problems.append(
                Problem(
                    name,
                    "duplicate-name",
                    "the archive holds two members with this name; one would overwrite the other.",
                    "keep only one copy in the package",
                )
            )
        elif kind != seen:
            self.problems.append(
                Problem(
                    name,
                    "file-dir-conflict",
                    "the name is used both for a file and for a folder.",
                    "rename the file or the folder",
                )
            )

    def over_limits(self) -> bool:
        """True once the declared totals already break a limit (no point reading further)."""
        return self.declared > self.limits.max_package_bytes or self._ratio_broken()

    def _ratio_broken(self) -> bool:
        return self.declared > RATIO_FLOOR_BYTES and self.declared > self.limits.max_expansion_ratio * max(
            self.archive_bytes, 1
        )

    def finish(self) -> list[Problem]:
        lim = self.limits
        if self.files > lim.max_files:
            self.problems.append(
                Problem(
                    PACKAGE,
                    "too-many-files",
                    f"the package holds {self.files}{'+' if self.stopped else ''} files; the limit is {lim.max_files}.",
                    "split the content into several packages (one per AU or per issue)",
                )
            )
        if self.declared > lim.max_package_bytes:
            self.problems.append(
                Problem(
                    PACKAGE,
                    "expanded-too-large",
                    f"the package expands to {self.declared}{'+' if self.stopped else ''} bytes; the limit is {lim.max_package_bytes}.",
                    "split the content into several packages",
                )
            )
        if self._ratio_broken():
            ratio = self.declared / max(self.archive_bytes, 1)
            self.problems.append(
                Problem(
                    PACKAGE,
                    "zip-bomb",
                    f"the package would expand {ratio:.0f} times ({self.archive_bytes} -> {self.declared} bytes); "
                    f"the limit is {lim.max_expansion_ratio:g} times.",
                    "send ordinary content; if it really is this compressible, send it uncompressed (zip -0 or a plain .tar)",
                )
            )
        return self.problems

    def bag_prefix(self) -> tuple[str, ...] | None:
        """The folder holding bagit.txt: the top, or the one top-level folder; None if neither."""
        if self.kinds.get(("bagit.txt",)) == "file":
            return ()
        if len(self.top) == 1:
            (only,) = self.top
            if self.kinds.get((only, "bagit.txt")) == "file":
                return (only,)
        return None

    def bag_root_problem(self) -> Problem:
        tops = sorted(self.top)
        shown = ", ".join(tops[:5]) + (" …" if len(tops) > 5 else "") if tops else "nothing"
        return Problem(
            PACKAGE,
            "bag-root",
            f"no bagit.txt at the top of the package nor in a single top-level folder (the top holds: {shown}).",
            HOW_TO_PACKAGE,
        )


def _scan(
    archive_path: Path, limits: IngestLimits, name: str | None
) -> tuple[list[Problem], ArchiveType | None, _Listing]:
    archive_path = Path(archive_path)
    archive_bytes = os.path.getsize(archive_path)
    listing = _Listing(limits, archive_bytes)
    detected = detect_type(archive_path)
    problems: list[Problem] = []
    if not _is_archive_type(detected):
        problems.append(
            Problem(
                PACKAGE,
                "unknown-archive-type",
                f"the package is {detected}, not a zip, tar or tar.gz archive.",
                "send the bag as .zip, .tar or .tar.gz",
            )
        )
        return problems, None, listing
    kind = detected
    expected = _extension_type(name or archive_path.name)
    if expected and expected != kind:
        problems.append(
            Problem(
                PACKAGE,
                "archive-type-mismatch",
                f"the name says {expected} but the content is {kind}; the content is what counts.",
                f"name the file after its content (.{'tar.gz' if kind == 'tar.gz' else kind})",
                "warning",
            )
        )
    try:
        if kind == "zip":
            declared = _zip_entry_count(archive_path)
            if declared is not None and declared > limits.max_files:
                listing.files, listing.stopped = declared, True
            else:
                with zipfile.ZipFile(archive_path) as zf:
                    for info in zf.infolist():
                        listing.add(_zip_member(info))
        else:
            with tarfile.open(archive_path, mode="r|gz" if kind == "tar.gz" else "r|", encoding="utf-8") as tf:
                for _info, member in _tar_members(tf):
                    listing.add(member)
                    if listing.over_limits() or listing.files > limits.max_files:
                        listing.stopped = True  # do not decompress further into a bomb
                        break
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, ValueError) as e:
        problems.append(
            Problem(
                PACKAGE,
                "corrupt-archive",
                f"the archive cannot be read: {e}.",
                "re-create the package and upload it again (check the upload completed)",
            )
        )
    readable = not any(p.rule == "corrupt-archive" for p in problems)
    problems += listing.finish()
    if readable and not listing.stopped and listing.bag_prefix() is None:
        problems.append(listing.bag_root_problem())
    return problems, kind, listing


def inspect(archive_path: Path, limits: IngestLimits, name: str | None = None) -> list[Problem]:
    """Every problem in the package's listing, found without writing anything.

    `name` is the package's original file name, for the extension check (the scratch
    copy may be named anything); it defaults to archive_path's name.
    """
    return _scan(Path(archive_path), limits, name)[0]


# ---------------------------------------------------------------- extraction


class _Budget:
    """Counts the bytes really written and stops as soon as a limit is crossed."""

    def __init__(self, limits: IngestLimits, archive_bytes: int):
        self.limit = limits.max_package_bytes
        self.ratio_limit = max(limits.max_expansion_ratio * max(archive_bytes, 1), RATIO_FLOOR_BYTES)
        self.limits = limits
        self.archive_bytes = archive_bytes
        self.written = 0

    def take(self, n: int, member: str) -> None:
        self.written += n
        if self.written > self.limit:
            raise Rejected(
                [
                    Problem(
                        member,
                        "expanded-too-large",
                        f"while writing this member the package passed {self.limit} bytes, more than its listing declared.",
                        "send a package whose listing is honest and within the size limit; split large content",
                    )
                ]
            )
        if self.written > self.ratio_limit:
            raise Rejected(
                [
                    Problem(
                        member,
                        "zip-bomb",
                        f"while writing this member the package passed {self.limits.max_expansion_ratio:g} times its "
                        f"{self.archive_bytes} compressed bytes, more than its listing declared.",
                        "send ordinary content with an honest listing",
                    )
                ]
            )


def _copy(src: BinaryIO, target: Path, declared: int, member: str, budget: _Budget) -> int:
    """Stream one member to a new file (never following or replacing anything) in CHUNK pieces."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    written = 0
    with os.fdopen(os.open(target, flags, 0o644), "wb") as out:
        while chunk := src.read(CHUNK):
            written += len(chunk)
            if written > declared:
                raise Rejected(
                    [
                        Problem(
                            member,
                            "size-mismatch",
                            f"the member holds more than the {declared} bytes its header declares.",
                            "re-create the package with a standard zip or tar tool",
                        )
                    ]
                )
            budget.take(len(chunk), member)
            out.write(chunk)
    return written


def _target(dest: Path, parts: tuple[str, ...]) -> Path:
    """The path a member is written to, proved to be inside dest."""
    target = dest.joinpath(*parts)
    if not target.resolve().is_relative_to(dest):
        raise Rejected(
            [
                Problem(
                    "/".join(parts),
                    "path-traversal",
                    "the member would be written outside the package folder.",
                    "store only paths inside the bag folder",
                )
            ]
        )
    return target


def extract(archive_path: Path, dest_dir: Path, limits: IngestLimits, name: str | None = None) -> Extracted:
    """Unpack a package into dest_dir (which must be empty or absent) and find the bag root.

    Raises Rejected with every listing problem before writing anything; raises Rejected
    (and removes what it wrote) if the members turn out bigger than declared.
    """
    archive_path = Path(archive_path)
    problems, kind, listing = _scan(archive_path, limits, name)
    if errors(problems):
        raise Rejected(problems)
    dest = Path(dest_dir)
    if dest.exists() and any(dest.iterdir()):
        raise ValueError(f"{dest} is not empty; extract into a fresh scratch folder")
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    dest = dest.resolve()
    budget = _Budget(limits, os.path.getsize(archive_path))
    files = 0

    def write(member: _Member, open_member) -> None:
        nonlocal files
        again = _name_problems(member.name, limits) + _kind_problems(member)
        parts = _clean_parts(member.name.replace("\\", "/"))
        if again or parts is None:  # the archive changed since inspect: refuse
            raise Rejected(again or [Problem(member.name, "path-traversal", "unsafe name.", "repackage")])
        if not parts:
            return
        target = _target(dest, parts)
        if member.kind == "dir":
            target.mkdir(parents=True, exist_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        _target(dest, parts[:-1])  # the parent must not have become a link
        files += 1
        if files > limits.max_files:
            raise Rejected(
                [
                    Problem(
                        PACKAGE,
                        "too-many-files",
                        "the package holds more files than its listing declared.",
                        "split the content into several packages",
                    )
                ]
            )
        try:
            with open_member() as src:
                _copy(src, target, member.size, member.name, budget)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as e:
            raise Rejected(
                [
                    Problem(
                        member.name,
                        "corrupt-member",
                        f"the member's data does not match its header (size or checksum): {e}.",
                        "re-create the package with a standard zip or tar tool and upload it again",
                    )
                ]
            ) from e

    try:
        if kind == "zip":
            with zipfile.ZipFile(archive_path) as zf:
                for info in zf.infolist():
                    write(_zip_member(info), lambda info=info: zf.open(info))
        else:
            with tarfile.open(archive_path, mode="r|gz" if kind == "tar.gz" else "r|", encoding="utf-8") as tf:
                for entry, member in _tar_members(tf):
                    write(member, lambda entry=entry: tf.extractfile(entry))
    except Rejected:
        _clean(dest, created)
        raise
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, ValueError) as e:
        _clean(dest, created)
        raise Rejected(
            [
                Problem(
                    PACKAGE,
                    "corrupt-archive",
                    f"the archive cannot be read: {e}.",
                    "re-create the package and upload it again (check the upload completed)",
                )
            ]
        ) from e
    prefix = listing.bag_prefix()
    assert prefix is not None  # _scan reported a bag-root error otherwise
    return Extracted(dest.joinpath(*prefix), files, budget.written, [p for p in problems if p.severity == "warning"])


def _clean(dest: Path, created: bool) -> None:
    """Remove a half-written extraction (dest was empty before; the package stays in quarantine)."""
    if created:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
