"""One WARC 1.1 file per released title: what pywb replays and what goes into the WACZ.

The file holds, in order:

* a ``warcinfo`` record saying what this is (software, release, trigger, license);
* every record of every harvested WARC, byte for byte: gzip members are copied as they
  are, records of uncompressed WARCs are wrapped, unchanged, in a gzip member of their
  own. Payloads are never parsed and written again, so the harvest's digests stay true;
* every deposited file as a ``resource`` record at its archive URL (see urls.py), unless
  a harvest already holds a capture of that URL: then the harvest wins.

Why ``resource`` and not ``response`` records: a deposited file was never an HTTP exchange,
and a response record would need made-up status and headers. pywb replays resource
records as ``200`` with the record's Content-Type (warcio builds the HTTP headers when it
reads them), so nothing is lost by telling the truth.

Bytes stream from the node in chunks; each deposited file is hashed as it is copied and
the write fails if it does not match the inventory's sha256 (a stored checksum proves nothing).
"""

from __future__ import annotations

import base64
import io
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.timeutils import (
    datetime_to_iso_date,
    datetime_to_timestamp,
    iso_date_to_timestamp,
)
from warcio.warcwriter import WARCWriter

import strongroom
from strongroom.domain.errors import StrongroomError
from strongroom.domain.hashing import CHUNK, HashingReader, Readable, Writable
from strongroom.render.model import ReleasedAu, ReleasedFile, ReleasedTitle
from strongroom.render.urls import SitePlan, url_key
from strongroom.render.whole_files import written_whole

WARC_11 = "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/"
CAPTURED_TYPES = ("response", "resource", "revisit")


class FixityError(StrongroomError, IOError):
    """A file's bytes did not match its recorded digest while being copied: the node's copy is damaged."""


class VerifyingReader(HashingReader):
    """Reads a released file's stream through, hashing it; ``verify()`` at the end proves the bytes were its own."""

    def __init__(self, stream: Readable, f: ReleasedFile):
        super().__init__(stream, ("sha256",))
        self.file = f

    def verify(self) -> None:
        sha256 = self.hexdigest("sha256")
        if self.size != self.file.size or sha256 != self.file.sha256:
            raise FixityError(
                f"{self.file.path}: read {self.size} bytes with sha256 {sha256}, expected "
                f"{self.file.size} bytes with sha256 {self.file.sha256}. The copy being read is damaged: "
                "repair the node from an agreeing copy, then release again."
            )


@dataclass(frozen=True)
class Capture:
    """One replayable record: which URL, when (14-digit timestamp), what it is and where it came from."""

    url: str
    timestamp: str
    mime: str
    status: str | None
    source: str  # "harvest" or "deposit"


@dataclass
class HarvestScan:
    """Where each record of one harvested WARC is, found in a first pass over the stream."""

    file: ReleasedFile
    gzipped: bool
    spans: list[tuple[int, int]] = field(default_factory=list)  # (offset, length) per record
    captures: list[Capture] = field(default_factory=list)


@dataclass
class TitleWarc:
    """What was written for one title, and what the site and the WACZ need to link into it."""

    path: Path
    records: int = 0
    harvested_records: int = 0
    deposited_records: int = 0
    skipped_for_harvest: list[str] = field(default_factory=list)  # logical paths whose URL a harvest holds
    by_key: dict[str, Capture] = field(default_factory=dict)  # url_key -> the capture replay will show
    files: dict[tuple[str, str], Capture] = field(default_factory=dict)  # (au id, logical path) -> capture

    def capture_of(self, url: str | None) -> Capture | None:
        return self.by_key.get(url_key(url)) if url else None


def scan_harvest(f: ReleasedFile) -> HarvestScan:
    """First pass: record spans and captures of one harvested WARC, verifying its bytes on the way."""
    with f.open() as raw:
        reader = VerifyingReader(raw, f)
        it = ArchiveIterator(reader, arc2warc=False)
        scan = HarvestScan(f, gzipped=False)
        for record in it:
            scan.gzipped = it.reader.decompressor is not None
            offset = it.get_record_offset()
            scan.spans.append((offset, it.get_record_length()))
            if record.rec_type in CAPTURED_TYPES:
                url = record.rec_headers.get_header("WARC-Target-URI")
                date = record.rec_headers.get_header("WARC-Date")
                if url and date:
                    http = record.http_headers
                    mime = (
                        (http.get_header("Content-Type") if http else None)
                        or record.rec_headers.get_header("Content-Type")
                        or ""
                    )
                    status = http.get_statuscode() if http and record.rec_type != "resource" else None
                    scan.captures.append(
                        Capture(url, iso_date_to_timestamp(date), mime.split(";")[0].strip(), status, "harvest")
                    )
        reader.drain()
        reader.verify()
    return scan


def _copy_span(src: Readable, dst: Writable, length: int) -> None:
    while length > 0:
        chunk = src.read(min(CHUNK, length))
        if not chunk:
            raise OSError("the WARC ended inside a record it had when it was scanned")
        dst.write(chunk)
        length -= len(chunk)


def _copy_harvest(scan: HarvestScan, out: BinaryIO) -> None:
    """Second pass: copy each record's bytes in order; plain records get a gzip member of their own."""
    with scan.file.open() as raw:
        reader = VerifyingReader(raw, scan.file)
        position = 0
        for offset, length in scan.spans:
            _copy_span(reader, _Discard(), offset - position)
            if scan.gzipped:
                _copy_span(reader, out, length)
            else:
                member = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS + 16)
                sink = _Deflate(member, out)
                _copy_span(reader, sink, length)
                sink.write(b"\r\n\r\n")  # warcio's span of a plain record stops before its two closing CRLFs
                out.write(member.flush())
            position = offset + length
        reader.drain()
        reader.verify()


