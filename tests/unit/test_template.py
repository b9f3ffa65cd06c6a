"""The AWS description (template.yaml, infra/node.yaml, infra/*.sh) checked offline.

No network and no AWS account: cfn-lint's own API, a YAML loader that understands
CloudFormation's short tags, and the deploy scripts' --dry-run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.cfn import load

ROOT = Path(__file__).resolve().parents[2]
CONTROL = ROOT / "template.yaml"
NODE = ROOT / "infra" / "node.yaml"
TEMPLATES = [CONTROL, NODE]
PUBLISHER_TAG = "${aws:PrincipalTag/strongroom:publisher}"


# ---------------------------------------------------------------- loading


@pytest.fixture(scope="module")
def control() -> dict:
    return load(CONTROL)


@pytest.fixture(scope="module")
def node() -> dict:
    return load(NODE)


def resources(template: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def text(value) -> str:
    """The literal text of a string, !Sub (unescaping ${! ...}), or anything else (JSON)."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        value = sub[0] if isinstance(sub, list) else sub
        return value.replace("${!", "${")
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def policy_documents(template: dict):
    """(where, document) for every permission policy in a template."""
    for name, res in template["Resources"].items():
        props = res.get("Properties", {})
        kind = res["Type"]
        if kind == "AWS::IAM::Role":
            for p in props.get("Policies", []):
                yield f"{name}/{p['PolicyName']}", p["PolicyDocument"]
        elif kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy", "AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy"):
            yield name, props["PolicyDocument"]
        elif kind == "AWS::Serverless::Function":
            for p in as_list(props.get("Policies", [])):
                if isinstance(p, dict) and "Statement" in p:
                    yield name, p


def statements(document: dict) -> list[dict]:
    return as_list(document["Statement"])


# ---------------------------------------------------------------- lint


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_cfn_lint_passes(path: Path):
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(path, config=ManualArgs(regions=["us-east-1"]))
    findings = [m for m in matches if m.rule.severity != "informational"]
    assert not findings, "\n".join(str(m) for m in findings)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_every_checkov_exception_says_why(path: Path):
    """`make test` runs checkov; what it is told to skip is in the template, each with its reason."""
    for name, res in load(path)["Resources"].items():
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (name, skip)
            assert len(skip.get("comment", "")) > 40, f"{name} skips {skip['id']} without a reason"


# ---------------------------------------------------------------- contract with the local runtime


