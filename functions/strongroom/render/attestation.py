"""The public attestation: what the archive can prove about each AU without showing any of it.

After each poll the archive publishes, into the public bucket under attestation/:

    index.json, index.html               every AU: file count, bytes, last poll, agreement, root hash
    <publisher>/<title>/<au>.json|.html  one AU, plus the sha256 and sha512 of every file it holds
    digests/sha256/<hex>.json            {"aus": [...]}: which AUs hold a file with this digest
    digests/sha512/<hex>.json            (the index page's search box looks a digest up here)
    assets/attestation.css, check.js     the pages' style and the digest check (no inline code: CSP)

Dark means dark: nothing here comes from the deposited content but its digests and sizes.
No article titles, abstracts, authors, file names or logical paths (a path such as
"smith-2024-deep-learning.pdf" can name an article). A digest only proves the presence of
bytes that someone already holds: it cannot be turned back into the file. The journal
title, ISSN and AU id are the catalog's own descriptive metadata, public in KBART lists
and the Keepers Registry anyway.

Everything here is pure but `publish_au` / `publish_index`, which read the catalog and one
agreeing node through the domain's ports and write the public BlobStore.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from strongroom.domain.catalog import AuRecord
from strongroom.domain.ocfl.inventory import (
    FIXITY_ALGORITHM,
    INVENTORY,
    Inventory,
    InventoryError,
)
from strongroom.domain.ocfl.layout import object_root
from strongroom.domain.ports import BlobStore, NotFound, Unavailable
from strongroom.domain.tally import inventory_digest
from strongroom.render.templating import environment, templates_dir

log = logging.getLogger(__name__)

PREFIX = "attestation"
GOOD = ("ok", "repaired")

ROOT_HASH_RECIPE = (
    'root_hash = sha256 over the lines "<sha512 hex>  <logical path>\\n" (the format sha512sum prints), '
    "one per file of the AU's current version, sorted as UTF-8 byte strings and concatenated. "
    "With the files in a directory: (cd DIR && find . -type f -printf '%P\\0' | xargs -0 sha512sum) "
    "| LC_ALL=C sort | sha256sum"
)
DIGESTS_NOTE = (
    "The digest list names every file the AU's preserved copies hold (all OCFL versions) by its sha256 "
    "and sha512 and size only. It has no file names or paths: a path can name an article, and the archive "
    "is dark. A digest proves that bytes you already hold are preserved here; it reveals nothing to anyone "
    "who does not hold them."
)


@dataclass
class FileDigests:
    sha256: str | None
    sha512: str
    size: int | None


@dataclass
class AuAttestation:
    """What the public may know of one AU."""

    au: str
    publisher: str
    title: str
    journal_title: str | None
    issn: str | None
    eissn: str | None
    version: str
    files: int
    bytes: int
    last_poll: str | None
    poll_finished: str | None
    result: str  # ok | repaired | damaged | unrepairable | never polled
    nodes: int
    agreement: int
    node_status: dict[str, str]
    root_hash: str | None
    inventory_sha512: str | None
    generated: str
    digests: list[FileDigests] = field(default_factory=list)

    @property
    def json_key(self) -> str:
        return f"{PREFIX}/{self.au}.json"

    @property
    def html_key(self) -> str:
        return f"{PREFIX}/{self.au}.html"

    def as_dict(self) -> dict:
        d = asdict(self)
        d["root_hash_recipe"] = ROOT_HASH_RECIPE
        d["digests_note"] = DIGESTS_NOTE
        return d

    def summary(self) -> dict:
        """The AU's line in index.json (no digests)."""
        d = {k: v for k, v in asdict(self).items() if k not in ("digests", "generated")}
        d["json"], d["html"] = f"{self.au}.json", f"{self.au}.html"
        return d


