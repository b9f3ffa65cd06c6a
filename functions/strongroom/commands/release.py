"""`strongroom release …`: admins propose, approve, list, show and withdraw releases (signed API calls).

Every command is a SigV4-signed request to the release API (service execute-api), exactly as on
AWS. By default it goes to the local archive's API, signed with the keys of the local admin named
by --as; with --api URL (or STRONGROOM_API_URL) it goes to that API, a deployed one, signed with
the AWS credentials of --profile (or AWS_PROFILE, or botocore's default chain) for --region (or
AWS_REGION, the profile's region, or the one in an execute-api URL). From Python (tests, benchmarks):

    status, body = api(data_dir, "POST", "/releases", "alice", {...})
    release = wait_for(data_dir, release_id, ("published",))   # polls GET /releases/{id}
"""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from strongroom.adapters import sigv4
from strongroom.commands import reach
from strongroom.config import environment
from strongroom.domain.release import DEFAULT_LICENSE, LICENSES, TRIGGERS
from strongroom.local.api import call_api

DONE = ("published", "refused", "failed", "withdrawn")
# https://<api id>.execute-api.<region>.amazonaws.com/<stage>: the region is in the name
EXECUTE_API = re.compile(r"^https://[^./]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?(/|$)")


def _answers(url: str, within: float) -> bool:
    """Whether url answers 200 within `within` seconds (asked every quarter second)."""
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)


@dataclass(frozen=True)
class Target:
    """Where the commands send their requests and whose keys sign them: the local archive in
    `data` as local admin `who`, or the API at `api_url` as the AWS profile `profile`."""

    data: Path
    who: str | None = "alice"
    api_url: str | None = None
    profile: str | None = None
    region: str | None = None

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        if self.api_url is None:
            return api(self.data, method, path, self.who, body)
        try:
            keys, profile_region = sigv4.profile_keys(self.profile)
        except sigv4.CredentialsError as e:
            raise SystemExit(f"strongroom: {e}") from None
        m = EXECUTE_API.match(self.api_url)
        region = self.region or profile_region or (m.group(1) if m else None)
        if not region:
            raise SystemExit(
                f"strongroom: which region is the API at {self.api_url} in? give --region "
                "(or AWS_REGION): requests are signed for one region"
            )
        return _reach(self.api_url, method, path, keys, region, body)


def _reach(url: str, method: str, path: str, identity, region: str, body: dict | None) -> tuple[int, dict]:
    try:
        return call_api(url, method, path, identity, region, body)
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise SystemExit(
            f"strongroom: the release API at {url} cannot be reached ({reason}); check --api "
            "(or STRONGROOM_API_URL), or start the local archive with `strongroom up`"
        ) from None


def target(args) -> Target:
    """The Target the command line (and the environment) names."""
    env = environment()
    api_url = getattr(args, "api", None) or env.api_url
    if api_url is None:
        return Target(args.data, args.who or "alice")
    if args.who:
        raise SystemExit(
            f"strongroom: --as names an admin of the local archive; the API at {api_url} gets "
            "requests signed with AWS credentials: give --profile NAME (or AWS_PROFILE) instead"
        )
    return Target(
        args.data,
        None,
        api_url.rstrip("/"),
        getattr(args, "profile", None) or env.aws_profile,
        getattr(args, "region", None) or env.region or None,
    )


def api(data: Path, method: str, path: str, who: str | None, body: dict | None = None) -> tuple[int, dict]:
    """One signed call to the local release API as admin `who` (None: unsigned)."""

    endpoints = reach.endpoints(Path(data))
    identity = endpoints.credentials(who) if who else None
    return _reach(f"http://127.0.0.1:{endpoints.ports['api']}", method, path, identity, endpoints.region, body)


def wait_for(data: Path | Target, release_id: str, states=DONE, timeout: float = 600, who: str = "alice") -> dict:
    """Poll GET /releases/{id} until the release reaches one of `states` (and its step
    settles after a withdrawal); returns the release."""
    where = data if isinstance(data, Target) else Target(Path(data), who)
    deadline = time.monotonic() + timeout
    while True:
        status, r = where.call("GET", f"/releases/{release_id}")
        if status != 200:
            raise RuntimeError(f"GET /releases/{release_id}: {status} {r}")
        settled = r["state"] != "withdrawn" or r.get("progress", {}).get("step") == "withdrawn"
        if r["state"] in states and settled:
            return r
        if time.monotonic() > deadline:
            raise TimeoutError(f"release {release_id} is still {r['state']} ({r.get('progress')}) after {timeout:.0f}s")
        time.sleep(0.5)


def proposal_body(args) -> dict:
    board = {"for": args.board_for, "against": args.board_against, "abstain": args.board_abstain}
    if args.board_date:
        board["decided_on"] = args.board_date
    evidence = {"board": board}
    for name in ("unavailable_since", "unavailable_until", "ceased_on", "publisher_statement"):
        value = getattr(args, name)
        if value:
            evidence[name] = value
    body = {"trigger": args.trigger, "evidence": evidence, "license": args.license}
    if args.au:
        body["aus"] = args.au
    if args.title:
        body["title"] = args.title
    return body


