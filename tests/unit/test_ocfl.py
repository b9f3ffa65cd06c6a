"""OCFL storage: extension 0003 layout, version planning, crash-safe writing, validation by ocfl-py."""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import UTC, datetime

import ocfl
import pytest
from ocfl.layout_0003_hash_and_id_n_tuple import Layout_0003_Hash_And_Id_N_Tuple

from strongroom.domain.ocfl import (
    FileDigest,
    Inventory,
    InventoryError,
    User,
    digest_stream,
    encapsulation_directory,
    object_root,
    plan_version,
    sidecar,
    storage_path,
    storage_root_keys,
)
from strongroom.domain.ports import NotFound
from strongroom.flows.ocfl_store import (
    InventoryDigestMismatch,
    LogExists,
    OcflWriter,
    StorageRootConflict,
    VersionConflict,
    append_log,
    list_object_ids,
    read_inventory,
    read_logs,
)
from tests.fakes import MemoryBlobStore

AU = "example-press/journal-of-examples/2024"
WHEN = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
LATER = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
ARCHIVIST = User("strongroom ingest", "mailto:ingest@strongroom.example")


# --- extension 0003, checked against the examples in its specification --------------------------

LONG_260 = "abcdefghij" * 26
LONG_101 = "abcdefghij" * 10 + "a"


@pytest.mark.parametrize(
    "object_id, algorithm, tuple_size, tuples, expected",
    [
        # Example 1 (defaults) and Example 2 (md5, 2 x 15) mapping tables
        ("object-01", "sha256", 3, 3, "3c0/ff4/240/object-01"),
        ("..hor/rib:le-$id", "sha256", 3, 3, "487/326/d8c/%2e%2ehor%2frib%3ale-%24id"),
        ("object-01", "md5", 2, 15, "ff/75/53/44/92/48/5e/ab/b3/9f/86/35/67/28/88/object-01"),
        ("..hor/rib:le-$id", "md5", 2, 15, "08/31/97/66/fb/6c/29/35/dd/17/5b/94/26/77/17/%2e%2ehor%2frib%3ale-%24id"),
        # Example 3 (0 x 0); the spec's table says `object-id` for object-01, a typo its own code corrects
        ("object-01", "sha256", 0, 0, "object-01"),
        ("..hor/rib:le-$id", "sha256", 0, 0, "%2e%2ehor%2frib%3ale-%24id"),
        # The spec's "Python Code" test cases
        ("object-01", "md5", 3, 3, "ff7/553/449/object-01"),
        ("object-01", "md5", 5, 2, "ff755/34492/object-01"),
        ("object-01", "md5", 0, 0, "object-01"),
        ("..hor/rib:le-$id", "md5", 3, 3, "083/197/66f/%2e%2ehor%2frib%3ale-%24id"),
        ("..Hor/rib:lè-$id", "sha256", 3, 3, "373/529/21a/%2e%2eHor%2frib%3al%c3%a8-%24id"),
        (
            LONG_260,
            "sha256",
            3,
            3,
            "55b/432/806/" + "abcdefghij" * 10 + "-55b432806f4e270da0cf23815ed338742179002153cd8d896f23b3e2d8a14359",
        ),
        (
            LONG_101,
            "sha256",
            3,
            3,
            "5cc/73e/648/" + "abcdefghij" * 10 + "-5cc73e648fbcff136510e330871180922ddacf193b68fdeff855683a01464220",
        ),
    ],
)
def test_layout_0003_matches_the_spec_examples(object_id, algorithm, tuple_size, tuples, expected):
    assert storage_path(object_id, algorithm, tuple_size, tuples) == expected


