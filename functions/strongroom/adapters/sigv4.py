"""AWS Signature Version 4 with botocore's own signer: to sign a request, or to recompute the
signature a request claims (how the local API checks callers as API Gateway's AWS_IAM would)."""

from __future__ import annotations

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def expected_signature(method: str, url: str, body: bytes, signed_headers: dict[str, str], stamp: str,
                       access_key: str, secret_key: str, service: str, region: str) -> str:
    """The signature the holder of secret_key would send for this request, dated `stamp`."""
    request = AWSRequest(method=method, url=url, data=body, headers=signed_headers)
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(access_key, secret_key), service, region)
    return signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)


def signed_headers(method: str, url: str, access_key: str, secret_key: str, region: str, body: bytes = b"",
                   headers: dict[str, str] | None = None, service: str = "execute-api") -> dict[str, str]:
    """The headers SigV4Auth adds to sign a request (Authorization, X-Amz-Date, ...)."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials(access_key, secret_key), service, region).add_auth(request)
    return dict(request.headers.items())