def describe(r: dict, out=None) -> None:
    """A release as people read it: state, why, progress, where to look."""
    out = out or sys.stdout  # looked up now: the caller may have redirected it
    print(f"{r['id']}  {r['state'].upper()}  {', '.join(r['aus'])}", file=out)
    p = r["proposal"]
    print(f"  trigger   {p['trigger']} ({TRIGGERS.get(p['trigger'], '')}); license {p['license']}", file=out)
    print(f"  proposed  by {r['proposed_by'].rsplit('/', 1)[-1]} at {r['proposed_at']}", file=out)
    if r.get("approved_by"):
        print(f"  approved  by {r['approved_by'].rsplit('/', 1)[-1]} at {r['approved_at']}", file=out)
    if r.get("withdrawn_by"):
        print(
            f"  withdrawn by {r['withdrawn_by'].rsplit('/', 1)[-1]} at {r['withdrawn_at']}: {r['withdrawal_reason']}",
            file=out,
        )
    if r.get("reason"):
        print(f"  reason    {r['reason']}", file=out)
    if r.get("progress"):
        print(f"  progress  {json.dumps(r['progress'], sort_keys=True)}", file=out)
    urls = r.get("urls") or {}
    for _title, where in sorted((urls.get("titles") or {}).items()):
        print(f"  site      {where['site']}", file=out)
        print(f"  replay    {where['replay']}", file=out)
    if r["state"] == "proposed":
        print(f"  next      another admin approves: strongroom release approve {r['id']} --as <admin>", file=out)


def refusal(status: int, body: dict, out=None) -> None:
    """An error answer as people read it: the API's sentence, then every rule broken and its field."""
    out = out or sys.stderr
    message = body.get("message") or json.dumps(body)
    print(f"strongroom: refused ({status}): {message}", file=out)
    for e in body.get("errors") or []:
        where = e.get("field") or "the request"
        print(f"  - {where}: {e.get('message')} [{e.get('rule')}]", file=out)


def _answer(status: int, body: dict, ok=(200, 201, 202)) -> int:
    if status in ok:
        describe(body)
        return 0
    refusal(status, body)
    return 1


def _wait_and_show(args, release_id: str) -> int:
    if not getattr(args, "wait", False):
        return 0
    try:
        r = wait_for(target(args), release_id, timeout=args.timeout)
    except (RuntimeError, TimeoutError) as e:  # said, not a traceback: the release itself goes on
        print(f"strongroom: stopped waiting: {e}", file=sys.stderr)
        return 1
    print("", flush=True)
    describe(r)
    return 0 if r["state"] in ("published", "withdrawn") else 1


def _local_admin_needed(args) -> None:
    if target(args).api_url is None and not args.who:
        raise SystemExit(
            "strongroom: name the admin whose keys sign the request: --as alice (or bob); "
            "with --api, --profile names the AWS credentials instead"
        )


def cmd_propose(args) -> int:
    if bool(args.au) == bool(args.title):
        raise SystemExit("give either --au AU… or --title PUBLISHER/TITLE")
    _local_admin_needed(args)
    status, body = target(args).call("POST", "/releases", proposal_body(args))
    return _answer(status, body)


def cmd_approve(args) -> int:
    _local_admin_needed(args)
    status, body = target(args).call("POST", f"/releases/{args.id}/approve")
    return _answer(status, body) or (_wait_and_show(args, args.id) if status == 202 else 0)


def cmd_withdraw(args) -> int:
    _local_admin_needed(args)
    status, body = target(args).call("POST", f"/releases/{args.id}/withdraw", {"reason": args.reason})
    return _answer(status, body) or (_wait_and_show(args, args.id) if status == 202 else 0)


def cmd_list(args) -> int:
    status, body = target(args).call("GET", "/releases")
    if status != 200:
        return _answer(status, body)
    if args.json:
        print(json.dumps(body, indent=2))
        return 0
    for r in body["releases"]:
        describe(r)
    if not body["releases"]:
        print("no releases yet: propose one with `strongroom release propose … --as alice`")
    return 0


def cmd_show(args) -> int:
    status, body = target(args).call("GET", f"/releases/{args.id}")
    if status == 200 and args.json:
        print(json.dumps(body, indent=2))
        return 0
    return _answer(status, body, ok=(200,))


