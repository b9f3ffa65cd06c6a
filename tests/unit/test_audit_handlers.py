"""The audit's Lambda handlers over in-memory stores: planner, on-demand poll, per-region auditor, fan-out."""

from __future__ import annotations

import gzip
import io
import json
import random
import threading

import pytest

from strongroom.adapters.lambda_voter import LambdaVoter
from strongroom.domain import ocfl
from strongroom.handlers import audit, auditor, compose
from strongroom.local.demo import chaos
from tests.audit_support import AUS, build_archive, clone, record_inventory_digests
from tests.fakes import MemoryBlobStore


class Context:
    function_name = "strongroom-audit"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:strongroom-audit"
    aws_request_id = "test"

    def __init__(self, remaining_ms: int = 900_000):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    archive = build_archive(tmp_path_factory.mktemp("audit-handlers"))
    record_inventory_digests(archive)
    return archive


@pytest.fixture
def wired(base, monkeypatch):
    archive, public = clone(base), MemoryBlobStore("public")
    monkeypatch.setattr(compose, "archive", lambda *a, **k: archive)
    monkeypatch.setattr(compose, "public_store", lambda *a, **k: public)
    monkeypatch.setattr(compose, "voter", lambda *a, **k: None)
    return archive, public


def emf(out: str, metric: str) -> list[dict]:
    """The EMF records printed that carry metric, with single values unwrapped."""
    records = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    unwrap = lambda v: v[0] if isinstance(v, list) and len(v) == 1 else v
    return [{k: unwrap(v) for k, v in r.items()} for r in records if metric in r]


def content_key(archive, au, node=0):
    root = ocfl.object_root(au)
    return sorted(k for k in archive.nodes[node].store.objects if k.startswith(root) and "/content/" in k)[0]


def test_schedule_polls_every_due_au_repairs_and_publishes(wired, capsys):
    archive, public = wired
    key = content_key(archive, AUS[0])
    chaos.flip_bits(archive.nodes[9].store, key, rng=random.Random(1))

    result = audit.handler({}, Context())

    assert result["planned"] is True
    assert sorted(p["au"] for p in result["polls"]) == sorted(AUS)
    first = next(p for p in result["polls"] if p["au"] == AUS[0])
    assert first["status"] == "repaired" and first["repaired"] == 1
    assert first["nodes"][archive.nodes[9].node.region] == "repaired"
    assert "attestation/index.json" in public.objects and f"attestation/{AUS[0]}.html" in public.objects
    # EMF: one record per poll, with the counts the alarm and dashboards read.
    records = emf(capsys.readouterr().out, "Repairs")
    assert {e["Repairs"] for e in records} == {0, 1} and all(e["Unrepairable"] == 0 for e in records)
    assert any(e["FilesDamaged"] == 1 for e in records)
    assert all(e["BytesHashed"] > 0 for e in records)


def test_nothing_due_after_a_poll(wired):
    audit.handler({}, Context())
    again = audit.handler({}, Context())
    assert again["polls"] == [] and again["left"] == []


def test_on_demand_polls_just_those_aus(wired):
    result = audit.handler({"aus": [AUS[1]]}, Context())
    assert [p["au"] for p in result["polls"]] == [AUS[1]] and result["planned"] is False


def test_stops_starting_polls_when_time_runs_out(wired):
    result = audit.handler({}, Context(remaining_ms=audit.MARGIN_MS - 1))
    assert result["polls"] == [] and sorted(result["left"]) == sorted(AUS)


@pytest.mark.parametrize("event", [[], {"aus": "acme/jbio/2024"}, {"aus": ["Not An AU"]}])
def test_bad_requests_say_what_is_expected(wired, event):
    with pytest.raises(ValueError, match="AU|aus|JSON object"):
        audit.handler(event, Context())


def test_unrepairable_is_counted_for_the_alarm(wired, capsys):
    archive, _ = wired
    key = content_key(archive, AUS[1])
    for ns in archive.nodes:
        chaos.replace(ns.store, key, b"gone everywhere")
    result = audit.handler({"aus": [AUS[1]]}, Context())
    assert result["polls"][0]["status"] == "unrepairable"
    records = emf(capsys.readouterr().out, "Unrepairable")
    assert records and records[-1]["Unrepairable"] == 1


# ---------------------------------------------------------------- the per-region auditor


