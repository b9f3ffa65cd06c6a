"""Three attacks on the real local archive (SeaweedFS, moto, the router, the site and pywb), each
reproduced as it was made, and held (docs/security.md):

1. stored script: a publisher deposits JATS whose <license xlink:href> is javascript:, and SVG
   and HTML files with scripts; released, none of it may run as the site;
2. storage readable with no keys: nothing but the S3 port may tell anyone without a secret
   anything of a bucket, and S3 answers 403;
3. a forged release: a release record written straight into the catalog must not be published
   with the next real release; made-up keys cannot write the catalog at all.
"""

from __future__ import annotations

import json
import posixpath
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import bagit
import boto3
import pytest
from botocore.exceptions import ClientError

from strongroom.adapters.dynamodb import DynamoCatalog
from strongroom.domain.release import BoardVote, Evidence, Proposal, Release, release_id
from strongroom.local.demo.samples import JournalSpec, make_articles, make_package
from strongroom.local.serve import wait_for_render
from strongroom.local.servers import Ports
from strongroom.render.safety import REPLAY_HEADERS, SITE_HEADERS, safe_href
from tests.integration.release_world import cli, proposal

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("archive")]

SCRIPT_LICENSE = "javascript:alert(document.domain)"
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<script>alert(document.domain)</script><rect width="10" height="10"/></svg>'
)
HTML = b"<!doctype html><title>x</title><script>alert(document.domain)</script>"


def fetch(url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read(), dict(r.headers.items())
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers.items())


class Links(HTMLParser):
    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.hrefs += [v or "" for k, v in attrs if k in ("href", "src", "action")]


@dataclass
class Hostile:
    publisher: str
    released_au: str  # released for real, through the API
    forged_au: str  # only ever "released" by a record forged into the catalog
    article_id: str
    forged_release: str
    release: dict


def _add_active_files(bag_dir: Path) -> None:
    """An SVG and an HTML file with scripts beside the first article, listed in the manifests."""
    folder = sorted(p for p in (bag_dir / "data").iterdir() if p.is_dir())[0]
    (folder / "fig2.svg").write_bytes(SVG)
    (folder / "supplement.html").write_bytes(HTML)
    bagit.Bag(str(bag_dir)).save(manifests=True)


def _forge(local_archive, au: str) -> str:
    """A published release of `au` written straight into the catalog with the archive's own keys:
    no proposal, no approval, nothing in the journal."""
    from datetime import date

    p = Proposal(
        trigger="publisher-consent",
        aus=(au,),
        evidence=Evidence(board=BoardVote(9, 0, 0, date(2026, 1, 5)), publisher_statement="we agree"),
    )
    r = Release(
        id=release_id(p),
        state="published",
        proposal=p,
        aus=(au,),
        proposed_by=admin_arn(local_archive, "alice"),
        proposed_at="2026-01-05T10:00:00+00:00",
        approved_by=admin_arn(local_archive, "bob"),
        approved_at="2026-01-05T11:00:00+00:00",
        render_id="20260105T110000Z-00000000",
        revision=1,
    )
    endpoints = local_archive.endpoints
    catalog = DynamoCatalog(local_archive.clients().dynamodb, endpoints.catalog_table)
    catalog.put_release(r.as_dict(), 0)
    assert catalog.get_release(r.id)["state"] == "published"
    return r.id


def admin_arn(local_archive, name: str) -> str:
    from strongroom.local.api import admin_arns

    return next(a for a in admin_arns(local_archive.endpoints.identities) if a.endswith("/" + name))


@pytest.fixture(scope="module")
def hostile(local_archive, tmp_path_factory) -> Hostile:
    tag = uuid.uuid4().hex[:6]
    publisher = f"mallory-{tag}"
    cli(local_archive, "local", "add-publisher", publisher)
    tmp = tmp_path_factory.mktemp("hostile")
    spec = JournalSpec(
        publisher=publisher,
        title="jrs",
        publisher_name="Mallory Press",
        journal_title="Journal of Reef Studies",
        year=2024,
    )
    articles = [replace(a, license_url=SCRIPT_LICENSE) for a in make_articles(1, 41, spec)]
    package = make_package(
        tmp / "2024", publisher=publisher, title="jrs", au="2024", articles=articles, after_bagging=_add_active_files
    )
    cli(local_archive, "deposit", str(package), "--publisher", publisher, "--title", "jrs", "--au", "2024")
    plain = make_package(
        tmp / "2025", publisher=publisher, title="jrs", au="2025", articles=make_articles(1, 42, spec.for_year(2025))
    )
    cli(local_archive, "deposit", str(plain), "--publisher", publisher, "--title", "jrs", "--au", "2025")

    forged = _forge(local_archive, f"{publisher}/jrs/2025")
    # The next real release: alice proposes, bob approves, through the signed API.
    from strongroom.commands.release import wait_for
    from strongroom.local import runtime
    from strongroom.local.api import call_api

    endpoints = runtime.connect(local_archive.data_dir)
    api = f"http://127.0.0.1:{endpoints.ports['api']}"
    status, r = call_api(
        api, "POST", "/releases", endpoints.credentials("alice"), endpoints.region, proposal([f"{publisher}/jrs/2024"])
    )
    assert status in (200, 201), r
    status, a = call_api(api, "POST", f"/releases/{r['id']}/approve", endpoints.credentials("bob"), endpoints.region)
    assert status == 202, a
    done = wait_for(local_archive.data_dir, r["id"], timeout=180)
    assert done["state"] == "published", done
    site, replay = (f"http://127.0.0.1:{endpoints.ports[k]}" for k in ("site", "replay"))
    wait_for_render([site + "/", replay + "/"], done["render_id"])
    return Hostile(publisher, f"{publisher}/jrs/2024", f"{publisher}/jrs/2025", articles[0].id, forged, done)


