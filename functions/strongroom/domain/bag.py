"""BagIt validation that lists every problem, and the archive's own BagIt profile.

The `bagit` library raises on the first thing it dislikes, and lets some things through
that the Library of Congress conformance suite says it should not (whitespace in
bagit.txt, a manifest that misses files when another manifest lists them, …). So this
module reads the tag files and manifests itself, never stopping at the first problem,
hashes every listed file once for all its algorithms, and then asks `bagit` for its own
verdict: anything bagit refuses that these checks did not already explain is reported
too, so a bag is never accepted here that bagit would reject, unless on purpose (the
conformance suite's warning cases).

A fetch.txt is allowed only when everything it names is already in the bag: the archive
keeps what it was given and does not fetch from the network.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

import bagit

from strongroom.domain.au import AuId
from strongroom.domain.hashing import HashingReader
from strongroom.domain.problems import Problem, control_character_problem, control_characters, errors

BAG = "(bag)"  # Problem.path for problems with the bag as a whole
LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Algorithms a manifest may use: the ones bagit knows, minus the variable-length SHAKEs.
ALGORITHMS = sorted(a for a in bagit.CHECKSUM_ALGOS if not a.startswith("shake_"))
MANIFEST_NAME = re.compile(r"^(tag)?manifest-([A-Za-z0-9_]+)\.txt$")
# Files operating systems leave behind; harmless, but not scholarly content.
SYSTEM_FILE_NAMES = {".ds_store", "thumbs.db", "ehthumbs.db", "desktop.ini", ".apdisk", "icon\r"}
SYSTEM_DIR_NAMES = {"__macosx", ".spotlight-v100", ".trashes", ".fseventsd", ".temporaryitems"}
REBAG = "regenerate the bag with bagit.py (`bagit.py --sha512 <folder>`) or bagger, and package it again"


@dataclass(frozen=True)
class PayloadFile:
    """One file under data/, with the digests its manifests give for it."""

    path: str  # relative to the bag root, '/'-separated, NFC, e.g. "data/article1/article.xml"
    size: int
    digests: dict[str, str]  # algorithm -> lower-case hex, from the manifests


@dataclass
class BagReport:
    """Everything validate_bag found: problems (errors and warnings) and what the bag holds."""

    problems: list[Problem]
    info: dict[str, list[str]]  # bag-info tags; every tag may repeat
    payload: list[PayloadFile]
    version: str | None
    algorithms: list[str]  # of the payload manifests
    encoding: str = "utf-8"
    fetch: list[str] = field(default_factory=list)  # paths fetch.txt names

    @property
    def ok(self) -> bool:
        return not errors(self.problems)


@dataclass(frozen=True)
class _Entry:
    raw: str  # the path as the manifest spells it (decoded)
    digest: str
    manifest: str


def _nfc(path: str) -> str:
    return unicodedata.normalize("NFC", path)


def is_system_file(path: str) -> bool:
    """True for .DS_Store, Thumbs.db, AppleDouble "._x" files and the like."""
    parts = [p.casefold() for p in path.split("/")]
    return (
        parts[-1] in SYSTEM_FILE_NAMES or parts[-1].startswith("._") or any(p in SYSTEM_DIR_NAMES for p in parts[:-1])
    )


def _out_of_scope(path: str) -> str | None:
    """Why a path named in a manifest or fetch.txt would point outside the bag, or None."""
    if path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path):
        return "it is an absolute path"
    if path.startswith("~"):
        return "it starts with '~', a home folder"
    if "\\" in path:
        return "it contains a backslash, a folder separator on Windows"
    if ".." in path.split("/"):
        return "it contains '..'"
    return None


def _decode_path(path: str, version: tuple[int, int]) -> str:
    """Undo the percent-encoding BagIt allows in manifest paths (CR, LF; '%' itself from 1.0)."""
    codes = {"%0a": "\n", "%0d": "\r"}
    if version >= (1, 0):
        codes["%25"] = "%"
    return re.sub(r"%(0[AaDd]|25)", lambda m: codes.get(m.group(0).lower(), m.group(0)), path)


def _read_text(path: Path, encoding: str, rel: str, problems: list[Problem]) -> str | None:
    """A tag file decoded with the bag's declared encoding; a BOM in UTF-8 is only a warning."""
    raw = path.read_bytes()
    if encoding.replace("_", "-").lower() in ("utf-8", "utf8") and raw.startswith(codecs.BOM_UTF8):
        problems.append(
            Problem(
                rel,
                "utf8-bom",
                "the file starts with a UTF-8 byte-order mark, which BagIt does not use.",
                "save tag files as UTF-8 without BOM",
                "warning",
            )
        )
        raw = raw[3:]
    try:
        return raw.decode(encoding)
    except (UnicodeDecodeError, LookupError) as e:
        problems.append(
            Problem(
                rel,
                "tag-file-encoding",
                f"the file cannot be read as {encoding}: {e}.",
                "save the tag files in the encoding bagit.txt declares (UTF-8 is best)",
            )
        )
        return None


