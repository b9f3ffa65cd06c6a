"""A sorted CDXJ index of a title's WARC, written by cdxj-indexer (pywb reads it from indexes/).

The record types are named explicitly (the ones pywb replays): importing ``wacz`` appends "warcinfo" to
cdxj-indexer's default list for the whole process, and pywb has no use for warcinfo
lines (nor for metadata records). ``post_append`` gives POST captures their distinct keys, as pywb's own indexing does.
cdxj-indexer sorts in memory up to 32 MB of lines and merges sorted runs from temporary
files beyond that, so big titles index in bounded memory.
"""

from __future__ import annotations

from pathlib import Path

from cdxj_indexer.main import CDXJIndexer

from strongroom.render.whole_files import written_whole

INDEXED_RECORDS = "response,revisit,resource"


def write_cdxj(warc: Path, out: Path) -> int:
    """Index warc into out (sorted by SURT key, then timestamp); returns the number of lines."""
    with written_whole(out) as partial:
        CDXJIndexer(str(partial), [str(warc)], sort=True, post_append=True, records=INDEXED_RECORDS).process_all()
    with out.open("rb") as fh:
        return sum(1 for _ in fh)
