"""`strongroom audit`, `strongroom chaos`: polls on demand and damage for demos and tests.

Both reach the local archive with the archive's own identity, through strongroom.handlers.compose as
the handlers do. `chaos` writes straight into one node's bucket, behind the archive's back
(the catalog and the other nodes know nothing of it): exactly what bit rot, an operator's
mistake or an attacker would do, so the next poll has something real to find.
"""

from __future__ import annotations

import io
import os
import random
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from strongroom.commands import reach
from strongroom.commands.archive import deposit_file, print_answer
from strongroom.config import settings
from strongroom.domain.au import AuId
from strongroom.domain.ocfl.layout import object_root
from strongroom.flows.audit import due_aus, local_voter, run_poll
from strongroom.handlers import compose
from strongroom.local import identities as ids
from strongroom.local import runtime
from strongroom.local.demo import chaos
from strongroom.local.demo.chaos import ChaosError
from strongroom.local.demo.samples import PRESS, make_articles, make_package
from strongroom.local.servers import process_is
from strongroom.render import attestation
from strongroom.render.status import report

CHAOS_KINDS = ("flip", "truncate", "delete", "replace", "rollback", "tamper-inventory", "wipe")
MARKS = {"ok": "✓", "repaired": "R", "damaged": "✗", "unrepairable": "✗", "unavailable": "?"}


# ---------------------------------------------------------------- registration


def register(sub) -> None:
    """Add this module's subcommands; each sets `run` to the function that carries it out."""
    audit = sub.add_parser("audit", help="poll AUs now: every node re-hashes its copy, damage is repaired")
    audit.add_argument("aus", nargs="*", metavar="AU", help="publisher/title/au (default: the AUs due)")
    audit.add_argument("--now", action="store_true", help="with no AU given: poll every AU, due or not")
    audit.add_argument("--quiet", action="store_true", help="no progress bar")
    audit.set_defaults(run=audit_command)

    chaos = sub.add_parser("chaos", help="damage copies in one node's bucket behind the archive's back (demos, tests)")
    kinds = chaos.add_subparsers(dest="chaos_kind", required=True)
    for kind in CHAOS_KINDS:
        p = kinds.add_parser(kind, help=_CHAOS_HELP[kind])
        p.add_argument("--node", required=True, help="the node's region, e.g. ap-northeast-1")
        p.add_argument("--au", required=True, help="publisher/title/au")
        if kind not in ("tamper-inventory", "wipe"):
            which = p.add_mutually_exclusive_group()
            which.add_argument(
                "--file",
                action="append",
                default=[],
                help="path inside the OCFL object, e.g. v1/content/pkg/data/a.pdf or inventory.json (repeatable)",
            )
            which.add_argument("--random", type=int, metavar="N", help="N content files chosen at random")
        p.add_argument("--seed", type=int, help="seed for --random and for which bits flip (repeatable runs)")
        p.set_defaults(run=chaos_command)
    for kind, what in (
        ("offline", "refuse the archive every request to a node (until `chaos online`)"),
        ("online", "let the archive reach a node again"),
    ):
        p = kinds.add_parser(kind, help=what)
        p.add_argument("node", help="the node's region")
        p.set_defaults(run=offline_command)


_CHAOS_HELP = {
    "flip": "flip bits in files (bit rot)",
    "truncate": "cut files to half their size",
    "delete": "delete files (the bucket keeps the bytes as a noncurrent version)",
    "replace": "replace files with other bytes",
    "rollback": "make a file's previous stored version current again (e.g. inventory.json)",
    "tamper-inventory": "forge one digest in the root inventory and rewrite its sidecar to match",
    "wipe": "delete every file of the AU on that node",
}


# ---------------------------------------------------------------- audit


class _Progress:
    """A store whose reads advance a tqdm bar: how far a poll has got through the bytes of twelve copies."""

    def __init__(self, store, bar):
        self.store, self.bar = store, bar

    def __getattr__(self, name):
        return getattr(self.store, name)

    def open(self, key, *, version_id=None):
        stream, bar = self.store.open(key, version_id=version_id), self.bar

        class Counted(io.RawIOBase):
            def readable(self):
                return True

            def read(self, n=-1):
                chunk = stream.read(n)
                bar.update(len(chunk))
                return chunk

            def close(self):
                stream.close()
                super().close()

        return Counted()


def progress_voter(bar):
    """The local voter, reading through a progress bar."""

    def voter(region, store, au, nonce, keys=None):
        bar.set_postfix_str(region)
        return local_voter(region, _Progress(store, bar), au, nonce, keys)

    return voter


def poll_aus(archive, aus: list[str], *, quiet: bool = False, out=sys.stdout) -> list:
    """Poll each AU (progress bar over the bytes every node hashes), print its tally, publish its attestation."""
    from tqdm import tqdm

    regions = [n.region for n in settings().nodes]
    public = compose.public_store()
    reports = []
    for au in aus:
        record = archive.catalog.get_au(au)
        total = (record.bytes if record else 0) * len(archive.nodes)
        with tqdm(total=total, unit="B", unit_scale=True, desc=au, disable=quiet, file=sys.stderr, leave=False) as bar:
            report = run_poll(archive, au, voter=progress_voter(bar))
        print(format_report(report), file=out)
        if report.status != "inconclusive":
            attestation.publish_au(archive, public, au, regions)
        reports.append(report)
    if reports:
        attestation.publish_index(archive, public, regions)
        print(f"attestation: s3://{public.name}/attestation/index.html (and index.json, one page per AU)", file=out)
    return reports