def _lines(text: str) -> list[str]:
    return LINE_BREAK.split(text)


# ---------------------------------------------------------------- bagit.txt and bag-info.txt


def _check_bagit_txt(root: Path, problems: list[Problem]) -> tuple[str | None, tuple[int, int], str]:
    """Version (as written and as a tuple) and tag-file encoding from bagit.txt, held to the RFC's exact form."""
    path = root / "bagit.txt"
    if not path.is_file():
        problems.append(Problem("bagit.txt", "missing-bagit-txt", "the bag has no bagit.txt at its top.", REBAG))
        return None, (1, 0), "utf-8"
    raw = path.read_bytes()
    if raw.startswith(codecs.BOM_UTF8):
        problems.append(
            Problem(
                "bagit.txt",
                "bagit-txt-bom",
                "bagit.txt starts with a byte-order mark, which BagIt forbids.",
                "save bagit.txt as UTF-8 without BOM (or let bagit.py write it)",
            )
        )
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(Problem("bagit.txt", "bagit-txt-encoding", "bagit.txt is not UTF-8.", REBAG))
        text = raw.decode("latin-1")
    tags: dict[str, str] = {}
    for line in _lines(text):
        if not line:
            continue
        exact = re.fullmatch(r"([A-Za-z0-9-]+): (\S(?:.*\S)?)", line)
        loose = exact or re.fullmatch(r"\s*([^:\s]+)\s*:\s*(.*?)\s*", line)
        if not loose:
            problems.append(Problem("bagit.txt", "bagit-txt-syntax", f"the line {line!r} is not 'Name: value'.", REBAG))
            continue
        if not exact:
            problems.append(
                Problem(
                    "bagit.txt",
                    "bagit-txt-whitespace",
                    f"the line {line!r} has extra whitespace; bagit.txt must read exactly 'Name: value'.",
                    "write each line as 'BagIt-Version: 1.0' — no space before the colon, one after, none at the end",
                )
            )
        tags[loose.group(1)] = loose.group(2)
    for required in ("BagIt-Version", "Tag-File-Character-Encoding"):
        if required not in tags:
            problems.append(
                Problem(
                    "bagit.txt",
                    "bagit-txt-missing-tag",
                    f"bagit.txt has no {required} line.",
                    "bagit.txt must hold exactly 'BagIt-Version: 1.0' and 'Tag-File-Character-Encoding: UTF-8'",
                )
            )
    version_text = tags.get("BagIt-Version")
    version = (1, 0)
    if version_text is not None:
        if not re.fullmatch(r"\d+\.\d+", version_text):
            problems.append(
                Problem(
                    "bagit.txt",
                    "invalid-version",
                    f"BagIt-Version {version_text!r} is not a MAJOR.MINOR number.",
                    "write 'BagIt-Version: 1.0'",
                )
            )
        else:
            major, minor = version_text.split(".")
            version = (int(major), int(minor))
            if not (0, 93) <= version < (2, 0):
                problems.append(
                    Problem(
                        "bagit.txt",
                        "unsupported-version",
                        f"BagIt-Version {version_text} is not one this archive reads.",
                        "make the bag as BagIt 1.0 (bagit.py does)",
                    )
                )
    encoding = tags.get("Tag-File-Character-Encoding", "utf-8")
    try:
        codecs.lookup(encoding)
    except LookupError:
        problems.append(
            Problem(
                "bagit.txt",
                "unknown-encoding",
                f"Tag-File-Character-Encoding {encoding!r} is not a known encoding.",
                "write 'Tag-File-Character-Encoding: UTF-8' and save the tag files as UTF-8",
            )
        )
        encoding = "utf-8"
    return version_text, version, encoding


