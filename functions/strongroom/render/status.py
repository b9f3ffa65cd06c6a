"""`strongroom status`: what the archive holds, read from the catalog."""

from __future__ import annotations

import json

from strongroom.domain.archive import AuditSettings
from strongroom.domain.catalog import AuRecord
from strongroom.render.templating import human_size

GRID_MARKS = {"ok": "✓", "repaired": "R", "damaged": "✗", "unavailable": "?"}


def grid(record: AuRecord, regions: list[str]) -> str:
    """The nodes at a glance, one character each in node order: ✓ ok, ✗ damaged, R repaired,
    ? unavailable, · never polled."""
    nodes = (record.last_poll_result or {}).get("nodes", {})
    return "".join(GRID_MARKS.get(nodes.get(r, ""), "·") for r in regions)


def _next_due(record: AuRecord, audit: AuditSettings) -> str:
    due = record.next_poll_due(audit.interval_days, audit.jitter_days)
    return "now" if due is None else due.isoformat(timespec="minutes")


def rows(records: list[AuRecord], regions: list[str], audit: AuditSettings) -> list[dict]:
    return [
        {
            "au": r.au,
            "publisher": r.publisher,
            "title": r.title,
            "journal": r.journal_title,
            "issn": r.issn or r.eissn,
            "version": r.head,
            "packages": len(r.packages),
            "articles": r.articles,
            "files": r.files,
            "bytes": r.bytes,
            "copies_verified": len(r.verified_regions()),
            "nodes": len(regions),
            "pending": r.pending_regions(regions),
            "updated": r.updated,
            "grid": grid(r, regions),
            "node_status": {
                reg: (r.last_poll_result or {}).get("nodes", {}).get(reg, "never polled") for reg in regions
            },
            "last_poll": r.last_poll,
            "last_poll_status": (r.last_poll_result or {}).get("status"),
            "next_poll_due": _next_due(r, audit),
        }
        for r in records
    ]


def as_json(records: list[AuRecord], regions: list[str], audit: AuditSettings) -> str:
    return json.dumps({"aus": rows(records, regions, audit)}, indent=2, sort_keys=True)


def as_table(records: list[AuRecord], regions: list[str], audit: AuditSettings) -> str:
    if not records:
        return "The archive holds no AUs yet. Deposit a package: strongroom deposit FILE --publisher P --title T --au A"
    header = ("AU", "journal", "version", "articles", "files", "bytes", "copies", "nodes", "last poll", "next due")
    body = [
        (
            row["au"],
            (row["journal"] or "")[:40],
            row["version"],
            str(row["articles"]),
            str(row["files"]),
            human_size(row["bytes"]),
            f"{row['copies_verified']}/{row['nodes']}"
            + ("" if not row["pending"] else " pending: " + ",".join(row["pending"])),
            row["grid"],
            (f"{row['last_poll'][:16]} {row['last_poll_status']}" if row["last_poll"] else "never"),
            row["next_poll_due"],
        )
        for row in rows(records, regions, audit)
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    total_bytes = sum(r.bytes for r in records)
    titles = len({(r.publisher, r.title) for r in records})
    out = [line(header), line(["-" * w for w in widths])] + [line(b) for b in body]
    out.append(f"{titles} titles, {len(records)} AUs, {human_size(total_bytes)} in each of {len(regions)} nodes")
    out.append(f"nodes, in order {', '.join(regions)}: ✓ ok  ✗ damaged  R repaired  ? unavailable  · never polled")
    return "\n".join(out)
