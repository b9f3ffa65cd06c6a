"""Recreate the catalog from one node bucket alone: the buckets are the archive.

Each OCFL object's inventory gives the AU's versions and files; its logs/ give the PREMIS
events, from which the packages, the journal and the verified copies are read back.
"""

from __future__ import annotations

from strongroom.domain import premis
from strongroom.domain.catalog import AuRecord, Catalog
from strongroom.domain.ports import BlobStore, NotFound
from strongroom.flows import ocfl_store


def au_from_node(store: BlobStore, object_id: str) -> tuple[AuRecord, list[premis.PremisEvent]]:
    inventory = ocfl_store.read_inventory(store, object_id)
    if inventory is None:
        raise NotFound(
            f"{store.name} holds no committed version of {object_id}; "
            "rebuild from the ids ocfl_store.list_object_ids(store) finds"
        )
    state = inventory.head_state_digests()
    events: list[premis.PremisEvent] = []
    for body in ocfl_store.read_logs(store, object_id):
        events += premis.from_jsonl(body)
    events.sort(key=lambda e: (e.at, e.identifier))
    record = AuRecord(au=object_id, head=inventory.head, files=len(state), bytes=sum(d.size for d in state.values()))
    for e in events:
        detail = e.outcome_detail
        if e.type == "ingestion" and e.outcome == "success" and "package_name" in detail:
            record.packages[detail["package_name"]] = detail.get("articles", 0)
            for attr in ("journal_title", "issn", "eissn", "publisher_name"):
                if detail.get(attr):
                    setattr(record, attr, detail[attr])
            if detail.get("node"):
                _verified(record, detail["node"], detail.get("version", record.head))
            record.updated = max(record.updated, e.at)
        elif (
            e.type == "replication"
            and e.outcome in ("success", "warning")
            and detail.get("node")
            and not detail.get("conflicts")
        ):
            _verified(record, detail["node"], detail.get("version", record.head))
        elif e.type == "fixity check" and "last_poll_result" in detail:
            record.last_poll = detail["last_poll"]
            record.last_poll_result = detail["last_poll_result"]
            head = detail["last_poll_result"].get("head")
            for node, status in detail["last_poll_result"].get("nodes", {}).items():
                if head and status in ("ok", "repaired"):
                    _verified(record, node, head)
    record.articles = sum(record.packages.values())
    record.inventory_sha512 = ocfl_store.version_inventory_digests(store, object_id, inventory)
    return record, events


def _verified(record: AuRecord, node: str, version: str) -> None:
    """Note a verified copy; events may share a timestamp, so the highest version wins, not the last."""
    current = record.copies.get(node)
    if current is None or int(version[1:]) > int(current[1:]):
        record.copies[node] = version


def rebuild_catalog(store: BlobStore, catalog: Catalog) -> int:
    """Wipe the catalog and refill it from store; returns how many AUs were found."""
    catalog.clear()
    count = 0
    for object_id in ocfl_store.list_object_ids(store):
        record, events = au_from_node(store, object_id)
        catalog.put_au(record)
        catalog.add_events(events)
        count += 1
    return count