def register(sub) -> None:
    """Add this module's subcommands; each sets `run` to the function that carries it out."""
    rel = sub.add_parser("release", help="propose, approve, list, show and withdraw releases (admins)")
    rs = rel.add_subparsers(dest="release_command", required=True)

    def admin(p, required=True):
        p.add_argument(
            "--as",
            dest="who",
            default=None,
            help="the local admin whose keys sign the request (alice or bob)"
            + ("; required unless --api" if required else " (default alice)"),
        )
        where = p.add_argument_group("a deployed API (default: the local archive's)")
        where.add_argument(
            "--api",
            metavar="URL",
            help="the release API's URL, e.g. the ReleaseApiUrl output "
            "of the stack (default $STRONGROOM_API_URL); requests are signed with AWS credentials",
        )
        where.add_argument(
            "--profile",
            metavar="NAME",
            help="the AWS profile whose credentials sign (default $AWS_PROFILE, else botocore's default chain)",
        )
        where.add_argument(
            "--region",
            metavar="REGION",
            help="the API's region (default $AWS_REGION, the profile's region, or the region in an execute-api URL)",
        )

    p = rs.add_parser("propose", help="propose releasing AUs or a whole title (another admin approves)")
    p.add_argument("--au", nargs="+", metavar="AU", help="publisher/title/au, one or more")
    p.add_argument("--title", metavar="PUBLISHER/TITLE", help="every AU of a title")
    p.add_argument("--trigger", required=True, choices=sorted(TRIGGERS))
    p.add_argument(
        "--unavailable-since",
        dest="unavailable_since",
        metavar="YYYY-MM-DD",
        help="first day the content was unavailable (needed without the publisher's consent)",
    )
    p.add_argument(
        "--unavailable-until",
        dest="unavailable_until",
        metavar="YYYY-MM-DD",
        help="last day it was seen unavailable (omit if it still is)",
    )
    p.add_argument("--ceased-on", dest="ceased_on", metavar="YYYY-MM-DD")
    p.add_argument("--publisher-statement", dest="publisher_statement", metavar="TEXT")
    p.add_argument("--board-for", dest="board_for", type=int, required=True)
    p.add_argument("--board-against", dest="board_against", type=int, required=True)
    p.add_argument("--board-abstain", dest="board_abstain", type=int, default=0)
    p.add_argument("--board-date", dest="board_date", metavar="YYYY-MM-DD")
    p.add_argument("--license", default=DEFAULT_LICENSE, choices=sorted(LICENSES))
    admin(p)
    p.set_defaults(run=cmd_propose)

    p = rs.add_parser("approve", help="approve a release proposed by another admin; it then runs")
    p.add_argument("id")
    admin(p)
    p.add_argument("--wait", action="store_true", help="wait until it is published (or refused)")
    p.add_argument("--timeout", type=float, default=900)
    p.set_defaults(run=cmd_approve)

    p = rs.add_parser("withdraw", help="take a release down (legal takedown); preserved copies stay")
    p.add_argument("id")
    p.add_argument("--reason", required=True, help="why; recorded as a PREMIS withdrawal event")
    admin(p)
    p.add_argument("--wait", action="store_true", help="wait until the content is gone from site and replay")
    p.add_argument("--timeout", type=float, default=900)
    p.set_defaults(run=cmd_withdraw)

    p = rs.add_parser("list", help="every release")
    admin(p, required=False)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_list)

    p = rs.add_parser("show", help="one release: state, progress, public URLs")
    p.add_argument("id")
    admin(p, required=False)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_show)


def demo_section(data, say) -> None:
    """The demo's release part: two admins release a title; print the site and replay URLs."""
    from datetime import date, timedelta

    say("\n== Release: Lakeside University Press has ceased; two admins release its journal ==")
    since = (date.today() - timedelta(days=400)).isoformat()
    body = {
        "title": "lakeside-up/lrh",
        "trigger": "publisher-ceased",
        "license": "CC-BY-4.0",
        "evidence": {
            "unavailable_since": since,
            "ceased_on": since,
            "publisher_statement": "Lakeside University Press ceased publishing.",
            "board": {"for": 10, "against": 1, "abstain": 1, "decided_on": date.today().isoformat()},
        },
    }
    say(
        f"$ strongroom release propose --title lakeside-up/lrh --trigger publisher-ceased --unavailable-since {since} "
        "--board-for 10 --board-against 1 --board-abstain 1 --as alice"
    )
    status, r = api(data, "POST", "/releases", "alice", body)
    if status not in (200, 201):
        say(f"  refused: {status} {r}")
        return
    describe(r)
    say(f"$ strongroom release approve {r['id']} --as alice   # the proposer may not approve")
    status, err = api(data, "POST", f"/releases/{r['id']}/approve", "alice")
    say(f"  {status}: {err.get('message')}")
    say(f"$ strongroom release approve {r['id']} --as bob --wait")
    status, r2 = api(data, "POST", f"/releases/{r['id']}/approve", "bob")
    if status != 202:
        say(f"  refused: {status} {r2}")
        return
    say("  approved; polling every AU, rendering, publishing ...")
    r = wait_for(data, r["id"])
    describe(r)
    if r["state"] != "published":
        return
    urls = r["urls"]
    title = urls["titles"]["lakeside-up/lrh"]
    # The site and the replay follow the public bucket's pointer on their own (the replay syncs the new
    # render's collections first): the URLs are printed once both serve it, so the first click works.
    for url in (title["site"], title["replay"]):
        if not _answers(url, within=30.0):
            say(f"  (not served yet: {url}; it will be within a few seconds)")
    say("\nOpen in a browser:")
    say(f"  site    {urls['site']}  (home page; the journal is at {title['site']})")
    say(f"  replay  {title['replay']}  (pywb: the publisher's pages as harvested, with a license banner)")
    say("  Northfield's journal is still dark: nothing of it is on either.")