def test_auditor_votes_on_its_own_node_only_and_hands_the_vote_over(base, monkeypatch):
    archive = clone(base)
    store, votes = archive.nodes[3].store, MemoryBlobStore("ingest")
    region = archive.nodes[3].node.region
    monkeypatch.setattr(compose, "auditor_store", lambda: store)
    monkeypatch.setattr(compose, "votes_store", lambda: votes)
    monkeypatch.setenv("AWS_REGION", region)
    nonce = "ab" * 32
    out = auditor.handler({"au": AUS[0], "nonce": nonce, "node": region}, Context())
    # The answer is small whatever the AU's size; the vote itself is in the hand-over bucket.
    assert out["vote_key"] == f"audit/votes/{AUS[0]}/{nonce}/{region}.json.gz" and len(json.dumps(out)) < 300
    vote = json.loads(gzip.decompress(votes.objects[out["vote_key"]]))
    assert vote["node"] == region and vote["nonce"] == nonce and len(vote["files"]) == out["files"] > 0
    assert all(set(f) == {"nonce_hash", "sha512", "size", "version_id"} for f in vote["files"].values())
    assert list(votes.objects) == [out["vote_key"]]  # nothing of the node's content, only the vote
    with pytest.raises(ValueError, match="serves"):
        auditor.handler({"au": AUS[0], "nonce": nonce, "node": "eu-west-2"}, Context())
    with pytest.raises(ValueError, match="nonce"):
        auditor.handler({"au": AUS[0]}, Context())


class FakeLambda:
    """Lambda.Invoke in one region: runs the auditor handler against that region's node store
    (one at a time: the handler's region and bucket are process-wide here, per function on AWS)."""

    serial = threading.Lock()

    def __init__(self, region, store, monkeypatch, votes, fail=False):
        self.region, self.store, self.monkeypatch, self.fail = region, store, monkeypatch, fail
        self.votes = votes

    def invoke(self, FunctionName, Payload):
        assert FunctionName == "strongroom-auditor"
        if self.fail:
            return {"FunctionError": "Unhandled", "Payload": io.BytesIO(b'{"errorMessage": "boom"}')}
        request = json.loads(Payload)
        assert request["node"] == self.region
        # what the function in that region sees: its own bucket, its own region
        with self.serial, self.monkeypatch.context() as m:
            m.setattr(compose, "auditor_store", lambda: self.store)
            m.setattr(compose, "votes_store", lambda: self.votes)
            m.setenv("AWS_REGION", self.region)
            body = auditor.handler(request, Context())
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode())}


def test_aws_path_fans_votes_out_to_the_auditors_and_tallies(wired, monkeypatch):
    archive, public = wired
    key = content_key(archive, AUS[0])
    chaos.truncate(archive.nodes[5].store, key)
    broken = archive.nodes[7].node.region
    votes = MemoryBlobStore("ingest")
    clients = {
        ns.node.region: FakeLambda(ns.node.region, ns.store, monkeypatch, votes, fail=ns.node.region == broken)
        for ns in archive.nodes
    }
    voter = LambdaVoter("strongroom-auditor", clients.__getitem__, votes)
    monkeypatch.setattr(compose, "voter", lambda *a, **k: voter)

    result = audit.handler({"aus": [AUS[0]]}, Context())

    poll = result["polls"][0]
    assert poll["nodes"][archive.nodes[5].node.region] == "repaired"
    assert poll["nodes"][broken] == "unavailable"  # a failed auditor is not a damaged copy
    assert poll["status"] == "repaired"


def test_a_handed_over_vote_that_is_missing_or_for_another_poll_counts_as_unavailable(base, monkeypatch):
    archive = clone(base)
    ns = archive.nodes[0]
    votes = MemoryBlobStore("ingest")
    fake = FakeLambda(ns.node.region, ns.store, monkeypatch, votes)
    voter = LambdaVoter("strongroom-auditor", lambda region: fake, votes)
    nonce = bytes(range(32))
    good = voter(ns.node.region, ns.store, AUS[0], nonce)
    assert not good.unavailable and good.files

    # A vote left by an earlier poll, copied to where this poll's must be: not counted.
    key = f"audit/votes/{AUS[0]}/{nonce.hex()}/{ns.node.region}.json.gz"
    stale = votes.objects[key]

    class Replays(FakeLambda):
        def invoke(self, FunctionName, Payload):
            request = json.loads(Payload)
            votes.put(f"audit/votes/{AUS[0]}/{request['nonce']}/{self.region}.json.gz", stale)
            return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps({"vote_key": "elsewhere"}).encode())}

    other = LambdaVoter(
        "strongroom-auditor",
        lambda region: Replays(ns.node.region, ns.store, monkeypatch, votes),
        votes,
    )
    replayed = other(ns.node.region, ns.store, AUS[0], bytes(32))
    assert replayed.unavailable and "another poll" in replayed.errors[0]

    class Forgets(FakeLambda):
        def invoke(self, FunctionName, Payload):
            return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps({"vote_key": "nowhere"}).encode())}

    lost = LambdaVoter(
        "strongroom-auditor",
        lambda region: Forgets(ns.node.region, ns.store, monkeypatch, votes),
        votes,
    )
    missing = lost(ns.node.region, ns.store, AUS[0], bytes([1]) * 32)
    assert missing.unavailable and "cannot be read" in missing.errors[0]
