"""AWS Signature Version 4 with botocore's own signer: to sign a request, or to recompute the
signature a request claims (how the local API checks callers as API Gateway's AWS_IAM would);
and the keys of an AWS profile, found by botocore's own credential chain, to sign with."""

from __future__ import annotations

from dataclasses import dataclass

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ProfileNotFound

from strongroom.domain.errors import StrongroomError


class CredentialsError(StrongroomError):
    """No AWS keys to sign with; the message says where botocore looked and what to do."""


@dataclass(frozen=True)
class Keys:
    """The keys a request is signed with (a session token too for temporary credentials)."""

    access_key: str
    secret_key: str = ""
    token: str | None = None


def profile_keys(profile: str | None) -> tuple[Keys, str | None]:
    """The keys of an AWS profile (None: botocore's default chain: environment, ~/.aws, SSO, instance
    role) and the region the profile names, if any."""
    try:
        session = botocore.session.Session(profile=profile)
        credentials = session.get_credentials()
        region = session.get_config_variable("region")
    except ProfileNotFound:
        raise CredentialsError(
            f"there is no AWS profile {profile!r} in ~/.aws/config or ~/.aws/credentials: "
            "give one that exists (`aws configure list-profiles`)"
        ) from None
    except BotoCoreError as e:
        raise CredentialsError(
            f"AWS credentials of profile {profile or 'default'} could not be read ({e}); "
            "fix the profile or log in again (e.g. `aws sso login`)"
        ) from None
    if credentials is None:
        raise CredentialsError(
            f"no AWS credentials found for profile {profile or 'default'}: give --profile NAME "
            "(or AWS_PROFILE) naming an admin's profile, or set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY"
        )
    frozen = credentials.get_frozen_credentials()
    if not frozen.access_key or not frozen.secret_key:
        raise CredentialsError(
            f"the AWS credentials of profile {profile or 'default'} have no access key or secret; "
            "fix the profile or log in again (e.g. `aws sso login`)"
        )
    return Keys(frozen.access_key, frozen.secret_key, frozen.token), region


def expected_signature(
    method: str,
    url: str,
    body: bytes,
    signed_headers: dict[str, str],
    stamp: str,
    access_key: str,
    secret_key: str,
    service: str,
    region: str,
) -> str:
    """The signature the holder of secret_key would send for this request, dated `stamp`."""
    request = AWSRequest(method=method, url=url, data=body, headers=signed_headers)
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(access_key, secret_key), service, region)
    return signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)


def signed_headers(
    method: str,
    url: str,
    access_key: str,
    secret_key: str,
    region: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    service: str = "execute-api",
    token: str | None = None,
) -> dict[str, str]:
    """The headers SigV4Auth adds to sign a request (Authorization, X-Amz-Date, X-Amz-Security-Token …)."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials(access_key, secret_key, token), service, region).add_auth(request)
    return dict(request.headers.items())