class _Discard:
    def write(self, data: bytes) -> None:
        pass


class _Deflate:
    def __init__(self, compressor, out: BinaryIO):
        self.compressor, self.out = compressor, out

    def write(self, data: bytes) -> None:
        self.out.write(self.compressor.compress(data))


def labelled_sha256(hex_digest: str) -> str:
    """A WARC digest label (algorithm:base32), the form warcio writes and checks."""
    return "sha256:" + base64.b32encode(bytes.fromhex(hex_digest)).decode("ascii")


def _record_id(*parts: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'strongroom:' + '|'.join(parts))}>"


def _fields(pairs: list[tuple[str, str]]) -> bytes:
    """application/warc-fields: one 'name: value' per line, values kept to one line."""
    return "".join(f"{k}: {' '.join(str(v).split())}\r\n" for k, v in pairs if v).encode("utf-8")


def deposit_time(title: ReleasedTitle, au: ReleasedAu) -> datetime:
    """When an AU's deposited files are said to be captured: its deposit, else the release day."""
    when = au.deposited or datetime.combine(title.release_date, time(0), tzinfo=UTC)
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def warcinfo_fields(title: ReleasedTitle, filename: str) -> list[tuple[str, str]]:
    return [
        ("software", f"strongroom/{getattr(strongroom, '__version__', '0')} (warcio)"),
        ("format", "WARC File Format 1.1"),
        ("conformsTo", WARC_11),
        ("isPartOf", f"{title.publisher_id}/{title.title_id}"),
        ("title", title.journal_title),
        ("publisher", title.publisher_name),
        ("issn", title.issn or ""),
        ("eissn", title.eissn or ""),
        (
            "description",
            f"Released copy of {title.journal_title} ({title.publisher_name}): "
            f"released on {title.release_date.isoformat()} because {title.trigger_text} "
            f"({title.trigger}, {title.trigger_date.isoformat()}).",
        ),
        ("license", title.license_url),
        ("rights", f"{title.license_name} ({title.license_id})"),
        ("release-date", title.release_date.isoformat()),
        ("trigger", title.trigger),
        ("trigger-date", title.trigger_date.isoformat()),
        ("archival-units", " ".join(f"{au.au_id}@{au.ocfl_version}" for au in title.aus)),
        ("filename", filename),
    ]


def write_title_warc(title: ReleasedTitle, plan: SitePlan, path: Path, *, now: datetime) -> TitleWarc:
    """Write the title's WARC at path (via a .partial file, so a crash never leaves half a WARC)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    result = TitleWarc(path)
    scans = [scan_harvest(f) for au in title.aus for f in au.files if f.is_warc]
    for scan in scans:
        for capture in scan.captures:
            key = url_key(capture.url)
            known = result.by_key.get(key)
            # Replay shows the newest capture; the site links the one it shows.
            if known is None or capture.timestamp > known.timestamp:
                result.by_key[key] = capture

    with written_whole(path) as partial:
        _write(title, plan, partial, path.name, scans, result, now)
    return result


def _write(
    title: ReleasedTitle,
    plan: SitePlan,
    partial: Path,
    filename: str,
    scans: list[HarvestScan],
    result: TitleWarc,
    now: datetime,
) -> None:
    with partial.open("wb") as out:
        writer = WARCWriter(out, gzip=True, warc_version="1.1")
        info = _fields(warcinfo_fields(title, filename))
        writer.write_record(
            writer.create_warc_record(
                "",
                "warcinfo",
                payload=io.BytesIO(info),
                length=len(info),
                warc_content_type="application/warc-fields",
                warc_headers_dict={
                    "WARC-Record-ID": _record_id(
                        "warcinfo", title.publisher_id, title.title_id, title.release_date.isoformat()
                    ),
                    "WARC-Date": datetime_to_iso_date(now.astimezone(UTC)),
                    "WARC-Filename": filename,
                },
            )
        )
        result.records += 1

        for scan in scans:
            _copy_harvest(scan, out)
            result.records += len(scan.spans)
            result.harvested_records += len(scan.spans)

        for au in title.aus:
            when = deposit_time(title, au)
            for f in au.files:
                if f.is_warc:
                    continue
                url = plan.file_url(au, f)
                harvested = result.by_key.get(url_key(url))
                if harvested is not None and harvested.source == "harvest":
                    result.skipped_for_harvest.append(f.path)
                    result.files[(au.au_id, f.path)] = harvested
                    continue
                _write_resource(writer, title, au, f, url, when)
                capture = Capture(url, datetime_to_timestamp(when), f.mime, None, "deposit")
                result.by_key[url_key(url)] = capture
                result.files[(au.au_id, f.path)] = capture
                result.records += 1
                result.deposited_records += 1


def _write_resource(
    writer: WARCWriter, title: ReleasedTitle, au: ReleasedAu, f: ReleasedFile, url: str, when: datetime
) -> None:
    digest = labelled_sha256(f.sha256)
    headers = {
        "WARC-Record-ID": _record_id("resource", au.au_id, f.path, f.sha256),
        "WARC-Date": datetime_to_iso_date(when),
        "WARC-Block-Digest": digest,  # a resource record's block is its payload: the file
        "WARC-Payload-Digest": digest,
        "Content-Type": f.mime,
        # Extension field: where the bytes are preserved, so a reader can go back to the OCFL object.
        "Strongroom-OCFL-Path": f"{au.au_id}/{au.ocfl_version}/{f.path}",
    }
    with f.open() as raw:
        reader = VerifyingReader(raw, f)
        record = writer.create_warc_record(
            url, "resource", payload=reader, length=f.size, warc_content_type=f.mime, warc_headers_dict=headers
        )
        writer.write_record(record)
        reader.drain()
        reader.verify()
