"""What kind of file is this? Format identification and WARC summaries for package payloads.

The archive records a format for every file it keeps (so a future reader knows what the
bytes are) and needs to know which files are JATS and which are web archives. Only the
first few KB of a file are read to identify it; WARCs are streamed record by record.

The formats the archive cares about (JATS, PDF, images, WARC) are recognised by their own
signatures first, because they must be exact (puremagic, for instance, also offers ".fdf"
for every PDF); puremagic names everything else.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import puremagic
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from strongroom.domain.errors import StrongroomError
from strongroom.domain.problems import Problem

HEAD_BYTES = 8192


@dataclass(frozen=True)
class FileFormat:
    """A file's media type, a human name for the format and the extension it would usually have."""

    mime: str
    name: str
    extension: str | None = None

    def as_dict(self) -> dict:
        return {"mime": self.mime, "name": self.name, "extension": self.extension}


OCTET_STREAM = FileFormat("application/octet-stream", "Unknown binary data", None)

# Exact signatures at offset 0, checked before puremagic.
_SIGNATURES: tuple[tuple[bytes, FileFormat], ...] = (
    (b"\x89PNG\r\n\x1a\n", FileFormat("image/png", "Portable Network Graphics", ".png")),
    (b"\xff\xd8\xff", FileFormat("image/jpeg", "JPEG image", ".jpg")),
    (b"GIF87a", FileFormat("image/gif", "Graphics Interchange Format", ".gif")),
    (b"GIF89a", FileFormat("image/gif", "Graphics Interchange Format", ".gif")),
    (b"II*\x00", FileFormat("image/tiff", "Tagged Image File Format", ".tif")),
    (b"MM\x00*", FileFormat("image/tiff", "Tagged Image File Format", ".tif")),
    (b"WARC/", FileFormat("application/warc", "Web ARChive (WARC)", ".warc")),
)
PDF = FileFormat("application/pdf", "Portable Document Format", ".pdf")
WARC_GZ = FileFormat("application/warc", "Web ARChive (WARC), gzip-compressed records", ".warc.gz")
GZIP = FileFormat("application/gzip", "gzip-compressed data", ".gz")
JATS = FileFormat("application/jats+xml", "JATS XML article", ".xml")
XML = FileFormat("application/xml", "XML document", ".xml")
HTML = FileFormat("text/html", "HTML document", ".html")
TEXT = FileFormat("text/plain", "Plain text", ".txt")

# Skips the XML declaration, comments, PIs and the DOCTYPE (with an internal subset) to the root's name.
_PROLOG = re.compile(
    rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE(?:[^\[>]|\[.*?\])*>|\s)*<([A-Za-z_][\w.:-]*)",
    re.DOTALL | re.IGNORECASE,
)


def identify(path: Path) -> FileFormat:
    """Identify a file from its first few KB (and its name only where the bytes cannot say)."""
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    return identify_head(head, path.name)


def identify_head(head: bytes, filename: str = "") -> FileFormat:
    """The same as identify, for bytes already in hand (the start of a stream)."""
    if not head:
        return FileFormat("application/octet-stream", "Empty file", None)
    for signature, fmt in _SIGNATURES:
        if head.startswith(signature):
            return fmt
    # PDF readers accept the header anywhere in the first 1024 bytes.
    if b"%PDF-" in head[:1024]:
        return PDF
    if head.startswith(b"\x1f\x8b"):
        return WARC_GZ if _gunzip_head(head).startswith(b"WARC/") else GZIP
    markup = _markup(head)
    if markup is not None:
        return markup
    guessed = _puremagic(head, filename)
    if guessed is not None:
        return guessed
    if _looks_like_text(head):
        return TEXT
    return OCTET_STREAM


def _gunzip_head(head: bytes) -> bytes:
    try:
        return zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(head, 64)
    except zlib.error:
        return b""


