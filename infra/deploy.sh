#!/usr/bin/env bash
# Deploy strongroom to AWS: infra/node.yaml once in every node region listed in
# functions/strongroom/strongroom.toml, then the control stack (template.yaml) with SAM.
#
# Nodes go first: their bucket policies name the ingest role by ARN in a condition, which
# works before the role exists, while the control stack needs the node buckets' names.
# Both orders converge; re-running is safe (unchanged stacks are skipped) and keeps what the
# archive has done since: the live render (read from the public bucket's current.json) and,
# unless --admins is given, the release admins.
#
# usage: infra/deploy.sh [--dry-run] [--yes] [--admins ARN,ARN...] [--prefix P]
#                        [--control-region R] [--arch arm64|x86_64] [--retention-days N]
#                        [--access-log-bucket 'logs-{region}'] [--alarm-topic ARN]
#   --dry-run            print every command instead of running it (no AWS call; set
#                        STRONGROOM_ACCOUNT_ID to see real names)
#   --yes                do not ask to confirm the control stack's change set
#   --admins             IAM principal ARNs of the release admins (at least two: a release is
#                        approved by an admin other than its proposer). Needed the first time;
#                        later runs keep the deployed list unless given a new one
#   --prefix             bucket/table prefix (default: [archive] prefix in strongroom.toml)
#   --control-region     region of the control stack (default: node 1's region)
#   --arch               processor of every function (default arm64)
#   --retention-days     node Object Lock default retention (default: node.yaml's)
#   --access-log-bucket  name of an existing log bucket per region, {region} substituted
#   --alarm-topic        SNS topic ARN for the failed-ingest and unrepairable-audit alarms
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOML="$ROOT/functions/strongroom/strongroom.toml"

dry_run=0 confirm="--confirm-changeset" prefix="" control_region="" retention_days=""
access_log_bucket="" alarm_topic="" admins="" arch="arm64"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --yes) confirm="--no-confirm-changeset" ;;
    --admins) admins="$2"; shift ;;
    --prefix) prefix="$2"; shift ;;
    --control-region) control_region="$2"; shift ;;
    --arch) arch="$2"; shift ;;
    --retention-days) retention_days="$2"; shift ;;
    --access-log-bucket) access_log_bucket="$2"; shift ;;
    --alarm-topic) alarm_topic="$2"; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "deploy.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

die() { echo "deploy.sh: $*" >&2; exit 1; }

# Print a command (shell-quoted, so it can be pasted) and run it unless --dry-run.
exec 3>&1
run() {
  printf '+'; printf ' %q' "$@"; printf '\n'
  if [[ $dry_run -eq 0 ]]; then "$@"; fi
}
# A read-only AWS call whose answer shapes a later command: printed like run's, its output
# returned; a dry run makes no call and answers $1 instead. A failure's message is in $ask_err.
ask_err="$(mktemp)"
trap 'rm -f "$ask_err"' EXIT
ask() {
  local assume="$1"; shift
  { printf '+'; printf ' %q' "$@"; printf '\n'; } >&3
  if [[ $dry_run -eq 1 ]]; then printf '%s\n' "$assume"; return 0; fi
  "$@" 2>"$ask_err"
}

