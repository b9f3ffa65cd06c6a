"""Audit against the real local archive: damage in node buckets behind the archive's back, then
`strongroom audit` finds and repairs all of it, keeps the evidence, publishes the attestation;
a node taken offline mid-poll is unavailable, never damaged."""

from __future__ import annotations

import json
import threading
import uuid

import pytest

from strongroom.adapters.s3 import S3BlobStore
from strongroom.commands.audit import damage
from strongroom.config import settings
from strongroom.domain.ocfl.layout import object_root
from strongroom.local.demo.samples import JournalSpec, make_articles, make_package

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("archive")]

NODE = {n.region: n.bucket for n in settings().nodes}


@pytest.fixture(scope="module")
def au(local_archive, tmp_path_factory) -> str:
    """An AU of a new publisher with two OCFL versions (so inventory.json has an older S3 version)."""
    publisher = f"aud-{uuid.uuid4().hex[:8]}"
    local_archive.cli("local", "add-publisher", publisher)
    journal = JournalSpec(publisher=publisher, title="jaud")
    tmp = tmp_path_factory.mktemp("audit-packages")
    for seed, start in ((1, 1), (2, 3)):
        out = tmp / f"pkg-{seed}"
        out.mkdir()
        package = make_package(
            out,
            publisher=publisher,
            title="jaud",
            au="2024",
            articles=make_articles(2, seed, journal, start=start),
            seed=seed,
        )
        local_archive.cli("deposit", str(package), "--publisher", publisher, "--title", "jaud", "--au", "2024")
    return f"{publisher}/jaud/2024"


def content_keys(s3, bucket: str, au: str) -> list[str]:
    root = object_root(au)
    return sorted(
        o["Key"]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix=root + "/").get("Contents", [])
        if "/content/" in o["Key"]
    )


def versions(s3, bucket: str, key: str) -> list[dict]:
    return [v for v in s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", []) if v["Key"] == key]


def test_every_damage_is_found_repaired_and_kept_as_evidence(local_archive, au):
    s3 = local_archive.clients().s3
    root = object_root(au)
    flipped = content_keys(s3, NODE["ap-northeast-1"], au)[0]
    deleted = content_keys(s3, NODE["eu-central-1"], au)[1]
    truncated = content_keys(s3, NODE["eu-south-1"], au)[2]
    rel = lambda key: key[len(root) + 1 :]

    out = local_archive.cli("chaos", "flip", "--node", "ap-northeast-1", "--au", au, "--file", rel(flipped)).stdout
    assert "bit(s) flipped" in out
    # The same chaos in process (no interpreter start per act), straight into the node buckets.
    damage(S3BlobStore(s3, NODE["eu-central-1"]), au, "delete", [rel(deleted)])
    damage(S3BlobStore(s3, NODE["eu-south-1"]), au, "truncate", [rel(truncated)])
    out = local_archive.cli(
        "chaos", "rollback", "--node", "ap-southeast-2", "--au", au, "--file", "inventory.json"
    ).stdout
    assert "made current again" in out
    damaged_flip = s3.head_object(Bucket=NODE["ap-northeast-1"], Key=flipped)["VersionId"]

    result = local_archive.cli("audit", au, "--quiet")
    assert "REPAIRED" in result.stdout, result.stdout
    for region in ("ap-northeast-1", "eu-central-1", "eu-south-1", "ap-southeast-2"):
        assert f"repaired {region}:" in result.stdout, result.stdout
    lines = {
        line.split()[0]: line
        for line in result.stdout.splitlines()
        if line.startswith("  ") and line.split()[0] in NODE
    }
    assert all(line.rstrip().endswith(("ok", "repaired")) for line in lines.values()), result.stdout

    # The damaged bytes stay, noncurrent: the evidence of what the node held.
    kept = versions(s3, NODE["ap-northeast-1"], flipped)
    assert damaged_flip in {v["VersionId"] for v in kept if not v["IsLatest"]} and len(kept) >= 3
    assert len(versions(s3, NODE["eu-central-1"], deleted)) >= 2  # the original and the repaired copy
    assert len(versions(s3, NODE["ap-southeast-2"], f"{root}/inventory.json")) >= 4  # v1, v2, rolled back, repaired

    # A second poll finds every copy agreeing.
    again = local_archive.cli("audit", au, "--quiet").stdout
    assert f"{au}: OK" in again, again

    # The attestation is public and content-free; status shows the grid.
    attested = json.loads(s3.get_object(Bucket=settings().public_bucket, Key=f"attestation/{au}.json")["Body"].read())
    assert attested["result"] == "ok" and attested["agreement"] == 12 and attested["digests"]
    index = json.loads(s3.get_object(Bucket=settings().public_bucket, Key="attestation/index.json")["Body"].read())
    assert au in {a["au"] for a in index["aus"]}
    status = json.loads(local_archive.cli("status", "--json").stdout)
    row = next(r for r in status["aus"] if r["au"] == au)
    assert row["grid"] == "✓" * 12 and row["last_poll_status"] == "ok"


def test_a_node_offline_mid_poll_is_unavailable_not_damaged(local_archive, au, monkeypatch):
    from strongroom.commands import audit as audit_commands
    from strongroom.flows.audit import local_voter, run_poll
    from strongroom.handlers import compose
    from strongroom.local import runtime, template

    for name, value in runtime.lambda_environment(runtime.connect(local_archive.data_dir), template.load()).items():
        monkeypatch.setenv(name, value)
    compose.clients.s3.cache_clear()
    compose.clients.dynamodb.cache_clear()
    archive = compose.archive()
    target = "ap-east-1"  # its vote starts once us-east-2's vote has taken it offline
    outage = threading.Event()

    def voter(region, store, au_, nonce, keys=None):
        if region == "us-east-2" and keys is None:
            audit_commands.set_node_offline(local_archive.data_dir, target, True)
            outage.set()
        elif region == target and keys is None:
            assert outage.wait(120), "us-east-2's vote never started"
        return local_voter(region, store, au_, nonce, keys)

    try:
        report = run_poll(archive, au, voter=voter)
        assert report.nodes[target] == "unavailable", report.nodes
        assert all(s == "ok" for r, s in report.nodes.items() if r != target), report.nodes
        assert report.status == "ok" and report.agreement == 11
        # The archive's own identity really is refused there: a real outage, not a flag.
        with pytest.raises(Exception, match="AccessDenied|403"):
            local_archive.clients().s3.list_objects_v2(Bucket=NODE[target], MaxKeys=1)
        out = local_archive.cli("status").stdout
        assert "?" in next(line for line in out.splitlines() if line.startswith(au))
    finally:
        audit_commands.set_node_offline(local_archive.data_dir, target, False)
        compose.clients.s3.cache_clear()
        compose.clients.dynamodb.cache_clear()
    local_archive.clients().s3.list_objects_v2(Bucket=NODE[target], MaxKeys=1)  # back online
