"""`strongroom status`: what the archive holds, read from the catalog: the totals from its summary
items, and a page of AUs (all of them only while the archive is small)."""

from __future__ import annotations

import json

from strongroom.domain.archive import AuditSettings
from strongroom.domain.catalog import AuRecord, Catalog
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


def with_pending(totals: dict[str, int], nodes: int) -> dict[str, int]:
    """A catalog summary (domain.catalog.SUMMARY_FIELDS) with the copies still pending on `nodes` nodes."""
    return {**totals, "copies_pending": max(0, totals.get("aus", 0) * nodes - totals.get("copies_verified", 0))}


def totals_line(totals: dict[str, int], nodes: int, scope: str = "") -> str:
    t = with_pending(totals, nodes)
    return (
        f"{scope}{t['titles']} titles, {t['aus']} AUs, {human_size(t['bytes'])} in each of {nodes} nodes; "
        f"{t['files']} files, {t['articles']} articles; {t['copies_pending']} copies pending; "
        f"{t['never_polled']} AUs never polled, {t['polls_not_ok']} whose last poll was not ok"
    )


def as_json(
    records: list[AuRecord],
    regions: list[str],
    audit: AuditSettings,
    totals: dict[str, int],
    *,
    not_shown: int = 0,
    publisher_totals: dict[str, int] | None = None,
) -> str:
    doc: dict = {
        "aus": rows(records, regions, audit),
        "totals": with_pending(totals, len(regions)),
        "not_shown": not_shown,
    }
    if publisher_totals is not None:
        doc["publisher_totals"] = with_pending(publisher_totals, len(regions))
    return json.dumps(doc, indent=2, sort_keys=True)


def as_table(
    records: list[AuRecord],
    regions: list[str],
    audit: AuditSettings,
    totals: dict[str, int],
    *,
    not_shown: int = 0,
    how_to_see: str = "",
    publisher_totals: tuple[str, dict[str, int]] | None = None,
) -> str:
    """The AUs listed (a page of them, or none), then the totals from the catalog's summary items:
    `not_shown` AUs were left out, and `how_to_see` says how to list them."""
    if not totals.get("aus"):
        return "The archive holds no AUs yet. Deposit a package: strongroom deposit FILE --publisher P --title T --au A"
    out = _grid(records, regions, audit) if records else []
    if publisher_totals is not None:
        out.append(totals_line(publisher_totals[1], len(regions), f"{publisher_totals[0]}: "))
    out.append(totals_line(totals, len(regions), "archive: " if publisher_totals is not None else ""))
    if not_shown:
        out.append(f"{not_shown} AUs not shown; {how_to_see}")
    if records:
        out.append(f"nodes, in order {', '.join(regions)}: ✓ ok  ✗ damaged  R repaired  ? unavailable  · never polled")
    return "\n".join(out)


def _grid(records: list[AuRecord], regions: list[str], audit: AuditSettings) -> list[str]:
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
    return [line(header), line(["-" * w for w in widths])] + [line(b) for b in body]


def report(
    catalog: Catalog,
    regions: list[str],
    audit: AuditSettings,
    *,
    publisher: str | None = None,
    title: str | None = None,
    limit: int = 200,
    json_out: bool = False,
) -> str:
    """What `strongroom status` prints: the totals from the summary items, and at most `limit` AUs:
    of one title, of one publisher, or (while the archive holds no more than `limit`) all of them.
    Which to list is decided from the summaries, so no call here reads every AU of a large archive."""
    totals = catalog.summary()
    scoped: tuple[str, dict[str, int]] | None = None
    if title is not None:
        title = title.strip("/")
        publisher = title.split("/")[0]
        scoped = (publisher, catalog.summary(publisher))
        records = catalog.aus_of_title(title, limit)
        held = catalog.title_aus(title)
        how = f"`strongroom status --title {title} --limit {held}` lists them all"
    elif publisher is not None:
        scoped = (publisher, catalog.summary(publisher))
        records = catalog.aus_of_publisher(publisher, limit)
        held = scoped[1]["aus"]
        how = f"`strongroom status --publisher {publisher} --limit {held}` lists them all, or one title with --title"
    else:
        held = totals["aus"]
        records = catalog.list_aus() if 0 < held <= limit else []  # a whole read only while it is small
        how = "list them a publisher or a title at a time: --publisher P or --title P/T (with --limit N)"
    not_shown = max(0, held - len(records))
    if json_out:
        return as_json(
            records, regions, audit, totals, not_shown=not_shown, publisher_totals=scoped[1] if scoped else None
        )
    table = as_table(records, regions, audit, totals, not_shown=not_shown, how_to_see=how, publisher_totals=scoped)
    if scoped is not None and not records and totals.get("aus"):
        what = f"title {title}" if title is not None else f"publisher {publisher}"
        table = f"no AUs of {what} in the catalog\n" + table
    return table
