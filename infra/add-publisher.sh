#!/usr/bin/env bash
# Give a publisher credentials that can deposit into incoming/<name>/ and read
# receipts/<name>/ and rejections/<name>/ of the ingest bucket, and nothing else.
#
# It creates an IAM principal tagged strongroom:publisher=<name> and attaches the control
# stack's <prefix>-publisher managed policy, whose resources are written in terms of that
# tag: onboarding a publisher never changes a template.
#
# usage:
#   infra/add-publisher.sh NAME --account 111122223333 [--external-id ID]   # preferred
#   infra/add-publisher.sh NAME --user                                       # no AWS account
#   options: --prefix P (default strongroom) --dry-run
#
# --account: a role the publisher's AWS account may assume, only with the external id
#   (generated when not given; send it to the publisher with the role ARN). The publisher
#   keeps its own credentials; nothing secret leaves this account.
# --user: an IAM user for a publisher without an AWS account. Create its access key
#   yourself (the command is printed) and hand it over through a secure channel.
set -euo pipefail

die() { echo "add-publisher.sh: $*" >&2; exit 1; }
run() {
  printf '+'; printf ' %q' "$@"; printf '\n'
  if [[ $dry_run -eq 0 ]]; then "$@"; fi
}

[[ $# -ge 1 ]] || { sed -n '2,20p' "$0"; exit 2; }
name="$1"; shift
mode="" publisher_account="" external_id="" prefix="strongroom" dry_run=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --account) mode=role; publisher_account="$2"; shift ;;
    --external-id) external_id="$2"; shift ;;
    --user) mode=user ;;
    --prefix) prefix="$2"; shift ;;
    --dry-run) dry_run=1 ;;
    *) die "unknown argument $1" ;;
  esac
  shift
done

# The name becomes a key prefix and a policy-variable value: lower-case letters, digits
# and dashes only (no "/", no wildcards - the publisher policy also refuses those).
[[ "$name" =~ ^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$ ]] \
  || die "publisher name '$name' must be 3-40 of a-z, 0-9, '-' (not at either end)"
[[ -n "$mode" ]] || die "say --account <publisher's AWS account id> or --user"
if [[ $mode == role ]]; then
  [[ "$publisher_account" =~ ^[0-9]{12}$ ]] || die "--account needs a 12-digit AWS account id"
  if [[ -z "$external_id" ]]; then
    external_id="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  fi
  [[ "$external_id" =~ ^[A-Za-z0-9+=,.@:/-]{2,1224}$ ]] || die "--external-id has characters STS does not accept"
fi

source "$(dirname "${BASH_SOURCE[0]}")/aws-account.sh"
policy_arn="arn:${partition}:iam::${account}:policy/${prefix}-publisher"
bucket="${prefix}-ingest-${account}"
principal="${prefix}-publisher-${name}"
tags=("Key=strongroom:publisher,Value=${name}")
[[ ${#principal} -le 64 ]] || die "IAM name $principal is longer than 64 characters: use a shorter name"

if [[ $dry_run -eq 0 ]]; then
  aws iam get-policy --policy-arn "$policy_arn" >/dev/null \
    || die "no policy $policy_arn: deploy the control stack first (infra/deploy.sh)"
fi

if [[ $mode == role ]]; then
  # sts:AssumeRole only. Never add sts:TagSession here: a session tag named
  # strongroom:publisher would override the role's tag and open another publisher's prefix.
  trust="$(python3 - "$partition" "$publisher_account" "$external_id" <<'PY'
import json, sys
partition, account, external_id = sys.argv[1:]
print(json.dumps({
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
    }],
}))
PY
)"
  # create-role fails if the role exists: an existing publisher's trust is never replaced
  # silently. 12-hour sessions, so a large upload is not cut off by expiring credentials.
  run aws iam create-role \
    --role-name "$principal" \
    --description "strongroom publisher ${name}: deposit to incoming/${name}/" \
    --assume-role-policy-document "$trust" \
    --max-session-duration 43200 \
    --tags "${tags[@]}"
  run aws iam attach-role-policy --role-name "$principal" --policy-arn "$policy_arn"
  role_arn="arn:${partition}:iam::${account}:role/${principal}"
  cat <<EOF

Send publisher '${name}' (AWS account ${publisher_account}):
  role ARN:     ${role_arn}
  external id:  ${external_id}
  deposit to:   s3://${bucket}/incoming/${name}/<title>/<au>/<package>.zip
  receipts:     s3://${bucket}/receipts/${name}/
  rejections:   s3://${bucket}/rejections/${name}/
Their side (e.g. ~/.aws/config):
  [profile strongroom]
  role_arn = ${role_arn}
  external_id = ${external_id}
  source_profile = <their profile>
  duration_seconds = 43200
EOF
else
  run aws iam create-user --user-name "$principal" --tags "${tags[@]}"
  run aws iam attach-user-policy --user-name "$principal" --policy-arn "$policy_arn"
  cat <<EOF

Publisher '${name}' is the IAM user ${principal}. Create its key and hand it over securely:
  aws iam create-access-key --user-name ${principal}
  deposit to:   s3://${bucket}/incoming/${name}/<title>/<au>/<package>.zip
  receipts:     s3://${bucket}/receipts/${name}/
  rejections:   s3://${bucket}/rejections/${name}/
Rotate the key yearly; prefer --account whenever the publisher has an AWS account.
EOF
fi