def _parse_tags(text: str, rel: str, problems: list[Problem]) -> dict[str, list[str]]:
    """Tag-file lines 'Name: value', with folded continuation lines; every tag may repeat."""
    tags: dict[str, list[str]] = {}
    current: tuple[str, int] | None = None
    for line in _lines(text):
        if not line.strip():
            continue
        if line[0] in " \t" and current:
            name, i = current
            tags[name][i] = f"{tags[name][i]} {line.strip()}".strip()
            continue
        if ":" not in line:
            problems.append(
                Problem(
                    rel,
                    "tag-syntax",
                    f"the line {line.strip()!r} is not 'Name: value'.",
                    "write one tag per line as 'Name: value'; continue long values on lines starting with a space",
                )
            )
            current = None
            continue
        name, value = line.split(":", 1)
        values = tags.setdefault(name.strip(), [])
        values.append(value.strip())
        current = (name.strip(), len(values) - 1)
    return tags


# ---------------------------------------------------------------- manifests and fetch.txt


def _parse_manifest(
    root: Path, rel: str, alg: str, version: tuple[int, int], encoding: str, payload: bool, problems: list[Problem]
) -> dict[str, _Entry]:
    """A manifest's entries keyed by NFC path, with a problem for every line that breaks a rule."""
    entries: dict[str, _Entry] = {}
    text = _read_text(root / rel, encoding, rel, problems)
    if text is None:
        return entries
    hex_len = hashlib.new(alg).digest_size * 2
    starred = dotted = 0
    for number, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        m = re.fullmatch(r"(\S+)[ \t]+(.*?)\s*", line)
        if not m or not m.group(2):
            problems.append(
                Problem(rel, "manifest-syntax", f"line {number} ({line!r}) is not '<checksum> <path>'.", REBAG)
            )
            continue
        digest, path = m.group(1).lower(), m.group(2)
        if path.startswith("*"):  # md5sum's "binary mode" marker
            starred += 1
            path = path[1:]
        while path.startswith("./"):
            dotted += 1
            path = path[2:]
        path = _decode_path(path, version)
        if why := _out_of_scope(path):
            problems.append(
                Problem(
                    path,
                    "path-out-of-scope",
                    f"{rel} line {number} names a path outside the bag: {why}.",
                    "list only files inside the bag, relative to its top, e.g. data/article.xml",
                )
            )
            continue
        if payload and not path.startswith("data/"):
            problems.append(
                Problem(
                    path,
                    "manifest-path-outside-payload",
                    f"{rel} lists a file that is not under data/.",
                    "payload manifests list only files under data/; tag files go in tagmanifest-*.txt",
                )
            )
            continue
        if not re.fullmatch(rf"[0-9a-f]{{{hex_len}}}", digest):
            problems.append(
                Problem(path, "malformed-digest", f"{rel} line {number}: {digest!r} is not a {alg} checksum.", REBAG)
            )
            continue
        key = _nfc(path)
        before = entries.get(key)
        if before is None:
            entries[key] = _Entry(path, digest, rel)
        elif before.digest != digest:
            problems.append(
                Problem(
                    path,
                    "conflicting-manifest-entries",
                    f"{rel} lists this file twice with different checksums ({before.digest} and {digest}).",
                    REBAG,
                )
            )
        elif before.raw != path:
            problems.append(
                Problem(
                    path,
                    "normalization-duplicate",
                    f"{rel} lists this file twice, in two Unicode normalisation forms, with the same checksum.",
                    "list each file once (use NFC-normalised names)",
                    "warning",
                )
            )
        else:
            late = version >= (1, 0)
            problems.append(
                Problem(
                    path,
                    "duplicate-manifest-entry",
                    f"{rel} lists this file twice (same checksum).",
                    "list each file once" + ("; BagIt 1.0 forbids repeats" if late else ""),
                    "error" if late else "warning",
                )
            )
    if starred:
        problems.append(
            Problem(
                rel,
                "md5sum-style-manifest",
                f"{starred} line(s) mark the path with '*', as md5sum/sha*sum do; BagIt manifests do not.",
                "make manifests with bagit.py rather than md5sum/shasum",
                "warning",
            )
        )
    if dotted:
        problems.append(
            Problem(
                rel,
                "relative-path",
                f"{dotted} path(s) start with './'; BagIt paths start at the bag's top.",
                "write paths as data/…, without './'",
                "warning",
            )
        )
    return entries