def test_encapsulation_directory_table_and_percent_encoding():
    # The spec's "Encapsulation Directory" table and its _percent_encode checks ('.', 'ç')
    assert encapsulation_directory("object-01", "x") == "object-01"
    assert encapsulation_directory("..Hor/rib:lè-$id", "x") == "%2e%2eHor%2frib%3al%c3%a8-%24id"
    assert encapsulation_directory(".", "x") == "%2e"
    assert encapsulation_directory("ç", "x") == "%c3%a7"
    digest = "5cc73e648fbcff136510e330871180922ddacf193b68fdeff855683a01464220"
    assert encapsulation_directory(LONG_101, digest) == "abcdefghij" * 10 + "-" + digest
    assert encapsulation_directory("a" * 100, digest) == "a" * 100  # exactly 100: not truncated


@pytest.mark.parametrize("bad", [(3, 0), (0, 3), (33, 1), (32, 3)])
def test_layout_rejects_parameters_the_spec_forbids(bad):
    with pytest.raises(ValueError):
        storage_path("x", "sha256", *bad)


@pytest.mark.parametrize("object_id", [AU, "a/b/c", "pub.co/title_1/vol-1.2", "x" * 150])
def test_object_root_agrees_with_ocfl_py(object_id):
    assert object_root(object_id) == Layout_0003_Hash_And_Id_N_Tuple().identifier_to_path(object_id)


# --- helpers --------------------------------------------------------------------------------------


def digests(files: dict[str, bytes]) -> dict[str, FileDigest]:
    return {path: digest_stream(io.BytesIO(body)) for path, body in files.items()}


def opener(files: dict[str, bytes]):
    return lambda logical: io.BytesIO(files[logical])


def validate(store: MemoryBlobStore, tmp_path, name="export", objects: int | None = None) -> tuple[bool, list[str]]:
    """Export the bucket and run ocfl-py's storage-root validator over it (digests checked).

    ocfl-py 2.1.0's StorageRoot.validate() returns True even when an object inside is
    invalid (it only fails on traversal errors), and so does `ocfl-validate.py <root>`;
    an object is valid only if good_objects == num_objects.
    """
    root = store.export(tmp_path / name)
    storage_root = ocfl.StorageRoot(root=str(root))
    traversal_ok = storage_root.validate(log_warnings=True, log_errors=False, check_digests=True)
    messages = [m for _, text in (storage_root.errors or []) for m in text.splitlines()]
    messages += str(storage_root.log).splitlines() if storage_root.log else []
    counted = storage_root.num_objects >= 1 if objects is None else storage_root.num_objects == objects
    ok = traversal_ok and counted and storage_root.good_objects == storage_root.num_objects
    return ok, messages


def test_ocfl_py_storage_root_validate_alone_misses_bad_objects(store, tmp_path):
    """Pins the ocfl-py pitfall the helper above works around; if this fails, ocfl-py fixed it."""
    write(store, V1)
    store.objects[f"{object_root(AU)}/v1/content/art1/article.pdf"] = b"%PDF-1.7 bitrot"
    storage_root = ocfl.StorageRoot(root=str(store.export(tmp_path / "bad")))
    assert storage_root.validate(log_errors=False) is True
    assert (storage_root.num_objects, storage_root.good_objects) == (1, 0)


def codes(messages: list[str]) -> set[str]:
    return {c for m in messages for c in re.findall(r"\[([EW]\d{3}[a-z]?)\]", m)}


V1 = {
    "art1/article.xml": b"<article>one</article>",
    "art1/article.pdf": b"%PDF-1.7 one",
    "art2/article.xml": b"<article>two</article>",
    "art2/copy-of-art1.xml": b"<article>one</article>",  # same bytes as art1/article.xml
    "manifest-sha256.txt": b"bag manifest",
}
V2 = {
    "art1/article.xml": b"<article>one</article>",  # unchanged
    "art1/article.pdf": b"%PDF-1.7 one, corrected",  # changed
    "art3/article.xml": b"<article>three</article>",  # added
    "art3/renamed.pdf": b"%PDF-1.7 one",  # old v1 bytes under a new name
    "art3/again.xml": b"<article>three</article>",  # duplicate within v2
    # art2/* and manifest-sha256.txt removed
}


@pytest.fixture
def store():
    s = MemoryBlobStore("node-1")
    OcflWriter(s).ensure_storage_root()
    return s


