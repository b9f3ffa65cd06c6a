#!/usr/bin/env bash
# Deploy strongroom to AWS: infra/node.yaml once in every node region listed in
# functions/strongroom/strongroom.toml, then the control stack (template.yaml) with SAM.
#
# Nodes go first: their bucket policies name the ingest role by ARN in a condition, which
# works before the role exists, while the control stack needs the node buckets' names.
# Both orders converge; re-running is safe (unchanged stacks are skipped).
#
# usage: infra/deploy.sh [--dry-run] [--yes] [--prefix P] [--control-region R]
#                        [--retention-days N] [--access-log-bucket 'logs-{region}']
#                        [--alarm-topic ARN] [--use-container]
#   --dry-run            print every command instead of running it (needs no AWS access;
#                        set STRONGROOM_ACCOUNT_ID to see real names)
#   --yes                do not ask to confirm the control stack's change set
#   --prefix             bucket/table prefix (default: [archive] prefix in strongroom.toml)
#   --control-region     region of the control stack (default: node 1's region)
#   --retention-days     node Object Lock default retention (default: node.yaml's)
#   --access-log-bucket  name of an existing log bucket per region, {region} substituted
#   --alarm-topic        SNS topic ARN for the failed-ingest alarm
#   --use-container      sam build inside a Lambda build container (no local python3.11)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOML="$ROOT/functions/strongroom/strongroom.toml"

dry_run=0 confirm="--confirm-changeset" prefix="" control_region="" retention_days=""
access_log_bucket="" alarm_topic="" use_container=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --yes) confirm="--no-confirm-changeset" ;;
    --prefix) prefix="$2"; shift ;;
    --control-region) control_region="$2"; shift ;;
    --retention-days) retention_days="$2"; shift ;;
    --access-log-bucket) access_log_bucket="$2"; shift ;;
    --alarm-topic) alarm_topic="$2"; shift ;;
    --use-container) use_container=(--use-container) ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "deploy.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

die() { echo "deploy.sh: $*" >&2; exit 1; }

# Print a command (shell-quoted, so it can be pasted) and run it unless --dry-run.
run() {
  printf '+'; printf ' %q' "$@"; printf '\n'
  if [[ $dry_run -eq 0 ]]; then "$@"; fi
}

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "python3 >= 3.11 is needed (tomllib) to read $TOML"

# The node regions, in node order, and the default prefix: strongroom.toml is the only list.
toml_out="$(python3 - "$TOML" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    raw = tomllib.load(f)
print(raw["archive"]["prefix"])
for node in raw["nodes"]:
    print(node["region"])