def _parse_fetch(root: Path, encoding: str, version: tuple[int, int], problems: list[Problem]) -> list[str]:
    """The paths fetch.txt names (safe ones only), with a problem for every bad line."""
    text = _read_text(root / "fetch.txt", encoding, "fetch.txt", problems)
    paths: list[str] = []
    for number, line in enumerate(_lines(text or ""), start=1):
        if not line.strip():
            continue
        parts = line.strip().split(None, 2)
        if len(parts) != 3 or not (parts[1] == "-" or parts[1].isdigit()):
            problems.append(
                Problem(
                    "fetch.txt",
                    "fetch-syntax",
                    f"line {number} ({line!r}) is not '<url> <length or -> <path>'.",
                    "better: leave fetch.txt out and put the files in the bag",
                )
            )
            continue
        url, _length, path = parts
        path = _decode_path(path, version)
        parsed = urlparse(url)
        if not ((parsed.scheme and parsed.netloc) or parsed.scheme == "file"):
            problems.append(
                Problem(
                    path,
                    "fetch-url",
                    f"fetch.txt line {number}: {url!r} is not a URL.",
                    "put the file in the bag and drop fetch.txt",
                )
            )
        if why := _out_of_scope(path):
            problems.append(
                Problem(
                    path,
                    "path-out-of-scope",
                    f"fetch.txt line {number} names a path outside the bag: {why}.",
                    "list only files under data/, and better, put them in the bag and drop fetch.txt",
                )
            )
            continue
        if not path.startswith("data/"):
            problems.append(
                Problem(
                    path,
                    "fetch-path-outside-payload",
                    f"fetch.txt line {number} names a file outside data/.",
                    "fetch.txt may only name payload files; put the file in the bag",
                )
            )
            continue
        paths.append(_nfc(path))
    return paths


# ---------------------------------------------------------------- the whole bag


def _walk(root: Path, problems: list[Problem]) -> dict[str, tuple[str, int]]:
    """Every regular file in the bag: NFC relative path -> (path as on disk, size). Links are refused."""
    found: dict[str, tuple[str, int]] = {}
    folded: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        for name in sorted(dirnames + filenames):
            full = Path(dirpath, name)
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if controls := control_characters(name):
                problems.append(control_character_problem(rel, controls))
            if full.is_symlink():
                problems.append(
                    Problem(
                        rel, "symlink", "the bag contains a symbolic link.", "replace the link with the file itself"
                    )
                )
            elif name in filenames and not full.is_file():
                problems.append(
                    Problem(rel, "special-file", "the bag contains something that is not a file.", "remove it")
                )
            elif name in filenames:
                key = _nfc(rel)
                if key in found:
                    problems.append(
                        Problem(
                            rel,
                            "normalization-collision",
                            f"{rel!r} and {found[key][0]!r} are the same name in different Unicode forms.",
                            "keep one of them, with an NFC-normalised name",
                        )
                    )
                    continue
                found[key] = (rel, full.stat().st_size)
                other = folded.setdefault(key.casefold(), rel)
                if other != rel:
                    problems.append(
                        Problem(
                            rel,
                            "case-collision",
                            f"{rel!r} and {other!r} differ only in case; they cannot both exist on Windows or macOS.",
                            "rename one of them",
                            "warning",
                        )
                    )
        dirnames[:] = [d for d in dirnames if not Path(dirpath, d).is_symlink()]
    return found


def _hash(path: Path, algorithms: set[str]) -> dict[str, str]:
    """Digests of one file for several algorithms, reading it once, in chunks."""
    with open(path, "rb") as f:
        return HashingReader(f, algorithms).drain().hexdigests()