def write(store, files, previous=None, when=WHEN, message="deposit"):
    plan = plan_version(previous, AU, digests(files), when, message, ARCHIVIST)
    keys = OcflWriter(store).write_version(plan, opener(files))
    return plan, keys


# --- storage root ---------------------------------------------------------------------------------


def test_storage_root_files_and_idempotence(tmp_path):
    s = MemoryBlobStore()
    writer = OcflWriter(s)
    first = writer.ensure_storage_root()
    assert first[-1] == "0=ocfl_1.1"  # the declaration comes last: a half-made root is not declared
    assert s.objects["0=ocfl_1.1"] == b"ocfl_1.1\n"
    layout = json.loads(s.objects["ocfl_layout.json"])
    assert layout["extension"] == "0003-hash-and-id-n-tuple-storage-layout" and layout["description"]
    config = json.loads(s.objects["extensions/0003-hash-and-id-n-tuple-storage-layout/config.json"])
    assert config == {
        "extensionName": "0003-hash-and-id-n-tuple-storage-layout",
        "digestAlgorithm": "sha256",
        "tupleSize": 3,
        "numberOfTuples": 3,
    }
    assert b"OCFL" in s.objects["strongroom-storage-root.md"]
    assert writer.ensure_storage_root() == []
    assert s.history == {}  # nothing rewritten


def test_storage_root_refuses_a_foreign_root():
    s = MemoryBlobStore()
    s.put("0=ocfl_1.0", b"ocfl_1.0\n")
    with pytest.raises(StorageRootConflict, match="0=ocfl_1.0"):
        OcflWriter(s).ensure_storage_root()
    s = MemoryBlobStore()
    s.put("ocfl_layout.json", b'{"extension": "0004-hashed-n-tuple-storage-layout", "description": ""}')
    with pytest.raises(StorageRootConflict, match="layout"):
        OcflWriter(s).ensure_storage_root()


# --- planning -------------------------------------------------------------------------------------


def test_plan_v1_stores_duplicate_bytes_once():
    plan = plan_version(None, AU, digests(V1), WHEN, "first deposit", ARCHIVIST)
    assert plan.version == "v1" and not plan.unchanged and plan.previous_head is None
    logical = [lp for _, lp in plan.new_content]
    assert "art2/copy-of-art1.xml" not in logical and "art1/article.xml" in logical
    assert all(cp == f"v1/content/{lp}" for cp, lp in plan.new_content)
    inv = plan.inventory
    assert inv.logical_state() == {p: d.sha512 for p, d in digests(V1).items()}
    assert len(inv.manifest) == 4
    v1 = inv.versions["v1"]
    assert v1.created == "2024-05-01T12:00:00Z" and v1.message == "first deposit" and v1.user == ARCHIVIST
    sha256 = hashlib.sha256(V1["art1/article.pdf"]).hexdigest()
    assert inv.fixity["sha256"][sha256] == ["v1/content/art1/article.pdf"]
    assert plan.new_bytes == sum(len(V1[lp]) for lp in logical)


def test_plan_v2_stores_only_new_content():
    v1 = plan_version(None, AU, digests(V1), WHEN, "first", ARCHIVIST).inventory
    plan = plan_version(v1, AU, digests(V2), LATER, "second", ARCHIVIST)
    assert plan.version == "v2" and plan.previous_head == "v1"
    assert plan.new_content == [
        ("v2/content/art1/article.pdf", "art1/article.pdf"),
        ("v2/content/art3/again.xml", "art3/again.xml"),
    ]
    inv = plan.inventory
    assert inv.head == "v2" and set(inv.versions) == {"v1", "v2"}
    assert inv.versions["v1"] == v1.versions["v1"]  # history is kept as it was
    assert inv.logical_state("v2") == {p: d.sha512 for p, d in digests(V2).items()}
    assert inv.content_path(digests(V2)["art3/renamed.pdf"].sha512) == "v1/content/art1/article.pdf"
    assert inv.content_path(digests(V2)["art1/article.xml"].sha512) == "v1/content/art1/article.xml"
    assert len(inv.manifest) == 6 and all(len(p) == 1 for p in inv.manifest.values())
    assert sum(len(p) for p in inv.fixity["sha256"].values()) == 6