[[ "$arch" == arm64 || "$arch" == x86_64 ]] || die "--arch must be arm64 or x86_64"
if [[ -n "$admins" ]]; then
  IFS=, read -ra admin_list <<<"$admins"
  for a in "${admin_list[@]}"; do
    [[ "$a" =~ ^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:.+$ ]] || die "--admins: '$a' is not an IAM principal ARN"
  done
  [[ ${#admin_list[@]} -ge 2 ]] || die "--admins needs at least two ARNs: the proposer may not approve"
fi

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
  command -v make >/dev/null || die "make is not installed (it builds the functions and the SAM CLI's venv)"
fi
# The pinned SAM CLI that `make build` installs (infra/sam-cli.lock).
sam="${STRONGROOM_SAM:-$ROOT/.venv/sam/bin/sam}"

# Account and partition of the credentials in use (STRONGROOM_ACCOUNT_ID skips the call).
source "$(dirname "${BASH_SOURCE[0]}")/aws-account.sh"

# Names follow the templates: node.yaml names its bucket, template.yaml names the role.
ingest_role_arn="arn:${partition}:iam::${account}:role/${prefix}-ingest-function"
node_stack="${prefix}-node"
control_stack="${prefix}-control"
node_bucket() { echo "${prefix}-node-$1-${account}"; }

# Opt-in regions (mx-central-1, ap-east-1, eu-south-1, ...) must be enabled first: check
# all of them before deploying anything, so a missing one does not leave a half-done run.
opt_in="$(ask "" aws ec2 describe-regions --region "$control_region" --all-regions \
  --region-names "${regions[@]}" --query "Regions[?OptInStatus=='not-opted-in'].RegionName" --output text)" \
  || die "cannot check the regions: $(cat "$ask_err")"
[[ -z "${opt_in//[[:space:]]/}" ]] \
  || die "regions not enabled in account $account (Account settings > AWS Regions): $opt_in"

# Every function's artifact, for $arch (functions/Makefile: only the Lambda code, its data and
# templates, its dependencies from functions/runtime.lock). Into .aws-sam/, which git ignores.
echo "== build ($arch)"
run make -C "$ROOT" build "ARCH=$arch"
build_dir="$ROOT/.aws-sam"

echo "== ${#regions[@]} node stacks ($node_stack), ingest role $ingest_role_arn"
# One artifact for the auditor, deployed to every region; --resolve-s3 makes SAM's artifact
# bucket in each region.
for region in "${regions[@]}"; do
  overrides="Prefix=$prefix IngestRoleArn=$ingest_role_arn ControlRegion=$control_region Architecture=$arch"
  [[ -z "$retention_days" ]] || overrides+=" RetentionDays=$retention_days"
  [[ -z "$access_log_bucket" ]] || overrides+=" AccessLogBucket=${access_log_bucket//\{region\}/$region}"
  run "$sam" deploy \
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
# The live render: the release worker moves the site distribution's origin to each new render
# and records it in current.json, not in the stack. Passing it keeps a stack update from
# moving the site back (LiveRenderPrefix). No public bucket or no current.json yet: none.
public_bucket="${prefix}-public-${account}"
if pointer="$(ask '{"prefix": "releases/none/"}' aws s3 cp "s3://$public_bucket/current.json" - --region "$control_region")"; then
  live_render="$(python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["prefix"].rstrip("/"))' <<<"$pointer")" \
    || die "s3://$public_bucket/current.json is not a render pointer: $pointer"
elif grep -qE 'NoSuchKey|NoSuchBucket|\(404\)|Not Found' "$ask_err"; then
  live_render="releases/none"
else
  die "cannot read s3://$public_bucket/current.json (needed to keep the live render): $(cat "$ask_err")"
fi
[[ "$live_render" =~ ^releases/[A-Za-z0-9-]+$ ]] || die "current.json names '$live_render', not releases/<render id>"
echo "live render: $live_render"

# The admins: as given, else as deployed (a first deploy must name them).
if [[ -z "$admins" ]]; then
  admins="$(ask "ADMIN_ARNS_OF_THE_DEPLOYED_STACK" aws cloudformation describe-stacks --region "$control_region" \
    --stack-name "$control_stack" --query "Stacks[0].Parameters[?ParameterKey=='AdminArns'].ParameterValue" \
    --output text)" || die "no --admins and no deployed $control_stack to keep them from: a first deploy needs --admins ARN,ARN"
  [[ -n "$admins" && "$admins" != None ]] || die "$control_stack has no AdminArns: give --admins ARN,ARN"
fi

# SAM parses --parameter-overrides itself: one string, JSON value in single quotes. Every
# parameter without a default is here; the others keep their defaults on a first deploy and
# their deployed values afterwards (sam deploy passes UsePreviousValue for those not given).
params="Prefix=$prefix NodeBuckets='$node_buckets_json' NodeBucketArns=$node_bucket_arns"
params+=" AdminArns=$admins LiveRenderPrefix=$live_render Architecture=$arch"
[[ -z "$alarm_topic" ]] || params+=" AlarmTopicArn=$alarm_topic"
[[ -z "$access_log_bucket" ]] || params+=" AccessLogBucket=${access_log_bucket//\{region\}/$control_region}"
run "$sam" deploy \
  --template-file "$build_dir/build/template.yaml" \
  --stack-name "$control_stack" \
  --region "$control_region" \
  --resolve-s3 \
  --capabilities CAPABILITY_NAMED_IAM \
  --tags "strongroom:component=control" \
  --parameter-overrides "$params" \
  --no-fail-on-empty-changeset \
  "$confirm"

# The URLs and names to hand on: API, site, replay, buckets (docs/deploy.md lists them).
run aws cloudformation describe-stacks --region "$control_region" --stack-name "$control_stack" \
  --query 'Stacks[0].Outputs' --output table