def _markup(head: bytes) -> FileFormat | None:
    """XML (JATS when the root is <article>) or HTML, judged from the prolog and the root element."""
    text = head.lstrip(b"\xef\xbb\xbf")
    if text.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16: re-encode the head so the regex can see it
        try:
            text = head.decode("utf-16", errors="ignore").encode("utf-8")
        except UnicodeError:
            return None
    stripped = text.lstrip()
    if not stripped.startswith(b"<"):
        return None
    lowered = stripped[:512].lower()
    if lowered.startswith(b"<!doctype html") or lowered.startswith(b"<html"):
        return HTML
    match = _PROLOG.match(text)
    if not match:
        return XML if stripped.startswith(b"<?xml") else None
    root = match.group(1).decode("ascii", "replace").split(":")[-1]
    if root == "article":
        return JATS
    if root.lower() == "html":
        return HTML
    return XML


def _puremagic(head: bytes, filename: str) -> FileFormat | None:
    try:
        matches = puremagic.magic_string(head, filename=filename or None)
    except (puremagic.PureError, ValueError):
        return None
    # A match on the file name alone (no bytes matched) is a guess about the name, not the content.
    matches = [m for m in matches if m.byte_match]
    if not matches:
        return None
    best = max(matches, key=lambda m: m.confidence)
    if not best.mime_type:
        return FileFormat("application/octet-stream", best.name or "Unknown binary data", best.extension or None)
    return FileFormat(best.mime_type, best.name, best.extension or None)


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        # A multi-byte character cut off by the end of the head is still text.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"


# ---- WARC ----


@dataclass(frozen=True)
class WarcSummary:
    """What a WARC holds: records by WARC-Type and how many distinct URLs have a response."""

    records: int
    by_type: dict[str, int] = field(default_factory=dict)
    response_urls: int = 0

    def as_dict(self) -> dict:
        return {"records": self.records, "by_type": dict(self.by_type), "response_urls": self.response_urls}


class WarcError(StrongroomError, ValueError):
    """A WARC that cannot be read to its end; ``problem`` says where and what to do."""

    def __init__(self, problem: Problem, records_read: int = 0):
        self.problem = problem
        self.records_read = records_read
        super().__init__(str(problem))


def count_warc_records(path: Path, *, display_path: str | None = None) -> WarcSummary:
    """Stream every record (checking WARC digests where present); raise WarcError if it is not readable to the end."""
    path = Path(path)
    where = display_path or path.name
    by_type: Counter[str] = Counter()
    urls: set[str] = set()
    count = 0
    fix = "re-create the WARC with a WARC 1.0/1.1 writer (e.g. warcio) and send it again"
    try:
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh, check_digests=True):
                if not (record.format or "").startswith("warc"):
                    raise WarcError(
                        Problem(
                            where,
                            "warc-not-warc",
                            f"record {count + 1} is not a WARC record (read as {record.format or 'unknown'}); "
                            "the file is an old ARC file or not a web archive.",
                            fix,
                        ),
                        count,
                    )
                stream = record.raw_stream
                while stream.read(1 << 16):
                    pass
                if getattr(stream, "limit", 0) > 0:  # the block ended before its Content-Length
                    raise WarcError(
                        Problem(
                            where,
                            "warc-truncated",
                            f"record {count + 1} ({record.rec_type}) is cut short: {stream.limit} of its "
                            f"{record.length} bytes are missing.",
                            fix,
                        ),
                        count,
                    )
                checker = getattr(record, "digest_checker", None)
                if checker is not None and checker.problems:
                    raise WarcError(
                        Problem(
                            where,
                            "warc-digest",
                            f"record {count + 1} ({record.rec_type} {record.rec_headers.get_header('WARC-Target-URI') or ''}) "
                            f"fails its digest: {checker.problems[0]}.",
                            fix,
                        ),
                        count,
                    )
                count += 1
                by_type[record.rec_type or "unknown"] += 1
                if record.rec_type == "response":
                    uri = record.rec_headers.get_header("WARC-Target-URI")
                    if uri:
                        urls.add(uri)
    except WarcError:
        raise
    except (ArchiveLoadFailed, zlib.error, EOFError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise WarcError(
            Problem(
                where,
                "warc-unreadable",
                f"the WARC cannot be read after {count} record(s): {exc}".rstrip(".") + ".",
                fix,
            ),
            count,
        ) from exc
    if count == 0:
        raise WarcError(Problem(where, "warc-empty", "the file holds no WARC records.", fix), 0)
    return WarcSummary(count, dict(sorted(by_type.items())), len(urls))