def test_plan_identical_deposit_is_unchanged():
    v1 = plan_version(None, AU, digests(V1), WHEN, "first", ARCHIVIST).inventory
    plan = plan_version(v1, AU, digests(V1), LATER, "same again", ARCHIVIST)
    assert plan.unchanged and plan.version == "v1" and plan.new_content == [] and plan.inventory is v1
    assert OcflWriter(MemoryBlobStore()).write_version(plan, opener(V1)) == []


@pytest.mark.parametrize("path", ["", "/abs.xml", "dir/", "a//b", "./a", "a/../b", "a/.", ".."])
def test_plan_rejects_bad_logical_paths(path):
    with pytest.raises(InventoryError, match="logical path"):
        plan_version(None, AU, {path: digests({"x": b"x"})["x"]}, WHEN, "m", ARCHIVIST)


def test_plan_rejects_file_and_directory_at_one_path():
    with pytest.raises(InventoryError, match="also a directory"):
        plan_version(None, AU, digests({"a": b"1", "a/b": b"2"}), WHEN, "m", ARCHIVIST)


def test_plan_rejects_inconsistent_inputs():
    good = digests({"a": b"1"})["a"]
    liar = FileDigest(good.sha512, "0" * 64, good.size)
    v1 = plan_version(None, AU, {"a": good}, WHEN, "m", ARCHIVIST).inventory
    with pytest.raises(InventoryError, match="sha256"):
        plan_version(v1, AU, {"b": liar}, LATER, "m", ARCHIVIST)
    with pytest.raises(InventoryError, match="not 'other/id/x'"):
        plan_version(v1, "other/id/x", {"a": good}, LATER, "m", ARCHIVIST)
    with pytest.raises(InventoryError, match="time zone"):
        plan_version(None, AU, {"a": good}, datetime(2024, 1, 1), "m", ARCHIVIST)
    with pytest.raises(InventoryError):
        FileDigest("xyz", good.sha256, 1)


def test_inventory_json_is_stable_and_round_trips():
    inv = plan_version(
        plan_version(None, AU, digests(V1), WHEN, "first", ARCHIVIST).inventory,
        AU,
        digests(V2),
        LATER,
        "second",
        {"name": "n", "address": "mailto:n@x"},
    ).inventory
    data = inv.to_json()
    assert Inventory.from_json(data).to_json() == data
    raw = json.loads(data)
    assert list(raw) == ["id", "type", "digestAlgorithm", "head", "manifest", "versions", "fixity"]
    assert raw["type"] == "https://ocfl.io/1.1/spec/#inventory" and raw["digestAlgorithm"] == "sha512"
    assert list(raw["manifest"]) == sorted(raw["manifest"])
    assert raw["versions"]["v2"]["user"] == {"name": "n", "address": "mailto:n@x"}
    assert data.startswith(b"{\n  ")
    with pytest.raises(InventoryError, match="not JSON"):
        Inventory.from_json(b"{")
    with pytest.raises(InventoryError, match="sha512"):
        Inventory.from_json(json.dumps({**raw, "digestAlgorithm": "sha256"}).encode())


def test_sidecar_format():
    body = b'{"id": "x"}\n'
    name, side = sidecar(body)
    assert name == "inventory.json.sha512"
    assert side == f"{hashlib.sha512(body).hexdigest()} inventory.json\n".encode()


# --- writing, reading, validating -----------------------------------------------------------------