def test_names_the_local_runtime_reads_are_kept(control):
    res = control["Resources"]
    assert res["IngestBucket"]["Type"] == "AWS::S3::Bucket"
    assert res["CatalogTable"]["Type"] == "AWS::DynamoDB::Table"
    fn = res["IngestFunction"]
    assert fn["Type"] == "AWS::Serverless::Function"
    assert fn["Properties"]["Handler"] == "strongroom.handlers.ingest.handler"
    assert control["Globals"]["Function"]["CodeUri"] == "functions/"
    event = fn["Properties"]["Events"]["PackageDeposited"]
    assert event["Type"] == "S3"
    assert event["Properties"]["Bucket"] == {"Ref": "IngestBucket"}
    assert event["Properties"]["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "incoming/"}]


def test_every_handler_names_a_handler_module(control):
    handlers = {
        name: fn["Properties"]["Handler"] for name, fn in resources(control, "AWS::Serverless::Function").items()
    }
    assert handlers
    for name, handler in handlers.items():
        m = re.fullmatch(r"strongroom\.handlers\.([a-z_][a-z0-9_]*)\.handler", handler)
        assert m, f"{name}: Handler {handler!r} is not strongroom.handlers.<module>.handler"
        module = ROOT / "functions" / "strongroom" / "handlers" / f"{m.group(1)}.py"
        assert module.is_file(), f"{name}: Handler {handler!r} but {module.relative_to(ROOT)} does not exist"


def test_functions_get_every_setting_config_reads(control):
    config_source = (ROOT / "functions" / "strongroom" / "config.py").read_text("utf-8")
    settings_part, _, per_function = config_source.partition("class Environment")
    read = set(re.findall(r'"(STRONGROOM_[A-Z_]+)"', settings_part)) - {"STRONGROOM_CONFIG"}
    env = control["Globals"]["Function"]["Environment"]["Variables"]
    assert read <= set(env), f"config.py reads {sorted(read - set(env))}, the template does not set them"
    assert env["STRONGROOM_NODE_BUCKETS"] == {"Ref": "NodeBuckets"}
    # What a single function's environment says (config.Environment) is set on that function, by
    # the control stack or the node stack; the local-only variables are the local runtime's.
    local_only = {
        "STRONGROOM_DATA",
        "STRONGROOM_LOCAL_PORTS",
        "STRONGROOM_LOCAL_DETACHED",
        "STRONGROOM_TEMPLATE",
        "STRONGROOM_API_URL",
    }  # the last is the admins' CLI's: which deployed API it calls
    optional = {"STRONGROOM_REPLAY_DIR"}  # defaults to /tmp/replay, the replay function's scratch space
    per_fn = set(re.findall(r'"(STRONGROOM_[A-Z_]+)"', per_function)) - local_only - optional
    stacks = (ROOT / "template.yaml").read_text("utf-8") + (ROOT / "infra" / "node.yaml").read_text("utf-8")
    unset = sorted(v for v in per_fn if f"{v}:" not in stacks)
    assert not unset, f"config.Environment reads {unset}, no function in template.yaml or infra/node.yaml sets them"


def test_ingest_function_limits(control):
    fn = control["Resources"]["IngestFunction"]["Properties"]
    glob = control["Globals"]["Function"]
    assert glob["Runtime"] == "python3.11" and glob["Architectures"] == [{"Ref": "Architecture"}]
    assert control["Parameters"]["Architecture"]["Default"] == "arm64"
    assert glob["Timeout"] == 900
    assert fn["EphemeralStorage"]["Size"] == 10240
    assert fn["ReservedConcurrentExecutions"] == {"Ref": "IngestConcurrency"}
    assert fn["DeadLetterQueue"]["Type"] == "SQS"


def test_catalog_table(control):
    props = control["Resources"]["CatalogTable"]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


# ---------------------------------------------------------------- least privilege

# Actions with no resource-level permissions at all; "*" is the only possible resource.
RESOURCELESS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_the_site_sends_the_same_security_headers_as_the_local_site(control):
    """Every site answer (pages, deposited files, the attestation) carries render.safety's policy on AWS too."""
    from strongroom.render.safety import SITE_HEADERS

    policies = resources(control, "AWS::CloudFront::ResponseHeadersPolicy")
    ((ref, policy),) = policies.items()
    security = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert security["ContentSecurityPolicy"]["ContentSecurityPolicy"] == SITE_HEADERS["Content-Security-Policy"]
    assert SITE_HEADERS["X-Content-Type-Options"] == "nosniff" and "ContentTypeOptions" in security
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == SITE_HEADERS["Referrer-Policy"]
    assert all(header["Override"] is True for header in security.values())
    config = control["Resources"]["SiteDistribution"]["Properties"]["DistributionConfig"]
    behaviours = [config["DefaultCacheBehavior"], *config.get("CacheBehaviors", [])]
    assert [b.get("ResponseHeadersPolicyId") for b in behaviours] == [{"Ref": ref}] * len(behaviours)


def _is_read_only(action: str) -> bool:
    verb = action.split(":", 1)[-1]
    return verb.startswith(("Get", "List", "Describe", "Head"))


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_no_wildcard_grants(path: Path):
    docs = list(policy_documents(load(path)))
    assert docs
    for where, doc in docs:
        for st in statements(doc):
            if st["Effect"] != "Allow":
                continue  # a Deny may be as wide as it likes
            actions = as_list(st["Action"])
            for action in actions:
                assert isinstance(action, str), f"{where}: computed action {action!r}"
                assert action != "*" and not action.endswith(":*"), f"{where} allows {action}"
            if "*" in as_list(st.get("Resource", [])):
                writes = [a for a in actions if not _is_read_only(a) and a not in RESOURCELESS]
                assert not writes, f"{where}: {writes} on Resource '*'"


def test_ingest_role_deletes_only_processed_deposits(control):
    doc = control["Resources"]["IngestRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    for st in statements(doc):
        deletes = [a for a in as_list(st["Action"]) if "Delete" in a and a.startswith("s3:")]
        if deletes:
            # DeleteObjectVersion: a handled package version is removed by its id (issue 14)
            assert deletes == ["s3:DeleteObject", "s3:DeleteObjectVersion"]
            assert [text(r) for r in as_list(st["Resource"])] == [
                "arn:${AWS::Partition}:s3:::${Prefix}-ingest-${AWS::AccountId}/incoming/*"
            ]
        if any(text(r).find("NodeBucketArns") >= 0 for r in as_list(st["Resource"])):
            assert not deletes, "the ingest role must never delete from a node"


def test_node_policy_grants_the_ingest_role_no_delete(node):
    doc = node["Resources"]["NodeBucketPolicy"]["Properties"]["PolicyDocument"]
    allowed = set()
    for st in statements(doc):
        if st["Effect"] == "Allow":
            assert st["Condition"]["ArnEquals"]["aws:PrincipalArn"] == {"Ref": "IngestRoleArn"}
            allowed |= set(as_list(st["Action"]))
    assert allowed == {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "s3:ListBucket",
    }


# ---------------------------------------------------------------- buckets


def _bucket_policies(template: dict) -> dict[str, dict]:
    out = {}
    for res in resources(template, "AWS::S3::BucketPolicy").values():
        props = res["Properties"]
        out[props["Bucket"]["Ref"]] = props["PolicyDocument"]
    return out


def _all_buckets() -> list:
    return [
        pytest.param(template, name, bucket, id=f"{path.name}:{name}")
        for path in TEMPLATES
        for template in [load(path)]
        for name, bucket in resources(template, "AWS::S3::Bucket").items()
    ]


@pytest.mark.parametrize("template,name,bucket", _all_buckets())
def test_every_bucket_is_dark_versioned_encrypted_and_tls_only(template, name, bucket):
    props = bucket["Properties"]
    assert props["VersioningConfiguration"]["Status"] == "Enabled"
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    bpa = props["PublicAccessBlockConfiguration"]
    assert all(
        bpa[k] is True for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    )
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert bucket.get("DeletionPolicy") == "Retain"

    policy = _bucket_policies(template).get(name)
    assert policy, f"{name} has no bucket policy"
    tls = [
        st
        for st in statements(policy)
        if st["Effect"] == "Deny"
        and st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
    ]
    assert tls, f"{name} does not deny requests without TLS"
    assert "s3:*" in as_list(tls[0]["Action"]) and tls[0]["Principal"] == "*"
    # Dark means dark: no statement opens anything to everyone.
    for st in statements(policy):
        if st["Effect"] == "Allow":
            assert st["Principal"] != "*" and st["Principal"] != {"AWS": "*"}, f"{name} is public"


def test_node_bucket_object_lock_and_no_noncurrent_expiry(node):
    props = node["Resources"]["NodeBucket"]["Properties"]
    assert text(props["BucketName"]) == "${Prefix}-node-${AWS::Region}-${AWS::AccountId}"
    assert props["ObjectLockEnabled"] is True
    lock = props["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert lock["Rule"]["DefaultRetention"]["Mode"] == "GOVERNANCE"
    for rule in props.get("LifecycleConfiguration", {}).get("Rules", []):
        assert not {
            "NoncurrentVersionExpiration",
            "NoncurrentVersionExpirationInDays",
            "ExpirationInDays",
            "ExpirationDate",
        } & set(rule), f"{rule['Id']} deletes evidence"


def test_ingest_lifecycle_never_expires_quarantine(control):
    rules = control["Resources"]["IngestBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert any("NoncurrentVersionExpiration" in r for r in rules)
    for rule in rules:
        prefix = rule.get("Prefix", rule.get("Filter", {}).get("Prefix", ""))
        # processed packages, and the votes auditors hand to a poll (digests only, kept 90 days)
        assert prefix.startswith(("incoming/", "audit/votes/")), f"lifecycle rule {rule['Id']} reaches too far"
        for kept in ("quarantine/", "receipts/", "rejections/", "releases/"):
            assert not kept.startswith(prefix), f"lifecycle rule {rule['Id']} would expire {kept}"


# ---------------------------------------------------------------- publishers


def test_publisher_policy_is_scoped_by_the_principal_tag(control):
    doc = control["Resources"]["PublisherPolicy"]["Properties"]["PolicyDocument"]
    allows = [st for st in statements(doc) if st["Effect"] == "Allow"]
    actions = {a for st in allows for a in as_list(st["Action"])}
    assert "s3:PutObject" in actions and "s3:GetObject" in actions
    assert not {a for a in actions if "Delete" in a}, "publishers must not delete"
    for st in allows:
        resources_ = [text(r) for r in as_list(st["Resource"])]
        if st["Action"] == "s3:ListBucket":
            prefixes = [text(p) for p in as_list(st["Condition"]["StringLike"]["s3:prefix"])]
            assert prefixes == [f"receipts/{PUBLISHER_TAG}/*", f"rejections/{PUBLISHER_TAG}/*"]
            continue
        for r in resources_:
            assert PUBLISHER_TAG + "/*" in r, f"{st['Sid']}: {r} not scoped by the publisher tag"
        writes = [a for a in as_list(st["Action"]) if not _is_read_only(a)]
        if writes:
            assert all(f"/incoming/{PUBLISHER_TAG}/*" in r for r in resources_)
        else:
            assert all(re.search(r"/(receipts|rejections)/", r) for r in resources_)


# ---------------------------------------------------------------- scripts


def _script_env() -> dict[str, str]:
    env = dict(os.environ, STRONGROOM_ACCOUNT_ID="123456789012")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_deploy_dry_run_covers_every_node_region_from_the_toml():
    toml = tomllib.loads((ROOT / "functions" / "strongroom" / "strongroom.toml").read_text("utf-8"))
    regions = [n["region"] for n in toml["nodes"]]
    out = subprocess.run(
        ["bash", str(ROOT / "infra" / "deploy.sh"), "--dry-run"],
        capture_output=True,
        text=True,
        env=_script_env(),
        timeout=60,
        check=True,
    ).stdout
    deployed = re.findall(r"sam deploy --region (\S+) --stack-name strongroom-node", out)
    assert deployed == regions
    sam_deploy = next(
        line
        for line in out.splitlines()
        if line.startswith("+ ") and "sam deploy" in line and "strongroom-control" in line
    )
    for r in regions:
        assert f"strongroom-node-{r}-123456789012" in sam_deploy
    # The node stacks come before the control stack.
    assert out.index("--stack-name strongroom-node") < out.index("--stack-name strongroom-control")


ADMINS = "arn:aws:iam::123456789012:user/alice,arn:aws:iam::123456789012:user/bob"


def _overrides(line: str) -> dict[str, str]:
    """The parameters of one printed `sam deploy` command (printf %q quoting undone by shlex)."""
    import shlex

    args = shlex.split(line[2:])
    text = args[args.index("--parameter-overrides") + 1]
    return dict(pair.split("=", 1) for pair in shlex.split(text))


def _deploys(out: str) -> tuple[list[dict], dict]:
    node = [
        _overrides(line)
        for line in out.splitlines()
        if line.startswith("+ ") and " deploy " in line and "--stack-name strongroom-node" in line
    ]
    [control] = [
        _overrides(line)
        for line in out.splitlines()
        if line.startswith("+ ") and " deploy " in line and "--stack-name strongroom-control" in line
    ]
    return node, control


def _without_default(template: dict) -> set[str]:
    return {k for k, v in template["Parameters"].items() if "Default" not in v}


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_deploy_passes_every_parameter_that_has_no_default(control, node):
    out = subprocess.run(
        ["bash", str(ROOT / "infra" / "deploy.sh"), "--dry-run", "--admins", ADMINS],
        capture_output=True,
        text=True,
        env=_script_env(),
        timeout=60,
        check=True,
    ).stdout
    node_params, control_params = _deploys(out)
    for params in node_params:
        assert _without_default(node) <= set(params), sorted(_without_default(node) - set(params))
        assert set(params) <= set(node["Parameters"])
    assert _without_default(control) <= set(control_params), sorted(_without_default(control) - set(control_params))
    assert set(control_params) <= set(control["Parameters"])
    assert control_params["AdminArns"] == ADMINS
    # The artifacts are built for the architecture the stacks are deployed with.
    assert "+ make -C " in out and " build ARCH=arm64" in out
    assert {p["Architecture"] for p in node_params} == {control_params["Architecture"]} == {"arm64"}
    # No AWS call in a dry run, yet every call it would make is printed.
    assert "+ aws ec2 describe-regions" in out and "+ aws s3 cp s3://strongroom-public-123456789012/current.json" in out


FAKE_AWS = r"""#!{python}
# Stands in for the AWS CLI and the SAM CLI: logs each call, answers from a JSON state file.
import json, os, sys
state_file = os.environ["FAKE_STATE"]
state = json.load(open(state_file)) if os.path.exists(state_file) else {{}}
args = sys.argv[1:]
with open(state_file + ".log", "a") as log:
    log.write(json.dumps([os.path.basename(sys.argv[0])] + args) + "\n")
if os.path.basename(sys.argv[0]) == "sam":
    if args[0] == "deploy" and "strongroom-control" in args:
        import shlex
        text = args[args.index("--parameter-overrides") + 1]
        state["stack"] = dict(pair.split("=", 1) for pair in shlex.split(text))
elif args[:2] == ["s3", "cp"]:
    if "pointer" not in state:
        sys.exit('fatal error: An error occurred (404) when calling the HeadObject operation: Key "current.json" '
                 'does not exist')
    print(json.dumps(state["pointer"]))
elif args[:2] == ["cloudformation", "describe-stacks"] and "AdminArns" in " ".join(args):
    if "stack" not in state:
        sys.exit("An error occurred (ValidationError): Stack with id strongroom-control does not exist")
    print(state["stack"]["AdminArns"])
json.dump(state, open(state_file, "w"))
"""


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_a_second_deploy_keeps_the_live_render_and_the_admins(tmp_path):
    """Run for real against stand-ins of aws, sam and make: a first deploy, a release, a second deploy."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("aws", "sam", "make"):
        (bin_dir / name).write_text(FAKE_AWS.format(python=sys.executable))
        (bin_dir / name).chmod(0o755)
    state = tmp_path / "state.json"
    env = dict(
        _script_env(),
        FAKE_STATE=str(state),
        STRONGROOM_SAM=str(bin_dir / "sam"),
        PATH=str(bin_dir) + os.pathsep + _script_env()["PATH"],
    )
    deploy = ["bash", str(ROOT / "infra" / "deploy.sh"), "--yes"]

    def stack() -> dict:
        return json.loads(state.read_text())["stack"]

    # Without --admins and without a stack to take them from, nothing is deployed.
    r = subprocess.run(deploy, capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode != 0 and "--admins" in r.stderr
    subprocess.run(deploy + ["--admins", ADMINS], capture_output=True, text=True, env=env, timeout=60, check=True)
    assert stack()["LiveRenderPrefix"] == "releases/none" and stack()["AdminArns"] == ADMINS

    # The release worker publishes a render and points current.json at it (not the stack).
    s = json.loads(state.read_text())
    s["pointer"] = {
        "render_id": "r-20260301-ab12",
        "prefix": "releases/r-20260301-ab12/",
        "replay": "releases/r-20260301-ab12/replay/",
    }
    state.write_text(json.dumps(s))
    r = subprocess.run(deploy, capture_output=True, text=True, env=env, timeout=60, check=True)
    assert stack()["LiveRenderPrefix"] == "releases/r-20260301-ab12", r.stdout
    assert stack()["AdminArns"] == ADMINS

    # A pointer that cannot be read for another reason stops the deploy instead of guessing "none".
    s = json.loads(state.read_text())
    s["pointer"] = "not json"
    state.write_text(json.dumps(s))
    r = subprocess.run(deploy, capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode != 0 and "current.json" in r.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
@pytest.mark.parametrize("name", ["a/b", "x*", "Upper", "-dash"])
def test_add_publisher_refuses_names_that_would_widen_the_prefix(name):
    r = subprocess.run(
        ["bash", str(ROOT / "infra" / "add-publisher.sh"), name, "--user", "--dry-run"],
        capture_output=True,
        text=True,
        env=_script_env(),
        timeout=60,
    )
    assert r.returncode != 0 and "publisher name" in r.stderr
