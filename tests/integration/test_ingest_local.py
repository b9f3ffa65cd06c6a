"""Ingest as a publisher sees it, against the real local archive (SeaweedFS + moto + router)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
import uuid
from pathlib import Path

import ocfl
import pytest

from strongroom.config import settings
from strongroom.local import identities, runtime
from strongroom.local.demo.samples import JournalSpec, make_articles, make_package

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("archive")]


def new_publisher(archive) -> str:
    name = f"pub-{uuid.uuid4().hex[:8]}"
    archive.cli("local", "add-publisher", name)
    return name


def sample(tmp_path: Path, publisher: str, au: str = "2024", n: int = 2, seed: int = 1, **kw) -> Path:
    journal = JournalSpec(publisher=publisher, title="jtest")
    out = tmp_path / f"pkg-{seed}"
    out.mkdir(exist_ok=True)
    return make_package(
        out, publisher=publisher, title="jtest", au=au, articles=make_articles(n, seed, journal), seed=seed, **kw
    )


def export_node(s3, bucket: str, dest: Path) -> Path:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            path = dest / obj["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(path))
    return dest


def test_a_deposit_is_preserved_on_twelve_nodes_each_a_valid_ocfl_storage_root(local_archive, tmp_path):
    publisher = new_publisher(local_archive)
    package = sample(tmp_path, publisher)
    out = local_archive.cli("deposit", str(package), "--publisher", publisher, "--title", "jtest", "--au", "2024")
    assert "PRESERVED" in out.stdout and "copies 12/12" in out.stdout, out.stdout

    s3, _ = local_archive.clients()
    receipt = json.loads(
        s3.get_object(Bucket=settings().ingest_bucket, Key=f"receipts/{publisher}/jtest/2024/{package.name}.json")[
            "Body"
        ].read()
    )
    assert receipt["status"] == "preserved" and receipt["copies"]["count"] == "12/12"
    # Any node, copied to disk, is an OCFL storage root that ocfl-py validates with digests checked.
    node = settings().nodes[6]
    root = export_node(s3, node.bucket, tmp_path / node.region)
    storage_root = ocfl.StorageRoot(root=str(root))
    assert storage_root.validate(check_digests=True)
    assert storage_root.num_objects >= 1 and storage_root.good_objects == storage_root.num_objects
    assert (root / "strongroom-storage-root.md").exists()


def test_a_bad_package_is_rejected_kept_untouched_and_its_report_readable_by_its_publisher(local_archive, tmp_path):
    publisher = new_publisher(local_archive)
    package = sample(tmp_path, publisher, extra_bag_info={"Strongroom-AU": "1999"})
    out = local_archive.cli(
        "deposit", str(package), "--publisher", publisher, "--title", "jtest", "--au", "2024", check=False
    )
    assert out.returncode == 1 and "REJECTED" in out.stdout and "au-mismatch" in out.stdout, out.stdout

    archive_s3, _ = local_archive.clients()
    kept = archive_s3.get_object(
        Bucket=settings().ingest_bucket, Key=f"quarantine/{publisher}/jtest/2024/{package.name}"
    )["Body"].read()
    assert kept == package.read_bytes()
    publisher_s3, _ = local_archive.clients(publisher)
    report = json.loads(
        publisher_s3.get_object(
            Bucket=settings().ingest_bucket, Key=f"rejections/{publisher}/jtest/2024/{package.name}.json"
        )["Body"].read()
    )
    assert report["status"] == "rejected" and all(p["fix"] for p in report["problems"])


def test_the_catalog_wiped_and_rebuilt_from_a_node_gives_the_same_status(local_archive, tmp_path):
    publisher = new_publisher(local_archive)
    local_archive.cli(
        "deposit",
        str(sample(tmp_path, publisher, seed=3)),
        "--publisher",
        publisher,
        "--title",
        "jtest",
        "--au",
        "2024",
    )
    before = json.loads(local_archive.cli("status", "--json").stdout)
    assert any(a["au"] == f"{publisher}/jtest/2024" for a in before["aus"])

    _, dynamodb = local_archive.clients()
    table = settings().catalog_table
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            dynamodb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    assert json.loads(local_archive.cli("status", "--json").stdout)["aus"] == []

    local_archive.cli("catalog", "rebuild")
    assert json.loads(local_archive.cli("status", "--json").stdout) == before


def test_a_package_pushed_while_the_runtime_is_killed_is_ingested_when_it_comes_back(local_archive, tmp_path):
    publisher = new_publisher(local_archive)
    package = sample(tmp_path, publisher, seed=5)
    os.kill(local_archive.state()["pid"], signal.SIGKILL)
    time.sleep(0.5)
    # The storage server outlives its supervisor, so the publisher's PUT is acknowledged...
    endpoints = dataclasses.replace(local_archive.endpoints, identities=identities.load(local_archive.data_dir))
    s3, _ = runtime.clients(endpoints, publisher)
    key = f"incoming/{publisher}/jtest/2024/{package.name}"
    s3.upload_file(str(package), settings().ingest_bucket, key)
    # ... and when the archive comes back, nothing acknowledged is lost.
    local_archive.start()
    s3, _ = local_archive.clients(publisher)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            doc = json.loads(
                s3.get_object(
                    Bucket=settings().ingest_bucket, Key=f"receipts/{publisher}/jtest/2024/{package.name}.json"
                )["Body"].read()
            )
            break
        except s3.exceptions.NoSuchKey:
            time.sleep(1)
    else:
        raise AssertionError(f"no receipt for {key} after the restart:\n{local_archive.log()[-3000:]}")
    assert doc["status"] == "preserved"


def test_a_killed_catalog_server_is_restarted_and_the_catalog_rebuilt_from_the_buckets(local_archive, tmp_path):
    publisher = new_publisher(local_archive)
    local_archive.cli(
        "deposit",
        str(sample(tmp_path, publisher, seed=7)),
        "--publisher",
        publisher,
        "--title",
        "jtest",
        "--au",
        "2024",
    )
    before = json.loads(local_archive.cli("status", "--json").stdout)
    moto_pid = local_archive.state()["servers"]["moto"]["pid"]
    os.kill(moto_pid, signal.SIGKILL)  # moto keeps the catalog in memory: all of it is gone
    deadline = time.time() + 90
    while time.time() < deadline:
        pid = local_archive.state().get("servers", {}).get("moto", {}).get("pid")
        if pid not in (None, moto_pid):
            out = local_archive.cli("status", "--json", check=False)
            if out.returncode == 0 and json.loads(out.stdout) == before:
                return
        time.sleep(1)
    raise AssertionError(f"the catalog did not come back after moto was killed:\n{local_archive.log()[-3000:]}")


def test_a_correction_put_to_the_same_key_right_after_the_first_is_ingested_too(local_archive, tmp_path):
    """The attack (issue 14): a corrected package PUT to the same key while the first was being
    ingested was acknowledged by S3 and never ingested. Both versions become AU versions, in order."""
    publisher = new_publisher(local_archive)
    (tmp_path / "fix").mkdir()
    first, corrected = sample(tmp_path, publisher, seed=1), sample(tmp_path / "fix", publisher, seed=2)
    assert first.name == corrected.name
    s3, _ = local_archive.clients(publisher)
    bucket, key = settings().ingest_bucket, f"incoming/{publisher}/jtest/2024/{first.name}"
    s3.put_object(Bucket=bucket, Key=key, Body=first.read_bytes())
    second = s3.put_object(Bucket=bucket, Key=key, Body=corrected.read_bytes())["VersionId"]

    archive_s3, _ = local_archive.clients()
    receipt_key = f"receipts/{publisher}/jtest/2024/{first.name}.json"
    deadline = time.monotonic() + 120
    receipt: dict = {}
    while time.monotonic() < deadline:  # waiting for the archive, not timing it
        try:
            receipt = json.loads(archive_s3.get_object(Bucket=bucket, Key=receipt_key)["Body"].read())
        except archive_s3.exceptions.NoSuchKey:
            receipt = {}
        if receipt.get("ocfl", {}).get("version") == "v2":  # both versions ingested
            break
        time.sleep(0.5)
    assert receipt.get("ocfl", {}).get("version") == "v2", receipt  # the first lost: only one version
    assert receipt["status"] == "preserved" and receipt["package"]["version_id"] == second, receipt
    versions = archive_s3.list_object_versions(Bucket=bucket, Prefix=key)
    assert not versions.get("Versions") and not versions.get("DeleteMarkers"), versions