def validate_bag(bag_dir: Path) -> BagReport:
    """Check a bag against BagIt (RFC 8493 and the earlier drafts bagit reads) and list every problem.

    Never raises for a bad bag: the report's `ok` says whether it can be accepted.
    """
    root = Path(bag_dir)
    problems: list[Problem] = []
    version_text, version, encoding = _check_bagit_txt(root, problems)
    if not (root / "data").is_dir():
        problems.append(
            Problem(
                "data",
                "missing-payload-dir",
                "the bag has no data/ folder.",
                "put the content in a folder named data/ inside the bag (bagit.py does this)",
            )
        )

    info_name = "package-info.txt" if (0, 93) <= version <= (0, 95) else "bag-info.txt"
    info: dict[str, list[str]] = {}
    if (root / info_name).is_file():
        text = _read_text(root / info_name, encoding, info_name, problems)
        info = _parse_tags(text, info_name, problems) if text is not None else {}

    on_disk = _walk(root, problems)
    payload_on_disk = {k: v for k, v in on_disk.items() if k.startswith("data/")}

    manifests: dict[str, dict[str, _Entry]] = {}  # payload: alg -> entries
    tag_manifests: dict[str, dict[str, _Entry]] = {}
    for child in sorted(root.iterdir()):
        m = MANIFEST_NAME.match(child.name)
        if not m or not child.is_file():
            continue
        alg = m.group(2).lower()
        if alg not in ALGORITHMS:
            problems.append(
                Problem(
                    child.name,
                    "unknown-algorithm",
                    f"{child.name} uses an algorithm this archive cannot check.",
                    f"use one of {', '.join(a for a in ALGORITHMS if a.startswith('sha'))}; sha512 is best",
                )
            )
            continue
        target = tag_manifests if m.group(1) else manifests
        target[alg] = _parse_manifest(root, child.name, alg, version, encoding, not m.group(1), problems)
    if not manifests:
        problems.append(
            Problem(BAG, "missing-manifest", "the bag has no payload manifest (manifest-<algorithm>.txt).", REBAG)
        )

    fetch = _parse_fetch(root, encoding, version, problems) if (root / "fetch.txt").is_file() else []
    fetch_set = set(fetch)

    # What each file on disk should hash to, per algorithm: (expected, listed as, manifest).
    expected: dict[str, dict[str, list[tuple[str, str, str]]]] = {}
    explained_missing = 0  # listed files whose absence is only a warning
    listed = {key for entries in manifests.values() for key in entries}
    folded_disk = {key.casefold(): key for key in payload_on_disk}
    for key in sorted(listed):
        entry = next(e[key] for e in manifests.values() if key in e)
        if key in payload_on_disk:
            disk_key = key
        elif key in fetch_set:
            continue  # reported below as incomplete-fetch
        elif key.casefold() in folded_disk:
            disk_key = folded_disk[key.casefold()]
            problems.append(
                Problem(
                    entry.raw,
                    "case-duplicate",
                    f"the manifest lists this file, but the bag holds it as {disk_key!r} (differing only in case).",
                    "list each file once, spelt exactly as it is named",
                    "warning",
                )
            )
        elif is_system_file(key):
            explained_missing += 1
            problems.append(
                Problem(
                    entry.raw,
                    "system-file",
                    "a system file (.DS_Store, Thumbs.db …) is listed in the manifest but not in the bag; tools often drop these.",
                    "delete system files before making the bag",
                    "warning",
                )
            )
            continue
        else:
            problems.append(
                Problem(
                    entry.raw,
                    "missing-file",
                    "the manifest lists this file but it is not in the bag.",
                    "add the file to data/, or regenerate the manifests if it was removed on purpose",
                )
            )
            continue
        for alg, entries in manifests.items():
            if key in entries:
                expected.setdefault(disk_key, {}).setdefault(alg, []).append(
                    (entries[key].digest, entries[key].raw, entries[key].manifest)
                )
    for key, (rel, _size) in sorted(payload_on_disk.items()):
        missing_from = [f"manifest-{alg}.txt" for alg, entries in manifests.items() if key not in entries]
        if is_system_file(key):
            problems.append(
                Problem(
                    rel,
                    "system-file",
                    "the payload holds a system file (.DS_Store, Thumbs.db …), not content.",
                    "delete system files before making the bag",
                    "warning",
                )
            )
        if key in listed and missing_from:
            problems.append(
                Problem(
                    rel,
                    "not-in-every-manifest",
                    f"the file is missing from {', '.join(missing_from)}.",
                    "every payload manifest must list every payload file; " + REBAG,
                )
            )
        elif key not in listed and manifests:
            problems.append(
                Problem(
                    rel,
                    "unlisted-file",
                    "the file is in data/ but no manifest lists it.",
                    "remove the file or regenerate the manifests so they list it",
                )
            )
    for alg, entries in tag_manifests.items():
        for key, entry in entries.items():
            if key not in on_disk:
                problems.append(
                    Problem(
                        entry.raw,
                        "missing-tag-file",
                        f"tagmanifest-{alg}.txt lists this file but it is not in the bag.",
                        "add the tag file, or regenerate the tag manifests",
                    )
                )
            else:
                expected.setdefault(key, {}).setdefault(alg, []).append((entry.digest, entry.raw, entry.manifest))

    for key in sorted(expected):
        rel = on_disk[key][0]
        actual = _hash(root / rel, set(expected[key]))
        for alg, wants in expected[key].items():
            for digest, listed_as, manifest in wants:
                if digest != actual[alg]:
                    problems.append(
                        Problem(
                            listed_as,
                            "checksum-mismatch",
                            f"{manifest} says {digest}, but the file's {alg} is {actual[alg]}: the file is damaged or was changed.",
                            "send the correct file, or regenerate the manifests if the change was intended",
                        )
                    )

    fetch_missing = [p for p in fetch if p not in payload_on_disk]
    for path in fetch_missing:
        problems.append(
            Problem(
                path,
                "incomplete-fetch",
                "fetch.txt names this file but it is not in the bag; the archive keeps only what it is given and does not fetch.",
                "include the file in the bag's data/ folder (and drop its line from fetch.txt)",
            )
        )
    if fetch and not fetch_missing:
        problems.append(
            Problem(
                "fetch.txt",
                "fetch-ignored",
                "every file fetch.txt names is already in the bag; fetch.txt is ignored.",
                "leave fetch.txt out of complete bags",
                "warning",
            )
        )
    unknown = [p for p in fetch if p not in listed]
    for path in unknown:
        problems.append(
            Problem(path, "fetch-not-in-manifest", "fetch.txt names a file no payload manifest lists.", REBAG)
        )

    _check_oxum(info, payload_on_disk, explained_missing + len(fetch_missing), problems)
    if version_text is not None:
        _ask_bagit(root, problems)

    payload = [
        PayloadFile(key, size, {alg: entries[key].digest for alg, entries in manifests.items() if key in entries})
        for key, (_rel, size) in sorted(payload_on_disk.items())
    ]
    return BagReport(problems, info, payload, version_text, sorted(manifests), encoding, fetch)