def test_write_v1_v2_only_new_content_and_ocfl_py_validates(store, tmp_path):
    plan1, keys1 = write(store, V1)
    root = object_root(AU)
    assert keys1[0] == f"{root}/0=ocfl_object_1.1"
    assert keys1[-4:] == [
        f"{root}/v1/inventory.json",
        f"{root}/v1/inventory.json.sha512",
        f"{root}/inventory.json",
        f"{root}/inventory.json.sha512",
    ]
    assert read_inventory(store, AU) == plan1.inventory
    ok, messages = validate(store, tmp_path, "after-v1")
    assert ok, messages

    before = set(store.objects)
    plan2, keys2 = write(store, V2, read_inventory(store, AU), LATER)
    added = set(store.objects) - before
    new_version_keys = {f"{root}/{cp}" for cp, _ in plan2.new_content} | {
        f"{root}/v2/inventory.json",
        f"{root}/v2/inventory.json.sha512",
    }
    assert added == new_version_keys
    assert set(keys2) == new_version_keys | {f"{root}/inventory.json", f"{root}/inventory.json.sha512"}
    assert [k for k in keys2 if "/content/" in k] == [
        f"{root}/v2/content/art1/article.pdf",
        f"{root}/v2/content/art3/again.xml",
    ]
    assert f"{root}/0=ocfl_object_1.1" not in keys2
    assert read_inventory(store, AU).head == "v2"
    assert store.objects[f"{root}/v2/inventory.json"] == store.objects[f"{root}/inventory.json"]
    ok, messages = validate(store, tmp_path, "after-v2")
    assert ok, messages
    # Expected warning only: W005, the id publisher/title/au is not a URI.
    assert codes(messages) <= {"W005"}, messages
    assert list(list_object_ids(store)) == [AU]


def test_validator_catches_a_tampered_copy(store, tmp_path):
    write(store, V1)
    ok, _ = validate(store, tmp_path, "good")
    assert ok
    store.objects[f"{object_root(AU)}/v1/content/art1/article.pdf"] = b"%PDF-1.7 bitrot"
    ok, messages = validate(store, tmp_path, "tampered")
    assert not ok and any(c.startswith("E092") for c in codes(messages)), messages


def test_validator_catches_a_missing_sidecar(store, tmp_path):
    write(store, V1)
    del store.objects[f"{object_root(AU)}/v1/inventory.json.sha512"]
    ok, messages = validate(store, tmp_path)
    assert not ok and codes(messages) & {"E058a", "E058b"}, messages


def test_content_goes_to_the_store_as_a_stream_with_its_sha256(store):
    calls = []
    real_put = store.put

    def spy(key, body, *, sha256=None, content_type=None):
        calls.append((key, type(body), sha256))
        return real_put(key, body, sha256=sha256, content_type=content_type)

    store.put = spy
    plan, _ = write(store, V1)
    content = [c for c in calls if "/content/" in c[0]]
    assert len(content) == len(plan.new_content)
    assert all(t is io.BytesIO and s and len(s) == 64 for _, t, s in content)


def test_sha256_of_must_agree_with_the_plan(store):
    plan = plan_version(None, AU, digests(V1), WHEN, "m", ARCHIVIST)
    with pytest.raises(InventoryError, match="disagrees"):
        OcflWriter(store).write_version(
            plan,
            opener(V1),
            sha256_of=lambda lp: "0" * 64 if lp == "manifest-sha256.txt" else hashlib.sha256(V1[lp]).hexdigest(),
        )
    assert not any("/content/" in k for k in store.objects)  # checked before anything is written
    sha = {p: hashlib.sha256(b).hexdigest() for p, b in V1.items()}
    assert OcflWriter(store).write_version(plan, opener(V1), sha256_of=sha.__getitem__)


def test_changed_source_is_refused_by_the_store(store):
    plan = plan_version(None, AU, digests(V1), WHEN, "m", ARCHIVIST)
    swapped = {**V1, "art1/article.pdf": b"not what was hashed"}
    with pytest.raises(ValueError, match="checksum mismatch"):
        OcflWriter(store).write_version(plan, opener(swapped))
    assert read_inventory(store, AU) is None