def file_digests(inventory: Inventory) -> list[FileDigests]:
    """sha256 (from the inventory's fixity block), sha512 and size of every stored file, in digest
    order (not path order, which would hint at the paths)."""
    sha256_at = {cp: d for d, cps in inventory.fixity.get(FIXITY_ALGORITHM, {}).items() for cp in cps}
    out = []
    for digest in sorted(inventory.manifest):
        cp = inventory.manifest[digest][0]
        out.append(FileDigests(sha256_at.get(cp), digest, inventory.sizes.get(cp)))
    return out


def attest(record: AuRecord, inventory: Inventory | None, regions: list[str], now: datetime) -> AuAttestation:
    """The attestation of one AU from its catalog record, its last poll and its reference inventory."""
    poll = record.last_poll_result or {}
    totals = poll.get("totals") or {}
    node_status = {r: (poll.get("nodes") or {}).get(r, "never polled") for r in regions}
    return AuAttestation(
        au=record.au,
        publisher=record.publisher,
        title=record.title,
        journal_title=record.journal_title,
        issn=record.issn,
        eissn=record.eissn,
        version=poll.get("head") or record.head,
        files=int(totals.get("files", record.files)),
        bytes=int(totals.get("bytes", record.bytes)),
        last_poll=record.last_poll,
        poll_finished=poll.get("finished"),
        result=poll.get("status", "never polled"),
        nodes=len(regions),
        agreement=int(poll.get("agreement", 0)),
        node_status=node_status,
        root_hash=poll.get("root_hash"),
        inventory_sha512=record.inventory_sha512.get(poll.get("head") or record.head),
        generated=now.astimezone(UTC).isoformat(timespec="seconds"),
        digests=file_digests(inventory) if inventory is not None else [],
    )


# ---------------------------------------------------------------- rendering


def _page(template: str, **context) -> bytes:
    return environment().get_template(template).render(**context).encode("utf-8")


def _assets() -> dict[str, bytes]:
    """The pages' stylesheet (the site's, then their own rules) and the digest check's script, as
    files next to them: the Content-Security-Policy allows no inline style or script."""
    assets = templates_dir() / "assets"
    css = (assets / "site.css").read_bytes() + b"\n" + (assets / "attestation.css").read_bytes()
    return {
        f"{PREFIX}/assets/attestation.css": css,
        f"{PREFIX}/assets/check.js": (assets / "attestation-check.js").read_bytes(),
    }


def _json(doc) -> bytes:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n"


def render_au(att: AuAttestation) -> dict[str, bytes]:
    """{key in the public bucket: bytes} of one AU's JSON and HTML page."""
    depth = att.au.count("/") + 1  # attestation/<publisher>/<title>/<au>.html -> ../../
    root = "../" * (depth - 1)
    return {
        att.json_key: _json(att.as_dict()),
        att.html_key: _page(
            "attestation_au.html.j2",
            a=att,
            root=root,
            recipe=ROOT_HASH_RECIPE,
            digests_note=DIGESTS_NOTE,
            page_title=f"Attestation of {att.au}",
        ),
    }


def render_index(atts: Iterable[AuAttestation], now: datetime, site_name: str = "strongroom") -> dict[str, bytes]:
    atts = sorted(atts, key=lambda a: a.au)
    generated = now.astimezone(UTC).isoformat(timespec="seconds")
    doc = {
        "archive": site_name,
        "generated": generated,
        "root_hash_recipe": ROOT_HASH_RECIPE,
        "digests_note": DIGESTS_NOTE,
        "lookup": "digests/<sha256|sha512>/<lower-case hex>.json",
        "aus": [a.summary() for a in atts],
    }
    return {
        **_assets(),
        f"{PREFIX}/index.json": _json(doc),
        f"{PREFIX}/index.html": _page(
            "attestation_index.html.j2",
            root="",
            aus=atts,
            generated=generated,
            site_name=site_name,
            recipe=ROOT_HASH_RECIPE,
            digests_note=DIGESTS_NOTE,
            page_title="Preservation attestations",
        ),
    }


