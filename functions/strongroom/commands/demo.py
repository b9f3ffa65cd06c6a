"""`strongroom demo`: start a local archive and run the archive's whole job on sample content."""

from __future__ import annotations

import time

from strongroom.commands import audit as audit_commands
from strongroom.commands import local as local_commands
from strongroom.commands import reach
from strongroom.commands import release as release_commands
from strongroom.commands.archive import deposit_file, print_answer
from strongroom.config import settings
from strongroom.domain.au import AuId
from strongroom.local import identities, runtime
from strongroom.local.demo.samples import make_demo_packages
from strongroom.render.status import report


def demo(args) -> int:
    data = args.data
    say = lambda text="": print(text, flush=True)
    say("== strongroom demo: a dark archive of twelve nodes on this machine ==")
    if runtime.running_state(data) is None:
        say(f"Starting the local archive in {data} (SeaweedFS for S3, moto for DynamoDB) ...")
        runtime.start_detached(data)
    endpoints = reach.endpoints(data)
    say(
        f"  S3 at {endpoints.s3}; ingest bucket {endpoints.ingest_bucket}; "
        f"{len(endpoints.node_buckets)} node buckets: {', '.join(n.region for n in settings().nodes)}"
    )

    packages = make_demo_packages(data / "demo-packages")
    for publisher in sorted({p for p, *_ in packages}):
        if publisher not in identities.load(data):
            local_commands.add_publisher(data, publisher)
    time.sleep(1.0)  # SeaweedFS re-reads its identities on SIGHUP

    say("\n== Publishers deposit packages (each with its own keys, into incoming/<publisher>/) ==")
    for publisher, title, au, path in packages:
        say(
            f"$ strongroom deposit {path.relative_to(data.parent) if data.parent in path.parents else path} "
            f"--publisher {publisher} --title {title} --au {au}"
        )
        answer = deposit_file(data, path, AuId(publisher, title, au), quiet=True)
        print_answer(answer)
        say()

    publisher, title, au, path = packages[0]
    say("== The same package pushed again makes no new version ==")
    print_answer(deposit_file(data, path, AuId(publisher, title, au), quiet=True))

    say("\n== strongroom status ==")
    say(report(reach.archive(data).catalog, [n.region for n in settings().nodes], settings().audit))

    audit_commands.demo_section(data, say)
    release_commands.demo_section(data, say)

    say("\nExplore:")
    say(f"  .venv/bin/strongroom --data {data} status [--json] [--publisher P | --title P/T] [--limit N]")
    say(
        f'  eval "$(.venv/bin/strongroom --data {data} local env --publisher {packages[0][0]})"  # then aws s3 cp / boto3 as that publisher'
    )
    say(f"  .venv/bin/strongroom --data {data} catalog rebuild")
    if args.keep_running:
        say(f"The archive keeps running; stop it with: .venv/bin/strongroom --data {data} down")
    else:
        runtime.stop_detached(data)
        say("The archive has been stopped; its data stays in " + str(data))
    return 0