def test_stale_plan_is_refused(store):
    write(store, V1)
    stale = plan_version(None, AU, digests(V2), LATER, "m", ARCHIVIST)
    with pytest.raises(VersionConflict, match="re-plan"):
        OcflWriter(store).write_version(stale, opener(V2))


# --- crashes --------------------------------------------------------------------------------------


class CrashingStore(MemoryBlobStore):
    """A bucket whose writer dies after `budget` more puts (S3 puts are atomic: no partial objects)."""

    budget: int | None = None

    def put(self, key, body, **kw):
        if self.budget is not None:
            if self.budget == 0:
                raise ConnectionError("simulated crash")
            self.budget -= 1
        return super().put(key, body, **kw)


def plan_version_name(previous) -> str:
    """The version a write after `previous` creates (v1 when there is none)."""
    return f"v{len(previous.versions) + 1}" if previous else "v1"


def _puts_needed(files, previous_files=None) -> int:
    s = CrashingStore()
    OcflWriter(s).ensure_storage_root()
    prev = write(s, previous_files)[0].inventory if previous_files else None
    before = sum(1 for _ in s.objects) + sum(len(h) for h in s.history.values())
    write(s, files, prev, LATER)
    return sum(1 for _ in s.objects) + sum(len(h) for h in s.history.values()) - before


@pytest.mark.parametrize("previous_files, files", [(None, V1), (V1, V2)], ids=["first-version", "second-version"])
def test_crash_at_every_put_keeps_the_previous_version_and_a_rerun_completes(previous_files, files, tmp_path):
    total = _puts_needed(files, previous_files)
    assert total >= 5
    for n in range(total):
        s = CrashingStore()
        OcflWriter(s).ensure_storage_root()
        prev = write(s, previous_files)[0].inventory if previous_files else None
        s.budget = n
        with pytest.raises(ConnectionError):
            write(s, files, prev, LATER, message="interrupted")
        s.budget = None
        assert read_inventory(s, AU) == prev, f"crash after {n} puts exposed a half-written version"
        assert list(list_object_ids(s)) == ([AU] if prev else [])
        if n < total - 1:
            # A write that fails before the commit point cleans up after itself: the storage root is
            # valid as it stands, with no re-run (an ingest that is refused is never re-run). The last
            # put, the root sidecar after the root inventory, is past the commit point: a re-run ends it.
            ok, messages = validate(s, tmp_path, f"failed-{n}", objects=1 if prev else 0)
            assert ok, (n, messages)
            root = object_root(AU)
            assert not [k for k in s.objects if k.startswith(f"{root}/{plan_version_name(prev)}/")]

        # The re-run plans again (new timestamp, new message) from what the store says.
        again = read_inventory(s, AU)
        plan, _ = write(s, files, again, datetime(2024, 7, 1, tzinfo=UTC), message="re-run")
        assert read_inventory(s, AU) == plan.inventory
        assert plan.inventory.head_version.message == "re-run"
        ok, messages = validate(s, tmp_path, f"crash-{n}")
        assert ok, (n, messages)


def test_rerun_with_a_different_deposit_clears_the_crashed_attempt(tmp_path):
    s = CrashingStore()
    OcflWriter(s).ensure_storage_root()
    prev = write(s, V1)[0].inventory
    s.budget = 2  # both new content files of V2 land, then the writer dies
    with pytest.raises(ConnectionError):
        write(s, V2, prev, LATER)
    s.budget = None
    other = {"art9/article.xml": b"<article>nine</article>"}
    write(s, other, read_inventory(s, AU), LATER)
    assert not any(k.endswith("v2/content/art1/article.pdf") for k in s.objects)
    ok, messages = validate(s, tmp_path)
    assert ok, messages


# --- reading: sidecars, damage -------------------------------------------------------------------


