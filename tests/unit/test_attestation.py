"""The public attestation: what it proves (counts, agreement, root hash, digests) and what it never shows."""

from __future__ import annotations

import hashlib
import json
import posixpath
import random
import re

import pytest

from strongroom.config import settings
from strongroom.domain import ocfl
from strongroom.domain.tally import root_hash
from strongroom.flows.audit import run_poll
from strongroom.local.demo import chaos
from strongroom.local.demo.samples import JournalSpec, make_articles
from strongroom.render import attestation
from tests.audit_support import AUS, build_archive, clone, record_inventory_digests
from tests.fakes import MemoryBlobStore

REGIONS = [n.region for n in settings().nodes]


class CountingStore(MemoryBlobStore):
    def __init__(self, name="public"):
        super().__init__(name)
        self.puts: list[str] = []

    def put(self, key, body, **kw):
        self.puts.append(key)
        return super().put(key, body, **kw)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    archive = build_archive(tmp_path_factory.mktemp("attestation"))
    record_inventory_digests(archive)
    archive = clone(archive)
    root = ocfl.object_root(AUS[0])
    key = sorted(k for k in archive.nodes[2].store.objects if k.startswith(root) and k.endswith(".pdf"))[0]
    chaos.flip_bits(archive.nodes[2].store, key, rng=random.Random(3))
    archive.nodes[4].store.offline = True
    for au in AUS:
        run_poll(archive, au)
    archive.nodes[4].store.offline = False
    public = CountingStore()
    for au in AUS:
        attestation.publish_au(archive, public, au, REGIONS)
    attestation.publish_index(archive, public, REGIONS)
    return archive, public


def doc(public, key):
    return json.loads(public.objects[key])


def test_au_page_says_what_the_poll_found(published):
    archive, public = published
    a = doc(public, f"attestation/{AUS[0]}.json")
    record = archive.catalog.get_au(AUS[0])
    inv = ocfl.Inventory.from_json(archive.nodes[0].store.objects[f"{ocfl.object_root(AUS[0])}/inventory.json"])
    assert a["au"] == AUS[0] and a["journal_title"] == record.journal_title
    assert a["files"] == len(inv.logical_state()) and a["bytes"] > 0
    assert a["last_poll"] == record.last_poll and a["result"] == "repaired"
    assert a["nodes"] == 12 and a["agreement"] == 11  # one node was offline: not counted as agreeing
    assert a["node_status"][REGIONS[2]] == "repaired" and a["node_status"][REGIONS[4]] == "unavailable"
    assert a["root_hash"] == root_hash(inv)
    assert "sha512sum" in a["root_hash_recipe"]
    html = public.objects[f"attestation/{AUS[0]}.html"].decode()
    assert a["root_hash"] in html and "sha512sum" in html
    # Its style is attestation/'s own copy (published before any release, so never the site's
    # assets/), a file rather than inline because the site's CSP allows no inline style.
    page_dir = posixpath.dirname(f"attestation/{AUS[0]}.html")
    sheets = [
        posixpath.normpath(posixpath.join(page_dir, h))
        for h in re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    ]
    assert sheets == ["attestation/assets/attestation.css"] and sheets[0] in public.objects
    assert "<style" not in html and "<script" not in html


def test_every_stored_file_is_listed_by_both_digests_and_can_be_looked_up(published):
    archive, public = published
    store = archive.nodes[0].store
    inv = ocfl.Inventory.from_json(store.objects[f"{ocfl.object_root(AUS[0])}/inventory.json"])
    a = doc(public, f"attestation/{AUS[0]}.json")
    listed = {(d["sha256"], d["sha512"]) for d in a["digests"]}
    for _digest, paths in inv.manifest.items():
        data = store.objects[f"{ocfl.object_root(AUS[0])}/{paths[0]}"]
        pair = (hashlib.sha256(data).hexdigest(), hashlib.sha512(data).hexdigest())
        assert pair in listed
        for alg, hexd in zip(("sha256", "sha512"), pair):
            assert AUS[0] in doc(public, f"attestation/digests/{alg}/{hexd}.json")["aus"]
    assert all(d["size"] is not None for d in a["digests"])


def test_index_lists_every_au_and_has_a_local_search(published):
    _, public = published
    index = doc(public, "attestation/index.json")
    assert [x["au"] for x in index["aus"]] == sorted(AUS)
    assert all("digests" not in x for x in index["aus"])
    html = public.objects["attestation/index.html"].decode()
    assert 'id="digest"' in html
    # The check is the page's own script, next to it (no CDN, and no inline code: the CSP forbids it).
    assert re.findall(r"<script[^>]*>", html) == ['<script src="assets/check.js">']
    script = public.objects["attestation/assets/check.js"].decode()
    assert "digests/" in script and "crypto.subtle" in script
    assert "https://" not in html and "https://" not in script


def test_nothing_of_the_dark_content_is_published(published):
    """No article title, abstract, author, DOI, keyword or file name of the sample packages appears anywhere."""
    _, public = published
    journal = JournalSpec(publisher="acme", title="jbio")
    secrets = set()
    for seed in (1, 2, 3):
        for art in make_articles(2, seed=seed, journal=journal):
            secrets |= {art.title, art.abstract, art.doi, art.id, art.figure_caption, *art.keywords}
            secrets |= {f"{au.given} {au.surname}" for au in art.authors if hasattr(au, "surname")}
    secrets |= {".pdf", ".xml", ".png", "data/", "bagit.txt", "manifest-sha"}
    secrets = {s for s in secrets if s and len(s) > 3}
    assert len(secrets) > 20
    for key, body in public.objects.items():
        text = body.decode("utf-8")
        for s in secrets:
            assert s not in text and s.lower() not in text.lower(), f"{key} shows {s!r}"


def test_republishing_rewrites_no_unchanged_digest_lookup(published):
    archive, public = published
    public.puts.clear()
    attestation.publish_au(archive, public, AUS[0], REGIONS)
    assert not [k for k in public.puts if "/digests/" in k]
    assert sorted(public.puts) == sorted([f"attestation/{AUS[0]}.json", f"attestation/{AUS[0]}.html"])


def test_a_file_shared_by_two_aus_names_both(published):
    archive, public = published
    one, two = (doc(public, f"attestation/{au}.json") for au in AUS)
    shared = {d["sha512"] for d in one["digests"]} & {d["sha512"] for d in two["digests"]}
    for d in shared:
        assert doc(public, f"attestation/digests/sha512/{d}.json")["aus"] == sorted(AUS)


def test_pages_escape_what_they_show(published):
    archive, _ = published
    record = archive.catalog.get_au(AUS[1])
    record.journal_title = "<script>alert(1)</script>"
    att = attestation.attest(record, None, REGIONS, archive.clock())
    html = attestation.render_au(att)[att.html_key].decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