def format_report(report) -> str:
    """The tally of one poll as a table: per node ok/damaged/missing/extra, its status, and the repairs."""
    nodes = (report.tally or {}).get("nodes", {})
    lines = [
        f"{report.au}: {report.status.upper()} - {report.message}",
        f"  {'node':<16}{'ok':>5}{'damaged':>9}{'missing':>9}{'extra':>7}  status",
    ]
    for region, status in report.nodes.items():
        n = nodes.get(region, {})
        counts = (
            ("", "", "", "")
            if status == "unavailable"
            else (n.get("ok", 0), n.get("damaged", 0), n.get("missing", 0), n.get("extra", 0))
        )
        lines.append(
            f"  {region:<16}{counts[0]:>5}{counts[1]:>9}{counts[2]:>9}{counts[3]:>7}  {MARKS.get(status, '·')} {status}"
        )
    for a in report.repair.get("actions", []):
        if a["status"] == "repaired":
            lines.append(
                f"  repaired {a['node']}: {a['key']} ({a['was']}) from {a['source']}"
                + (f"/{a['source_key']}" if a["source_key"] != a["key"] else "")
                + f"; damaged bytes kept as version {a['evidence_version_id'] or '(none: it was missing)'}"
            )
        else:
            lines.append(f"  {a['status']} {a['node']}: {a['key']} ({a['was']}): {a['detail']}")
    for node, keys in (report.extra or {}).items():
        lines.append(
            f"  extra on {node} (reported, never deleted): {', '.join(keys[:5])}" + (" ..." if len(keys) > 5 else "")
        )
    return "\n".join(lines)


def audit_command(args) -> int:

    archive = reach.archive(args.data)
    for au in args.aus:
        try:
            AuId.parse(au)
        except ValueError as e:
            raise SystemExit(str(e)) from None
        if archive.catalog.get_au(au) is None:
            raise SystemExit(f"no AU {au} in the catalog; `strongroom status` lists them")
    aus = args.aus or ([r.au for r in archive.catalog.list_aus()] if args.now else due_aus(archive, archive.clock()))
    if not aus:
        print(
            "no AU is due; `strongroom audit --now` polls every AU anyway, `strongroom status` shows when each is due"
        )
        return 0
    reports = poll_aus(archive, aus, quiet=args.quiet)
    bad = [r.au for r in reports if r.unrepairable]
    if bad:
        print(f"ALARM: unrepairable files in {', '.join(bad)}; see the reports above", file=sys.stderr)
    return 1 if bad else 0


# ---------------------------------------------------------------- chaos


def node_store(archive, region: str):
    for ns in archive.nodes:
        if ns.node.region == region:
            return ns.store
    raise SystemExit(f"no node {region!r}; nodes are {', '.join(ns.node.region for ns in archive.nodes)}")


def content_files(store, au: str) -> list[str]:
    """The AU's content files on one node, relative to the object root (what --random picks from)."""

    root = object_root(au)
    return sorted(o.key[len(root) + 1 :] for o in store.list(f"{root}/") if "/content/" in o.key)


def damage(store, au: str, kind: str, files: Sequence[str] = (), *, rng: random.Random | None = None) -> list:
    """Do one kind of chaos to files of an AU on one node store; returns the Damages (ground truth)."""

    rng = rng or random.Random()
    root = object_root(au)
    if kind == "tamper-inventory":
        return [chaos.tamper_inventory(store, au, rng=rng)]
    if kind == "wipe":
        return [chaos.wipe_node(store, au)]
    done = []
    for rel in files:
        key = f"{root}/{rel}"
        if kind == "flip":
            done.append(chaos.flip_bits(store, key, n=3, rng=rng))
        elif kind == "truncate":
            done.append(chaos.truncate(store, key))
        elif kind == "delete":
            done.append(chaos.delete(store, key))
        elif kind == "replace":
            done.append(chaos.replace(store, key, b"not what was deposited\n" + rng.randbytes(64)))
        elif kind == "rollback":
            done.append(chaos.rollback(store, key))
        else:
            raise ValueError(f"unknown chaos {kind!r}; one of {CHAOS_KINDS}")
    return done


def chaos_command(args) -> int:

    archive = reach.archive(args.data)
    store = node_store(archive, args.node)
    if archive.catalog.get_au(args.au) is None:
        raise SystemExit(f"no AU {args.au} in the catalog; `strongroom status` lists them")
    rng = random.Random(args.seed)
    files = list(getattr(args, "file", []) or [])
    if args.chaos_kind not in ("tamper-inventory", "wipe") and not files:
        candidates = content_files(store, args.au)
        if not candidates:
            raise SystemExit(f"{args.node} holds no content of {args.au}; nothing to damage")
        files = rng.sample(candidates, min(args.random or 1, len(candidates)))
    try:
        done = damage(store, args.au, args.chaos_kind, files, rng=rng)
    except ChaosError as e:
        raise SystemExit(str(e)) from None
    for d in done:
        print(f"{d.kind} on {args.node} ({d.node}): {d.detail}")
        for key in d.keys:
            print(f"  {key} (the good bytes were version {d.before.get(key)})")
    print(f"the archive does not know yet; `strongroom audit {args.au}` finds and repairs it")
    return 0