def test_sidecar_mismatch_is_detected(store):
    write(store, V1)
    write(store, V2, read_inventory(store, AU), LATER)
    key = f"{object_root(AU)}/inventory.json"
    store.objects[key] = store.objects[key].replace(b'"second', b'"tampered').replace(b"deposit", b"dep0sit")
    with pytest.raises(InventoryDigestMismatch, match="damaged.*repair it from a node"):
        read_inventory(store, AU)
    with pytest.raises(InventoryDigestMismatch):
        list(list_object_ids(store))
    seen = []
    assert list(list_object_ids(store, on_damaged=lambda root, e: seen.append(root))) == []
    assert seen == [object_root(AU)]


def test_missing_root_inventory_with_a_sidecar_is_damage(store):
    write(store, V1)
    del store.objects[f"{object_root(AU)}/inventory.json"]
    with pytest.raises(InventoryDigestMismatch, match="inventory.json does not"):
        read_inventory(store, AU)


def test_read_inventory_of_an_absent_object(store):
    assert read_inventory(store, AU) is None
    assert list(list_object_ids(store)) == []


def test_list_object_ids_finds_every_object_and_ignores_lookalike_content(store):
    ids = ["pub-a/title-1/2023", "pub-a/title-1/2024", "pub-b/t/v1"]
    for object_id in ids:
        files = {"0=ocfl_object_1.1": b"a publisher's file with an unlucky name", "x.xml": object_id.encode()}
        OcflWriter(store).write_version(
            plan_version(None, object_id, digests(files), WHEN, "m", ARCHIVIST), opener(files)
        )
    assert sorted(list_object_ids(store)) == sorted(ids)


# --- logs -----------------------------------------------------------------------------------------


def test_append_log_is_append_only_and_valid_ocfl(store, tmp_path):
    with pytest.raises(NotFound, match="write its first version"):
        append_log(store, AU, "20240501T120000Z-ingest.jsonl", b"{}\n")
    write(store, V1)
    event = b'{"eventType": "ingestion", "outcome": "success"}\n'
    key = append_log(store, AU, "20240501T120000Z-ingest.jsonl", event)
    assert key == f"{object_root(AU)}/logs/20240501T120000Z-ingest.jsonl" and store.objects[key] == event
    with pytest.raises(LogExists, match="append-only"):
        append_log(store, AU, "20240501T120000Z-ingest.jsonl", b"rewrite")
    for bad in ("a/b.jsonl", "..", ""):
        with pytest.raises(InventoryError):
            append_log(store, AU, bad, b"x")
    write(store, V2, read_inventory(store, AU), LATER)  # logs don't disturb later versions
    ok, messages = validate(store, tmp_path)
    assert ok, messages


def test_read_logs_returns_bodies_in_name_order(store):
    write(store, V1)
    append_log(store, AU, "20240601T000000Z-b.jsonl", b"second\n")
    append_log(store, AU, "20240501T000000Z-a.jsonl", b"first\n")
    assert list(read_logs(store, AU)) == [b"first\n", b"second\n"]


# --- sizes and head state (what ingest merges and rebuild counts) ---------------------------------


def test_head_state_digests_come_back_from_the_bucket(store):
    write(store, V1)
    write(store, V2, read_inventory(store, AU), LATER)
    inv = read_inventory(store, AU)
    assert inv.head_state_digests() == digests(V2)
    # Fed back unchanged, the state plans nothing.
    assert plan_version(inv, AU, inv.head_state_digests(), LATER, "again", ARCHIVIST).unchanged
    # The plan itself knows the sizes too, without a store.
    plan = plan_version(None, AU, digests(V1), WHEN, "m", ARCHIVIST)
    assert plan.inventory.head_state_digests() == digests(V1)
    # inventory.json does not carry sizes: a bare parse says what to do.
    with pytest.raises(InventoryError, match="read_inventory"):
        Inventory.from_json(plan.inventory.to_json()).head_state_digests()
    assert read_inventory(store, AU, sizes=False).sizes == {}


def test_storage_root_keys_lists_the_root_files_declaration_last(store):
    keys = storage_root_keys()
    assert keys[-1] == "0=ocfl_1.1" and all(k in store.objects for k in keys)
