"""Archives for the audit tests: built once by ingesting sample packages, cloned per test (cheap)."""

from __future__ import annotations

import copy
import hashlib
import threading
from datetime import UTC, datetime
from pathlib import Path

from strongroom.config import settings
from strongroom.domain import ocfl
from strongroom.domain.tally import inventory_digest
from strongroom.flows import ocfl_store
from strongroom.flows.ingest import Archive, NodeStore, ingest_package
from strongroom.local.demo.samples import JournalSpec, make_articles, make_package
from tests.fakes import MemoryBlobStore, MemoryCatalog

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
AU_TWO_VERSIONS = "acme/jbio/2024"
AU_ONE_VERSION = "acme/jbio/2025"
AUS = (AU_TWO_VERSIONS, AU_ONE_VERSION)


class LockedCatalog(MemoryCatalog):
    """MemoryCatalog whose lease is atomic, as DynamoDB's conditional write is (for thread tests)."""

    def __init__(self):
        super().__init__()
        self._mutex = threading.Lock()

    def try_lock(self, name, owner, now, seconds):
        with self._mutex:
            return super().try_lock(name, owner, now, seconds)

    def unlock(self, name, owner):
        with self._mutex:
            super().unlock(name, owner)


def _package(tmp: Path, name: str, au: str, seed: int) -> Path:
    journal = JournalSpec(publisher="acme", title="jbio")
    out = tmp / name
    out.mkdir()
    made = make_package(
        out, publisher="acme", title="jbio", au=au, articles=make_articles(2, seed=seed, journal=journal), seed=seed
    )
    return made.rename(made.with_name(f"{name}.zip"))


def build_archive(tmp: Path) -> Archive:
    """Two AUs on twelve memory nodes: 2024 with two versions, 2025 with one."""
    cfg = settings()
    archive = Archive(
        ingest=MemoryBlobStore("ingest"),
        nodes=[NodeStore(n, MemoryBlobStore(n.region)) for n in cfg.nodes],
        catalog=LockedCatalog(),
        limits=cfg.limits,
        audit=cfg.audit,
        clock=lambda: NOW,
        scratch=tmp,
        wait_for_lock=20,
    )
    for name, au, seed in (("p1", "2024", 1), ("p2", "2024", 2), ("q1", "2025", 3)):
        path = _package(tmp, name, au, seed)
        key = f"incoming/acme/jbio/{au}/{path.name}"
        archive.ingest.put(key, path.read_bytes())
        outcome = ingest_package(archive, key)
        assert outcome.status == "preserved", outcome
    return archive


def record_inventory_digests(archive: Archive) -> None:
    """What ingest will do once wired: the catalog keeps each version's root inventory digest."""
    store = archive.nodes[0].store
    for au in AUS:
        record = archive.catalog.get_au(au)
        inv = ocfl_store.read_inventory(store, au, sizes=False)
        for version in inv.versions:
            with store.open(f"{ocfl.object_root(au)}/{version}/inventory.json") as f:
                record.inventory_sha512[version] = inventory_digest(f.read())
        archive.catalog.put_au(record)


def clone_store(store: MemoryBlobStore, cls: type = MemoryBlobStore) -> MemoryBlobStore:
    out = cls(store.name)
    out.objects = dict(store.objects)
    out.history = {k: list(v) for k, v in store.history.items()}
    return out


def clone(archive: Archive, catalog: bool = True, store_class: type = MemoryBlobStore) -> Archive:
    cat = LockedCatalog()
    if catalog:
        cat.aus = copy.deepcopy(archive.catalog.aus)
        cat.event_log = dict(archive.catalog.event_log)
    return Archive(
        ingest=clone_store(archive.ingest),
        nodes=[NodeStore(ns.node, clone_store(ns.store, store_class)) for ns in archive.nodes],
        catalog=cat,
        limits=archive.limits,
        audit=archive.audit,
        clock=archive.clock,
        scratch=archive.scratch,
        wait_for_lock=archive.wait_for_lock,
    )


def state(archive: Archive, prefix: str = "") -> dict[tuple[str, str], tuple[str, str]]:
    """(node, key) -> (sha256 of the current bytes, version id), logs excepted: what 'untouched' compares."""
    out = {}
    for ns in archive.nodes:
        s = ns.store
        for key, data in s.objects.items():
            if key.startswith(prefix) and "/logs/" not in key:
                out[(ns.node.region, key)] = (hashlib.sha256(data).hexdigest(), str(len(s.history.get(key, []))))
    return out


def object_keys(archive: Archive, au: str) -> list[str]:
    """Every key of the AU's object on node 1 except logs (relative to the object root)."""
    root = ocfl.object_root(au)
    return sorted(
        k[len(root) + 1 :] for k in archive.nodes[0].store.objects if k.startswith(root + "/") and "/logs/" not in k
    )