def _check_oxum(
    info: dict[str, list[str]], payload: dict[str, tuple[str, int]], explained: int, problems: list[Problem]
) -> None:
    """Payload-Oxum ("bytes.files") against the payload on disk."""
    values = info.get("Payload-Oxum", [])
    if len(values) > 1:
        problems.append(
            Problem("bag-info.txt", "repeated-tag", "Payload-Oxum is given more than once.", "give Payload-Oxum once")
        )
    if not values:
        return
    m = re.fullmatch(r"(\d+)\.(\d+)", values[0])
    if not m:
        problems.append(
            Problem("bag-info.txt", "payload-oxum", f"Payload-Oxum {values[0]!r} is not '<bytes>.<files>'.", REBAG)
        )
        return
    want_bytes, want_files = int(m.group(1)), int(m.group(2))
    have_bytes, have_files = sum(size for _rel, size in payload.values()), len(payload)
    if (want_bytes, want_files) == (have_bytes, have_files):
        return
    message = (
        f"Payload-Oxum says {want_files} files and {want_bytes} bytes; data/ holds "
        f"{have_files} files and {have_bytes} bytes."
    )
    if explained and want_files - have_files == explained and want_bytes >= have_bytes:
        problems.append(
            Problem(
                "bag-info.txt",
                "payload-oxum",
                message + " The difference is the files reported missing above.",
                "see the missing files",
                "warning",
            )
        )
    else:
        problems.append(
            Problem(
                "bag-info.txt", "payload-oxum", message + " Files were added, removed or changed after bagging.", REBAG
            )
        )