PY
)"
readarray -t toml_lines <<<"$toml_out"
prefix="${prefix:-${toml_lines[0]}}"
regions=("${toml_lines[@]:1}")
[[ ${#regions[@]} -gt 0 ]] || die "no [[nodes]] in $TOML"
[[ "$prefix" =~ ^[a-z0-9-]{3,30}$ ]] || die "prefix '$prefix' must match ^[a-z0-9-]{3,30}$"
control_region="${control_region:-${regions[0]}}"

if [[ $dry_run -eq 0 ]]; then
  command -v aws >/dev/null || die "the AWS CLI is not installed"
  command -v sam >/dev/null || die "the AWS SAM CLI is not installed"
fi

# Account and partition of the credentials in use (STRONGROOM_ACCOUNT_ID skips the call).
source "$(dirname "${BASH_SOURCE[0]}")/aws-account.sh"

# Names follow the templates: node.yaml names its bucket, template.yaml names the role.
ingest_role_arn="arn:${partition}:iam::${account}:role/${prefix}-ingest-function"
node_stack="${prefix}-node"
control_stack="${prefix}-control"
node_bucket() { echo "${prefix}-node-$1-${account}"; }

# Opt-in regions (mx-central-1, ap-east-1, eu-south-1, ...) must be enabled first: check
# all of them before deploying anything, so a missing one does not leave a half-done run.
if [[ $dry_run -eq 0 ]]; then
  for region in "${regions[@]}"; do
    status="$(aws ec2 describe-regions --region "$control_region" --all-regions \
      --region-names "$region" --query 'Regions[0].OptInStatus' --output text)"
    [[ "$status" != "not-opted-in" ]] \
      || die "region $region is not enabled in account $account (Account settings > AWS Regions)"
  done
fi

# The Lambda package: CodeUri is functions/, whose run-time dependencies are the pinned
# [project].dependencies of pyproject.toml (not requirements.lock, which adds dev/local).
# Built outside the work tree, so nothing of it can be committed by mistake.
build_dir="${STRONGROOM_BUILD_DIR:-${TMPDIR:-/tmp}/strongroom-sam-build}"
manifest="$build_dir/requirements.txt"
run mkdir -p "$build_dir"
if [[ $dry_run -eq 0 ]]; then
  python3 - "$ROOT/pyproject.toml" >"$manifest" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["dependencies"]))
PY
else
  echo "+ (write $manifest from pyproject.toml [project].dependencies)"
fi
echo "== ${#regions[@]} node stacks ($node_stack), ingest role $ingest_role_arn"
# node.yaml is a SAM template (the per-region auditor function): build it once, deploy it
# to every region; --resolve-s3 makes SAM's artifact bucket in each region.
run sam build \
  --template-file "$ROOT/infra/node.yaml" \
  --build-dir "$build_dir/node" \
  --manifest "$manifest" \
  "${use_container[@]}"
for region in "${regions[@]}"; do
  overrides="Prefix=$prefix IngestRoleArn=$ingest_role_arn"
  [[ -z "$retention_days" ]] || overrides+=" RetentionDays=$retention_days"
  [[ -z "$access_log_bucket" ]] || overrides+=" AccessLogBucket=${access_log_bucket//\{region\}/$region}"
  run sam deploy \
    --region "$region" \
    --stack-name "$node_stack" \
    --template-file "$build_dir/node/template.yaml" \
    --resolve-s3 \
    --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
    --parameter-overrides "$overrides" \
    --tags "strongroom:component=node" \
    --no-fail-on-empty-changeset \
    "$confirm"
done

# NodeBuckets (JSON, for STRONGROOM_NODE_BUCKETS) and NodeBucketArns (for IAM), from the
# same list so they cannot disagree.
node_buckets_json="$(python3 -c '
import json, sys
print(json.dumps(dict(zip(sys.argv[1::2], sys.argv[2::2])), separators=(",", ":")))
' $(for r in "${regions[@]}"; do echo "$r $(node_bucket "$r")"; done))"
node_bucket_arns="$(for r in "${regions[@]}"; do echo "arn:${partition}:s3:::$(node_bucket "$r")"; done | paste -sd, -)"

echo "== control stack $control_stack in $control_region"
run sam build \
  --template-file "$ROOT/template.yaml" \
  --build-dir "$build_dir/build" \
  --manifest "$manifest" \
  "${use_container[@]}"

# SAM parses --parameter-overrides itself: one string, JSON value in single quotes.
params="Prefix=$prefix NodeBuckets='$node_buckets_json' NodeBucketArns=$node_bucket_arns"
[[ -z "$alarm_topic" ]] || params+=" AlarmTopicArn=$alarm_topic"
[[ -z "$access_log_bucket" ]] || params+=" AccessLogBucket=${access_log_bucket//\{region\}/$control_region}"
run sam deploy \
  --template-file "$build_dir/build/template.yaml" \
  --stack-name "$control_stack" \
  --region "$control_region" \
  --resolve-s3 \
  --capabilities CAPABILITY_NAMED_IAM \
  --tags "strongroom:component=control" \
  --parameter-overrides "$params" \
  --no-fail-on-empty-changeset \
  "$confirm"

run aws cloudformation describe-stacks --region "$control_region" --stack-name "$control_stack" \
  --query 'Stacks[0].Outputs' --output table