def digest_key(algorithm: str, hexdigest: str) -> str:
    return f"{PREFIX}/digests/{algorithm}/{hexdigest.lower()}.json"


def digest_keys(digests: Iterable[FileDigests]) -> set[str]:
    keys = set()
    for d in digests:
        keys.add(digest_key("sha512", d.sha512))
        if d.sha256:
            keys.add(digest_key("sha256", d.sha256))
    return keys


# ---------------------------------------------------------------- publishing


def reference_inventory(archive, record: AuRecord) -> Inventory | None:
    """The AU's root inventory from a node the last poll found good, checked against the recorded digest."""
    poll = record.last_poll_result or {}
    head = poll.get("head") or record.head
    want = record.inventory_sha512.get(head)
    good = [ns for ns in archive.nodes if (poll.get("nodes") or {}).get(ns.node.region) in GOOD]
    for ns in good:
        try:
            with ns.store.open(f"{object_root(record.au)}/{INVENTORY}") as f:
                body = f.read()  # an inventory is metadata, read whole as every OCFL reader does
            if want and inventory_digest(body) != want:
                continue
            inv = Inventory.from_json(body)
        except (NotFound, Unavailable, InventoryError):
            continue
        inv.sizes = {
            o.key[len(object_root(record.au)) + 1 :]: o.size for o in ns.store.list(f"{object_root(record.au)}/")
        }
        return inv
    return None


def _read_json(store: BlobStore, key: str) -> dict | None:
    try:
        with store.open(key) as f:
            return json.load(f)
    except NotFound:
        return None
    except ValueError:
        log.warning("%s/%s is not JSON; it is rewritten", store.name, key)
        return None


def publish_au(archive, public: BlobStore, au: str, regions: list[str], now: datetime | None = None) -> AuAttestation:
    """Write one AU's attestation, and add it to (or remove it from) the digest lookup objects whose
    digests it gained (or lost) since its previous attestation: a poll rewrites only what changed."""
    now = now or archive.clock()
    record = archive.catalog.get_au(au)
    if record is None:
        raise NotFound(f"no AU {au} in the catalog; run `strongroom catalog rebuild` if the buckets hold it")
    inventory = reference_inventory(archive, record)
    att = attest(record, inventory, regions, now)
    if inventory is None:
        log.warning("%s: no good copy of its inventory could be read; its attestation lists no digests", au)
    previous = _read_json(public, att.json_key) or {}
    before = digest_keys([FileDigests(**d) for d in previous.get("digests", [])])
    after = digest_keys(att.digests)
    for key in sorted(after - before):
        _update_lookup(public, key, au, add=True)
    for key in sorted(before - after) if inventory is not None else []:
        _update_lookup(public, key, au, add=False)
    for key, body in render_au(att).items():
        public.put(key, body, content_type=_content_type(key))
    return att


def _update_lookup(public: BlobStore, key: str, au: str, add: bool) -> None:
    doc = _read_json(public, key) or {"aus": []}
    aus = set(doc.get("aus", []))
    changed = (au not in aus) if add else (au in aus)
    if changed:
        aus = aus | {au} if add else aus - {au}
        public.put(key, _json({"aus": sorted(aus)}), content_type="application/json")


def publish_index(archive, public: BlobStore, regions: list[str], now: datetime | None = None) -> list[str]:
    """Rewrite index.json and index.html from the catalog (every AU; digests stay on the AU pages)."""
    now = now or archive.clock()
    atts = [attest(r, None, regions, now) for r in archive.catalog.list_aus()]
    written = []
    for key, body in render_index(atts, now).items():
        public.put(key, body, content_type=_content_type(key))
        written.append(key)
    return written


def _content_type(key: str) -> str:
    for ext, kind in (
        (".html", "text/html; charset=utf-8"),
        (".css", "text/css; charset=utf-8"),
        (".js", "text/javascript; charset=utf-8"),
    ):
        if key.endswith(ext):
            return kind
    return "application/json"