# bagit's messages -> our rule ids, so its verdict can be matched with what we found.
_BAGIT_RULES = (
    ("does not exist: ", "missing-bagit-txt"),
    ("byte-order mark", "bagit-txt-bom"),
    ("Missing required tag", "bagit-txt-missing-tag"),
    ("MAJOR.MINOR", "invalid-version"),
    ("Unsupported bag version", "unsupported-version"),
    ("Unsupported encoding", "unknown-encoding"),
    ("is unsafe", "path-out-of-scope"),
    ("with conflicting values", "conflicting-manifest-entries"),
    ("with the same value", "duplicate-manifest-entry"),
    ("Payload-Oxum", "payload-oxum"),
    ("Expected data directory", "missing-payload-dir"),
    ("No manifest files", "missing-manifest"),
    ("contains invalid tag", "tag-syntax"),
    ("Malformed URL", "fetch-url"),
)


def _ask_bagit(root: Path, problems: list[Problem]) -> None:
    """bagit's own verdict (structure, fetch.txt, Payload-Oxum, completeness; no hashing, done above).

    Whatever bagit refuses that is not already explained by a problem found here (same
    rule, or same file) is added as an error, so this module is never laxer than bagit.
    """
    if any(p.rule == "control-character" for p in problems):
        return  # bagit splits manifest lines at U+0085 and U+2028: it would name files the bag does not hold
    try:
        bagit.Bag(str(root)).validate(completeness_only=True)
        return
    except Exception as e:  # noqa: BLE001 - bagit raises BagError, but also ValueError on odd lines
        failure = e
    rules = {p.rule for p in problems}
    paths = {_nfc(p.path.replace(os.sep, "/")) for p in problems}
    details = getattr(failure, "details", None) or []
    for detail in details:
        path = _nfc(str(getattr(detail, "path", "")).replace(os.sep, "/"))
        if path not in paths:
            rule = {"FileMissing": "missing-file", "UnexpectedFile": "unlisted-file"}.get(
                type(detail).__name__, "checksum-mismatch"
            )
            problems.append(Problem(path, rule, f"bagit: {detail}.", REBAG))
    if details:
        return
    message = str(failure)
    known = next((r for text, r in _BAGIT_RULES if text in message), None)
    if known in rules or (known is None and errors(problems)):
        return
    problems.append(Problem(BAG, known or "bagit-invalid", f"bagit refuses the bag: {message}.", REBAG))


# ---------------------------------------------------------------- the archive's profile


@lru_cache(maxsize=1)
def profile() -> dict:
    """The archive's BagIt profile (bagit_profile.json): the one statement of its tag rules."""
    return json.loads(resources.files("strongroom.domain").joinpath("bagit_profile.json").read_text("utf-8"))


def issn_ok(value: str) -> bool:
    """True for an ISSN with a correct check digit (ISO 3297: weights 8..2, modulus 11, 10 is X)."""
    m = re.fullmatch(r"(\d{4})-?(\d{3})([\dXx])", value.strip())
    if not m:
        return False
    digits = m.group(1) + m.group(2)
    total = sum(int(d) * w for d, w in zip(digits, range(8, 1, -1)))
    check = (11 - total % 11) % 11
    return m.group(3).upper() == ("X" if check == 10 else str(check))


def _iso8601_ok(value: str) -> bool:
    for parse in (date.fromisoformat, datetime.fromisoformat):
        try:
            parse(value.strip().replace("Z", "+00:00"))
            return True
        except ValueError:
            pass
    return False


