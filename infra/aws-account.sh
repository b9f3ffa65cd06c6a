# Sourced by deploy.sh and add-publisher.sh: the account and partition of the credentials in use.
# STRONGROOM_ACCOUNT_ID (and STRONGROOM_PARTITION) skip the AWS call; a dry run without them
# uses placeholders. Expects $dry_run to be set (0 or 1).
if [[ -n "${STRONGROOM_ACCOUNT_ID:-}" ]]; then
  account="$STRONGROOM_ACCOUNT_ID" partition="${STRONGROOM_PARTITION:-aws}"
elif [[ $dry_run -eq 1 ]]; then
  echo "+ aws sts get-caller-identity --query Arn --output text"
  account="ACCOUNT_ID" partition="aws"
else
  caller_arn="$(aws sts get-caller-identity --query Arn --output text)"
  account="$(cut -d: -f5 <<<"$caller_arn")" partition="$(cut -d: -f2 <<<"$caller_arn")"
fi
