"""`strongroom release …`: admins propose, approve, list, show and withdraw releases (signed API calls).

Every command is a SigV4-signed request to the release API (service execute-api) with the
keys of the admin named by --as, exactly as on AWS; the local archive's API verifies the
signature and hands the request to the same handler. From Python (tests, benchmarks):

    status, body = api(data_dir, "POST", "/releases", "alice", {...})
    release = wait_for(data_dir, release_id, ("published",))   # polls GET /releases/{id}
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from strongroom.commands import reach
from strongroom.domain.release import DEFAULT_LICENSE, LICENSES, TRIGGERS
from strongroom.local.api import call_api

DONE = ("published", "refused", "failed", "withdrawn")


def api(data: Path, method: str, path: str, who: str | None, body: dict | None = None) -> tuple[int, dict]:
    """One signed call to the local release API as admin `who` (None: unsigned)."""

    endpoints = reach.endpoints(Path(data))
    identity = endpoints.credentials(who) if who else None
    return call_api(f"http://127.0.0.1:{endpoints.ports['api']}", method, path, identity, endpoints.region, body)


def wait_for(data: Path, release_id: str, states=DONE, timeout: float = 600, who: str = "alice") -> dict:
    """Poll GET /releases/{id} until the release reaches one of `states` (and its step
    settles after a withdrawal); returns the release."""
    deadline = time.monotonic() + timeout
    while True:
        status, r = api(data, "GET", f"/releases/{release_id}", who)
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


def describe(r: dict, out=sys.stdout) -> None:
    """A release as people read it: state, why, progress, where to look."""
    print(f"{r['id']}  {r['state'].upper()}  {', '.join(r['aus'])}", file=out)
    p = r["proposal"]
    print(f"  trigger   {p['trigger']} ({TRIGGERS.get(p['trigger'], '')}); license {p['license']}", file=out)
    print(f"  proposed  by {r['proposed_by'].rsplit('/', 1)[-1]} at {r['proposed_at']}", file=out)
    if r.get("approved_by"):
        print(f"  approved  by {r['approved_by'].rsplit('/', 1)[-1]} at {r['approved_at']}", file=out)
    if r.get("withdrawn_by"):
        print(f"  withdrawn by {r['withdrawn_by'].rsplit('/', 1)[-1]} at {r['withdrawn_at']}: "
              f"{r['withdrawal_reason']}", file=out)
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


def _answer(status: int, body: dict, ok=(200, 201, 202)) -> int:
    if status in ok:
        describe(body)
        return 0
    where = f" ({body['field']})" if body.get("field") else ""
    detail = body.get("error") or body.get("message") or json.dumps(body.get("detail", body))
    print(f"strongroom: {status}{where}: {detail}", file=sys.stderr)
    return 1


def _wait_and_show(args, release_id: str) -> int:
    if not getattr(args, "wait", False):
        return 0
    r = wait_for(args.data, release_id, timeout=args.timeout, who=args.who)
    print("", flush=True)
    describe(r)
    return 0 if r["state"] in ("published", "withdrawn") else 1


def cmd_propose(args) -> int:
    if bool(args.au) == bool(args.title):
        raise SystemExit("give either --au AU… or --title PUBLISHER/TITLE")
    status, body = api(args.data, "POST", "/releases", args.who, proposal_body(args))
    return _answer(status, body)


def cmd_approve(args) -> int:
    status, body = api(args.data, "POST", f"/releases/{args.id}/approve", args.who)
    return _answer(status, body) or (_wait_and_show(args, args.id) if status == 202 else 0)


def cmd_withdraw(args) -> int:
    status, body = api(args.data, "POST", f"/releases/{args.id}/withdraw", args.who, {"reason": args.reason})
    return _answer(status, body) or (_wait_and_show(args, args.id) if status == 202 else 0)


def cmd_list(args) -> int:
    status, body = api(args.data, "GET", "/releases", args.who)
    if status != 200 or args.json:
        print(json.dumps(body, indent=2)) if status == 200 else _answer(status, body)
        return 0 if status == 200 else 1
    for r in body["releases"]:
        describe(r)
    if not body["releases"]:
        print("no releases yet: propose one with `strongroom release propose … --as alice`")
    return 0


def cmd_show(args) -> int:
    status, body = api(args.data, "GET", f"/releases/{args.id}", args.who)
    if status == 200 and args.json:
        print(json.dumps(body, indent=2))
        return 0
    return _answer(status, body, ok=(200,))


def register(sub) -> None:
    """Add this module's subcommands; each sets `run` to the function that carries it out."""
    rel = sub.add_parser("release", help="propose, approve, list, show and withdraw releases (admins)")
    rs = rel.add_subparsers(dest="release_command", required=True)

    def admin(p, required=True):
        p.add_argument("--as", dest="who", required=required, default=None if required else "alice",
                       help="the admin whose keys sign the request (alice or bob locally)")

    p = rs.add_parser("propose", help="propose releasing AUs or a whole title (another admin approves)")
    p.add_argument("--au", nargs="+", metavar="AU", help="publisher/title/au, one or more")
    p.add_argument("--title", metavar="PUBLISHER/TITLE", help="every AU of a title")
    p.add_argument("--trigger", required=True, choices=sorted(TRIGGERS))
    p.add_argument("--unavailable-since", dest="unavailable_since", metavar="YYYY-MM-DD",
                   help="first day the content was unavailable (needed without the publisher's consent)")
    p.add_argument("--unavailable-until", dest="unavailable_until", metavar="YYYY-MM-DD",
                   help="last day it was seen unavailable (omit if it still is)")
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
    body = {"title": "lakeside-up/lrh", "trigger": "publisher-ceased", "license": "CC-BY-4.0",
            "evidence": {"unavailable_since": since, "ceased_on": since,
                         "publisher_statement": "Lakeside University Press ceased publishing.",
                         "board": {"for": 10, "against": 1, "abstain": 1, "decided_on": date.today().isoformat()}}}
    say(f"$ strongroom release propose --title lakeside-up/lrh --trigger publisher-ceased --unavailable-since {since} "
        "--board-for 10 --board-against 1 --board-abstain 1 --as alice")
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
    say("\nOpen in a browser:")
    say(f"  site    {urls['site']}  (home page; the journal is at {title['site']})")
    say(f"  replay  {title['replay']}  (pywb: the publisher's pages as harvested, with a license banner)")
    say("  Northfield's journal is still dark: nothing of it is on either.")