def _tag_check(check: dict, tag: str, value: str, report: BagReport, au: AuId) -> Problem | None:
    """One value against the profile's "strongroom" check for its tag."""
    kind = check["check"]
    if kind == "au":
        want = getattr(au, check["field"])
        if value.strip() != want:
            return Problem(
                "bag-info.txt",
                "au-mismatch",
                f"{tag} is {value!r} but the package was put under {au} (its {check['field']} is {want!r}).",
                f"put the package under the right incoming/<publisher>/<title>/<au>/ folder, or correct {tag}",
            )
    elif kind == "iso8601":
        if not _iso8601_ok(value):
            return Problem(
                "bag-info.txt", "bad-date", f"{tag} {value!r} is not an ISO 8601 date.", f"write {tag} as YYYY-MM-DD"
            )
    elif kind == "issn":
        if not issn_ok(value):
            return Problem(
                "bag-info.txt",
                "bad-issn",
                f"{tag} {value!r} is not a valid ISSN (format NNNN-NNNC, C the check digit).",
                f"correct {tag}; the ISSN portal (portal.issn.org) shows the right one",
            )
    elif kind == "payload-oxum":
        if any(p.rule == "payload-oxum" for p in report.problems):
            return None  # validate_bag has already said so
        files, size = len(report.payload), sum(f.size for f in report.payload)
        if value.strip() != f"{size}.{files}":
            return Problem(
                "bag-info.txt", "payload-oxum", f"Payload-Oxum is {value!r}; the payload is {size}.{files}.", REBAG
            )
    else:
        raise ValueError(f"bagit_profile.json names an unknown check {kind!r} for {tag}")
    return None


def check_profile(report: BagReport, au: AuId) -> list[Problem]:
    """The archive's own rules on top of BagIt, read from bagit_profile.json where the profile can say them."""
    prof = profile()
    found: list[Problem] = []
    for tag, rule in prof["Bag-Info"].items():
        values = report.info.get(tag, [])
        if rule.get("required") and not any(v.strip() for v in values):
            found.append(
                Problem(
                    "bag-info.txt",
                    "missing-tag",
                    f"bag-info.txt has no {tag}. {rule.get('description', '')}".strip(),
                    f"add a '{tag}: …' line to bag-info.txt (bagit.py --{tag.lower()} …)",
                )
            )
        if len(values) > 1 and rule.get("repeatable") is False:
            found.append(
                Problem("bag-info.txt", "repeated-tag", f"{tag} is given {len(values)} times.", f"give {tag} once")
            )
        allowed = rule.get("values")
        for value in values:
            if allowed and value not in allowed:
                found.append(
                    Problem(
                        "bag-info.txt",
                        "tag-value",
                        f"{tag} {value!r} is not one of {allowed}.",
                        f"set {tag} to one of {allowed}",
                    )
                )
            if "strongroom" in rule and (problem := _tag_check(rule["strongroom"], tag, value, report, au)):
                found.append(problem)
    required_any = prof["Strongroom-Manifests-Required-Any"]
    if not set(report.algorithms) & set(required_any):
        have = ", ".join(report.algorithms) or "none"
        found.append(
            Problem(
                BAG,
                "weak-digest",
                f"the bag's payload manifests use {have}; the archive needs {' or '.join(required_any)}.",
                "regenerate the manifests with a strong digest: `bagit.py --processes 4 --sha512 <bag folder>`",
            )
        )
    allowed_algs = set(prof.get("Manifests-Allowed", ALGORITHMS))
    for alg in report.algorithms:
        if alg not in allowed_algs:
            found.append(
                Problem(
                    f"manifest-{alg}.txt",
                    "digest-not-allowed",
                    f"{alg} manifests are not accepted.",
                    f"use one of {sorted(allowed_algs)}",
                )
            )
    if report.version and report.version not in prof["Accept-BagIt-Version"]:
        found.append(
            Problem(
                "bagit.txt",
                "bagit-version-not-accepted",
                f"BagIt-Version {report.version} is not accepted.",
                f"make the bag as BagIt {prof['Accept-BagIt-Version'][-1]} (current bagit.py does)",
            )
        )
    if report.fetch and not prof.get("Allow-Fetch.txt", True):
        found.append(
            Problem("fetch.txt", "fetch-not-allowed", "the profile does not allow fetch.txt.", "leave fetch.txt out")
        )
    return found