def _site(local_archive) -> str:
    return f"http://127.0.0.1:{local_archive.endpoints.ports['site']}"


# --- 1. stored script ------------------------------------------------------------------------


def test_the_hostile_article_page_has_no_script_link_and_sends_the_site_policy(local_archive, hostile):
    page_url = f"{_site(local_archive)}/{hostile.released_au}/articles/{hostile.article_id.lower()}/"
    status, body, headers = fetch(page_url)
    assert status == 200, body[:300]
    html = body.decode()
    for name, value in SITE_HEADERS.items():
        assert headers.get(name) == value, (name, headers)
    assert "javascript:" not in html.lower()
    assert all(safe_href(h) == h for h in Links(html).hrefs)
    assert "Reef" in html  # the page is the hostile article's


def test_deposited_svg_and_html_are_downloads_and_the_pdf_is_shown(local_archive, hostile):
    page_url = f"{_site(local_archive)}/{hostile.released_au}/articles/{hostile.article_id.lower()}/"
    hrefs = Links(fetch(page_url)[1].decode()).hrefs
    by_name = {posixpath.basename(h): urljoin(page_url, h) for h in hrefs}
    for name, content in (("fig2.svg", SVG), ("supplement.html", HTML)):
        status, body, headers = fetch(by_name[name])
        assert status == 200 and body == content, (name, status)
        assert headers["Content-Type"] == "application/octet-stream", (name, headers)
        assert headers["Content-Disposition"].startswith(f'attachment; filename="{name}"'), (name, headers)
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Content-Security-Policy"] == SITE_HEADERS["Content-Security-Policy"]
    status, pdf, headers = fetch(by_name["article.pdf"])
    assert status == 200 and pdf.startswith(b"%PDF-")
    assert headers["Content-Type"] == "application/pdf" and "Content-Disposition" not in headers


def test_every_surface_sends_its_policy(local_archive, hostile):
    site = _site(local_archive)
    for url in (site + "/", site + "/no/such/page", site + "/attestation/"):
        status, _, headers = fetch(url)
        assert headers.get("Content-Security-Policy") == SITE_HEADERS["Content-Security-Policy"], (url, status)
        assert headers.get("X-Content-Type-Options") == "nosniff" and headers.get("Referrer-Policy"), url
    replay = f"http://127.0.0.1:{local_archive.endpoints.ports['replay']}"
    status, _, headers = fetch(f"{replay}/jrs/")
    assert headers.get("Content-Security-Policy", "").endswith(REPLAY_HEADERS["Content-Security-Policy"]), status
    assert headers.get("X-Content-Type-Options") == "nosniff"


# --- 3. a forged release ------------------------------------------------------------------------


def test_a_forged_release_is_not_published_with_the_next_real_one(local_archive, hostile):
    public = local_archive.clients().s3.get_object(Bucket=local_archive.endpoints.public_bucket, Key="current.json")
    pointer = json.loads(public["Body"].read())
    assert hostile.released_au in pointer["aus"]
    assert hostile.forged_au not in pointer["aus"] and hostile.forged_release not in pointer["releases"]
    status, _, _ = fetch(f"{_site(local_archive)}/{hostile.forged_au}/")
    assert status == 404
    assert (
        f"release {hostile.forged_release} is published in the catalog but left off the public site"
        in local_archive.log()
    )