def set_node_offline(data: Path, region: str, offline: bool, timeout: float = 15.0) -> None:
    """Revoke (or restore) the archive identity's rights on the node's bucket in the running SeaweedFS and
    wait until the server answers accordingly: from then on every request of the archive to it fails."""

    bucket = settings().node(region).bucket
    state = runtime.running_state(data)
    weed = ((state or {}).get("servers") or {}).get("weed", {}).get("pid")
    if not weed or not process_is(weed, "weed"):
        raise SystemExit(f"no local archive runs in {data}; start it with `strongroom up --detach`")
    ids.set_offline(data, bucket, offline)
    os.kill(weed, signal.SIGHUP)  # SeaweedFS re-reads its identities on SIGHUP
    s3 = runtime.clients(runtime.connect(data)).s3
    deadline = time.monotonic() + timeout
    while True:
        try:
            s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
            reachable = True
        except Exception as e:  # botocore's ClientError: the refusal we asked for
            if "AccessDenied" not in str(e) and "403" not in str(e):
                raise
            reachable = False
        if reachable != offline:
            return
        if time.monotonic() > deadline:
            raise SystemExit(
                f"SeaweedFS did not apply the change to {bucket} within {timeout:.0f}s; see {Path(data) / 'logs'}"
            )
        time.sleep(0.2)


def offline_command(args) -> int:
    offline = args.chaos_kind == "offline"
    if args.node not in {n.region for n in settings().nodes}:
        raise SystemExit(f"no node {args.node!r}; nodes are {', '.join(n.region for n in settings().nodes)}")
    set_node_offline(args.data, args.node, offline)
    print(
        f"{args.node} is {'offline: the archive is refused every request to it' if offline else 'online again'}"
        + (" (`strongroom chaos online " + args.node + "` brings it back)" if offline else "")
    )
    return 0


# ---------------------------------------------------------------- demo


def demo_section(data, say) -> None:
    """The demo's audit part: damage copies behind the archive's back, poll, show the repairs."""

    archive = reach.archive(data)
    aus = sorted(r.au for r in archive.catalog.list_aus())
    if len(aus) < 2:
        say("(the audit demo needs the deposits above; skipped)")
        return
    say("\n== A correction arrives: a second OCFL version, so there is an older inventory to roll back to ==")
    path = make_package(
        Path(data) / "demo-packages",
        publisher=PRESS.publisher,
        title=PRESS.title,
        au="2024",
        articles=make_articles(1, 9, PRESS, start=5),
        fmt="zip",
        seed=9,
        name="lrh-2024-corrections",
    )
    print_answer(deposit_file(data, path, AuId(PRESS.publisher, PRESS.title, "2024"), quiet=True))
    rolled = f"{PRESS.publisher}/{PRESS.title}/2024"
    rng = random.Random(7)

    say("\n== Damage behind the archive's back (straight into node buckets) ==")
    plan = [
        ("ap-northeast-1", aus[0], "flip"),
        ("eu-central-1", aus[-1], "delete"),
        ("ap-southeast-2", rolled, "rollback"),
        ("eu-south-1", aus[0], "truncate"),
    ]
    for region, au, kind in plan:
        store = node_store(archive, region)
        files = ["inventory.json"] if kind == "rollback" else rng.sample(content_files(store, au), 1)
        say(f"$ strongroom chaos {kind} --node {region} --au {au} --file {files[0]}")
        for d in damage(store, au, kind, files, rng=rng):
            say(f"  {d.kind}: {d.detail}")
    say("$ strongroom chaos offline us-west-1")
    set_node_offline(data, "us-west-1", True)
    say("  us-west-1 now refuses every request of the archive")

    say("\n== strongroom audit --now: every node re-hashes every byte with a fresh nonce ==")
    archive = reach.archive(data)
    poll_aus(archive, aus, quiet=True, out=_Say(say))

    say("\n== strongroom status ==")
    say(report(archive.catalog, [n.region for n in settings().nodes], archive.audit))

    say("\n$ strongroom chaos online us-west-1")
    set_node_offline(data, "us-west-1", False)
    say("  us-west-1 is back; its copies are polled again when next due (or now, with strongroom audit)")
    say(
        f"\nThe public attestation (no content, only counts, digests and the root hash) is in the public bucket:\n"
        f"  s3://{settings().public_bucket}/attestation/index.html  (index.json, and one page per AU)"
    )


class _Say(io.TextIOBase):
    """A file object that hands each printed line to the demo's say()."""

    def __init__(self, say):
        self.say, self.pending = say, ""

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            self.say(line)
        return len(text)