def test_made_up_keys_cannot_read_or_write_the_catalog(local_archive):
    endpoints = local_archive.endpoints
    outsider = boto3.client(
        "dynamodb",
        endpoint_url=endpoints.dynamodb,
        region_name=endpoints.region,
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="made-up",
    )
    for call in (
        lambda: outsider.scan(TableName=endpoints.catalog_table),
        lambda: outsider.put_item(
            TableName=endpoints.catalog_table, Item={"pk": {"S": "release#forged"}, "sk": {"S": "release"}}
        ),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    archive = local_archive.endpoints.credentials("archive")
    wrong_secret = boto3.client(
        "dynamodb",
        endpoint_url=endpoints.dynamodb,
        region_name=endpoints.region,
        aws_access_key_id=archive.access_key,
        aws_secret_access_key="not-the-secret",
    )
    with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        wrong_secret.scan(TableName=endpoints.catalog_table)
    # moto's control API (reset, state dump, authentication off) is not served; unsigned calls are refused.
    for path in ("/moto-api/data.json", "/moto-api/reset-auth"):
        assert fetch(endpoints.dynamodb + path, data=b"inf" if "reset" in path else None)[0] == 404
    assert fetch(endpoints.dynamodb + "/", data=b"{}", headers={"X-Amz-Target": "DynamoDB_20120810.Scan"})[0] == 403
    # The archive's own keys still work.
    assert local_archive.clients().dynamodb.describe_table(TableName=endpoints.catalog_table)["Table"]


# --- 2. storage readable with no keys -------------------------------------------------------------


def _listening_ports(pid: int) -> set[int]:
    """The TCP ports process pid listens on, from /proc (so a port added by a new SeaweedFS is probed too)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


# Requests name the bucket and the receipts/ prefix, never the victim's key: an answer holding the
# key (or its bytes) can only have listed or read it.
PROBES = [
    "/",
    "/buckets/",
    "/buckets/{bucket}/",
    "/buckets/{bucket}/receipts/",
    "/{bucket}",
    "/{bucket}/",
    "/{bucket}/?list-type=2&prefix=receipts/",
    "/{bucket}?prefix=receipts/",
    "/dir/status",
    "/vol/status",
    "/status",
    "/ui/index.html",
    "/metrics",
    "/?pretty=y",
    "/buckets/{bucket}/receipts/?pretty=y",
]


def _probe(port: int, path: str) -> tuple[str, bytes]:
    try:
        status, body, _ = fetch(f"http://127.0.0.1:{port}{path}")
        return str(status), body
    except (OSError, ValueError) as e:  # a gRPC (TLS) port does not speak HTTP/1.1
        return type(e).__name__, b""


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the listening ports from /proc (Linux)")
def test_no_port_but_s3_tells_anyone_without_keys_anything_of_a_bucket(local_archive, tmp_path):
    endpoints = local_archive.endpoints
    bucket = endpoints.ingest_bucket
    key = f"receipts/victim-{uuid.uuid4().hex[:6]}/jx/2024/secret-package.json"
    marker = uuid.uuid4().hex.encode()
    local_archive.clients().s3.put_object(Bucket=bucket, Key=key, Body=b'{"receipt": "' + marker + b'"}')
    weed_pid = local_archive.state()["servers"]["weed"]["pid"]
    ports = _listening_ports(weed_pid)
    s3_port = Ports(**endpoints.ports).s3
    assert s3_port in ports and len(ports) >= 8, ports  # master, volume, filer (HTTP and gRPC), S3 gRPC
    secret = [key.split("/")[1].encode(), marker]  # the victim's name, the receipt's bytes
    for port in sorted(ports):
        for template in PROBES:
            path = template.format(bucket=bucket)
            status, body = _probe(port, path)
            assert not [s for s in secret if s in body], (port, path, status, body[:300])
            if port == s3_port and "{bucket}" in template:
                assert status == "403", (path, status)

    # gRPC: SeaweedFS's own shell, from a directory without the archive's security.toml, lists nothing;
    # the same shell with it (the archive's own working directory) does: the probe can see.
    ports_obj = Ports(**endpoints.ports)
    master = f"127.0.0.1:{ports_obj.weed_master}.{ports_obj.weed_grpc(0)}"
    weed = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
    command = [weed, "shell", f"-master={master}"]
    script = f"fs.ls /buckets/{bucket}/{key.rsplit('/', 1)[0]}/\nexit\n".encode()
    assert b"secret-package" not in _shell(command, script, tmp_path, timeout=20)  # it retries; nothing comes
    insider = _shell(command, script, local_archive.data_dir, timeout=60)
    assert b"secret-package" in insider, insider[-1000:]


def _shell(command: list[str], script: bytes, cwd: Path, timeout: float) -> bytes:
    """What `weed shell` printed, stdout and stderr, until it exited or timeout (then it is killed)."""
    try:
        done = subprocess.run(command, input=script, capture_output=True, cwd=cwd, timeout=timeout)
        return done.stdout + done.stderr
    except subprocess.TimeoutExpired as e:
        return (e.stdout or b"") + (e.stderr or b"")


def test_the_seaweedfs_sockets_are_the_owners_only(local_archive):
    """SeaweedFS also listens on unix sockets in /tmp (named for its ports), where TLS does not apply;
    a socket one cannot write one cannot connect to."""
    p = Ports(**local_archive.endpoints.ports)
    ours = [
        s
        for s in Path("/tmp").glob("seaweedfs-*.sock")
        if int(s.stem.rsplit("-", 1)[1]) in {p.s3, p.weed_filer, *(p.weed_grpc(i) for i in range(4))}
    ]
    assert ours
    for sock in ours:
        assert not sock.stat().st_mode & 0o022, (sock, oct(sock.stat().st_mode))
