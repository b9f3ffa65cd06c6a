"""The signed API on loopback: what API Gateway (AWS_IAM auth) and Lambda's Invoke API do locally.

    ApiServer        an HTTP server on settings().ports.api. Requests to a path template.yaml
                     declares as an Api event are checked (SigV4, service execute-api),
                     turned into the REST proxy event API Gateway sends (with
                     requestContext.identity naming the caller) and given to that function's
                     handler through the router. POST /2015-03-31/functions/<name>/invocations
                     (service lambda, the archive's own keys only) is Lambda's Invoke with
                     InvocationType=Event: the release API starts the release worker this way,
                     with the same boto3 call as on AWS (AWS_ENDPOINT_URL_LAMBDA points here).
                     It refuses as API Gateway does: 403 with x-amzn-ErrorType for an unsigned
                     or badly signed request and for an unknown route or method; every answer
                     carries a fresh x-amzn-RequestId; every error has the body of
                     strongroom.domain.errors.error_body.
    SigV4Verifier    recomputes the signature with botocore's own signer from the request and
                     the secret of the access key it names; constant-time compare; X-Amz-Date
                     within 15 minutes.
    rest_event       the API Gateway REST proxy event (also used by the unit tests).
    call_api         a SigV4-signed request, as `strongroom release …` sends it.

Signing and checking signatures is botocore's, behind strongroom.adapters.sigv4.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from strongroom.adapters import sigv4
from strongroom.domain import json_body
from strongroom.domain.errors import BrokenRule, Refused, StrongroomError, error_body
from strongroom.local import identities as ids
from strongroom.local.router import ACCOUNT

log = logging.getLogger("strongroom.local.api")

MAX_SKEW = timedelta(minutes=15)
MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
INVOKE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
STAGE = "local"


def principal_arn(identity: ids.Identity) -> str:
    """The IAM ARN a local identity stands for (admins and publishers are users; the archive a role)."""
    if identity.kind == "archive":
        return f"arn:aws:iam::{ACCOUNT}:role/strongroom-archive"
    return f"arn:aws:iam::{ACCOUNT}:user/{identity.name}"


def admin_arns(identities: dict[str, ids.Identity]) -> list[str]:
    return sorted(principal_arn(i) for i in identities.values() if i.kind == "admin")


# --- SigV4 ------------------------------------------------------------------------------------

# API Gateway's own answers to a request it refuses before any function runs: always 403, the
# kind in the x-amzn-ErrorType header, and AWS's wording in "message" (as API Gateway and the AWS
# SDKs show it: "Missing Authentication Token" for an unsigned request or an unknown route or
# method (AWS knowledge center, "api-gateway-authentication-token-errors"); "The request signature
# we calculated does not match ..." with InvalidSignatureException, service execute-api (seen
# quoted in rpgreen/apigateway-generic-java-sdk#11); "The security token included in the request
# is invalid." for an unknown access key (kndt84/aws-api-gateway-client#31)). Each answer's
# errors[] adds, in our words, the header at fault and what to do.
MISSING_TOKEN = "MissingAuthenticationTokenException"
INVALID_SIGNATURE = "InvalidSignatureException"
INCOMPLETE_SIGNATURE = "IncompleteSignatureException"
UNRECOGNIZED_CLIENT = "UnrecognizedClientException"
ACCESS_DENIED = "AccessDeniedException"
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation "
    "for details."
)


class AuthError(StrongroomError):
    """A request API Gateway (or Lambda's Invoke API) refuses before any function runs."""

    def __init__(self, error_type: str, message: str, field: str, fix: str, status: int = 403):
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.field = field
        self.fix = fix

    def body(self) -> dict:
        return error_body(self.message, [BrokenRule(self.field, self.error_type, self.fix)])


def missing_token(service: str) -> AuthError:
    return AuthError(
        MISSING_TOKEN,
        "Missing Authentication Token",
        "Authorization",
        f"sign the request with SigV4 (service {service}) using an admin's keys, e.g. "
        "`strongroom release … --as alice`; an unknown route or method is answered the same way, "
        "so check the method and path against docs/openapi.json",
    )


_AUTH = re.compile(r"^AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$")


@dataclass(frozen=True)
class SigV4Verifier:
    identities: Callable[[], dict[str, ids.Identity]]  # read again per request: keys may be added
    region: str
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def verify(self, method: str, url: str, headers: dict[str, str], body: bytes, service: str) -> ids.Identity:
        """The identity whose secret signed this request, or AuthError (403, its kind as API Gateway names it)."""
        h = {k.lower(): v for k, v in headers.items()}
        auth = h.get("authorization")
        if not auth:
            raise missing_token(service)
        m = _AUTH.match(auth.strip())
        if not m:
            raise AuthError(
                INCOMPLETE_SIGNATURE,
                "The Authorization header is not an AWS4-HMAC-SHA256 signature.",
                "Authorization",
                "send 'AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…' as botocore's SigV4Auth makes it",
            )
        credential, signed_headers, signature = m.groups()
        parts = credential.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            raise AuthError(
                INCOMPLETE_SIGNATURE,
                f"Malformed credential scope {credential!r}.",
                "Authorization",
                "the Credential is <access key>/<YYYYMMDD>/<region>/<service>/aws4_request",
            )
        access_key, day, region, svc, _ = parts
        stamp = h.get("x-amz-date")
        if not stamp:
            raise AuthError(
                INCOMPLETE_SIGNATURE,
                "Authorization header requires existence of a 'X-Amz-Date' header.",
                "X-Amz-Date",
                "date the request (X-Amz-Date: YYYYMMDDTHHMMSSZ) and sign that header too",
            )
        try:
            when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise AuthError(
                INCOMPLETE_SIGNATURE,
                f"X-Amz-Date {stamp!r} is not YYYYMMDDTHHMMSSZ.",
                "X-Amz-Date",
                "give the UTC time of signing as YYYYMMDDTHHMMSSZ",
            ) from None
        if abs(self.clock() - when) > MAX_SKEW:
            raise AuthError(
                INVALID_SIGNATURE,
                f"Signature expired: {stamp} is more than 15 minutes from the server's time.",
                "X-Amz-Date",
                "check this machine's clock and sign the request again",
            )
        if day != stamp[:8] or region != self.region or svc != service:
            raise AuthError(
                INVALID_SIGNATURE,
                f"Credential should be scoped to {stamp[:8]}/{self.region}/{service}, not {day}/{region}/{svc}.",
                "Authorization",
                f"sign for region {self.region} and service {service} (e.g. --region {self.region})",
            )
        who = next((i for i in self.identities().values() if i.access_key == access_key), None)
        if who is None:
            raise AuthError(
                UNRECOGNIZED_CLIENT,
                "The security token included in the request is invalid.",
                "Authorization",
                f"access key {access_key} is not known here: sign with an admin's "
                "keys (`strongroom release … --as alice` locally, --profile NAME on AWS)",
            )
        names = signed_headers.split(";")
        missing = [n for n in ("host", "x-amz-date") if n not in names]
        missing_values = [n for n in names if n not in h]
        if missing or missing_values:
            raise AuthError(
                INCOMPLETE_SIGNATURE,
                "The signature does not cover the headers it must, or names headers the request does not have.",
                "Authorization",
                f"sign host and x-amz-date (unsigned: {missing}); send every signed header (absent: {missing_values})",
            )
        if "x-amz-content-sha256" in names and h["x-amz-content-sha256"] != hashlib.sha256(body).hexdigest():
            raise AuthError(
                INVALID_SIGNATURE,
                BAD_SIGNATURE,
                "X-Amz-Content-SHA256",
                "the body's SHA-256 differs from the signed one: sign the body you send",
            )
        expected = sigv4.expected_signature(
            method, url, body, {n: h[n] for n in names}, stamp, who.access_key, who.secret_key, service, region
        )
        if not hmac.compare_digest(expected, signature):
            raise AuthError(
                INVALID_SIGNATURE,
                BAD_SIGNATURE,
                "Authorization",
                "the signature was made with another secret key, or over another method, path, query, "
                "header or body than the one sent: sign the request exactly as sent, with the secret "
                "of the access key it names",
            )
        return who


def sign(
    method: str,
    url: str,
    identity: ids.Identity | sigv4.Keys,
    region: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    service: str = "execute-api",
) -> dict[str, str]:
    """Headers of a SigV4-signed request (what botocore's SigV4Auth adds), with a local identity's
    keys or an AWS profile's."""
    added = sigv4.signed_headers(
        method,
        url,
        identity.access_key,
        identity.secret_key,
        region,
        body,
        headers,
        service,
        getattr(identity, "token", None),
    )
    return {"Host": urlsplit(url).netloc, **added}  # the Host the signature covers


def call_api(
    base_url: str,
    method: str,
    path: str,
    identity: ids.Identity | sigv4.Keys | None,
    region: str,
    body: dict | None = None,
    timeout: float = 60,
) -> tuple[int, dict]:
    """One signed JSON request to the API; (status, decoded body). A network failure raises
    urllib.error.URLError (OSError)."""
    import urllib.error
    import urllib.request

    url = base_url.rstrip("/") + path
    data = json.dumps(body).encode() if body is not None else b""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if identity is not None:
        headers = sign(method, url, identity, region, data, headers)
    req = urllib.request.Request(url, data=data if body is not None else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw or b"{}")
    except json.JSONDecodeError:  # not this API's answer (a proxy's page?): said in the one error shape
        text = raw.decode("utf-8", "replace").strip()[:500]
        return status, error_body(
            f"the answer (HTTP {status}) is not JSON: {text!r}; is the URL the release API's?", []
        )


# --- API Gateway's event ------------------------------------------------------------------------


def rest_event(
    method: str,
    resource: str,
    path: str,
    *,
    path_parameters: dict | None = None,
    query: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | str | None = None,
    identity: dict | None = None,
    stage: str = STAGE,
    request_id: str | None = None,
) -> dict:
    """The REST API (v1) Lambda proxy event, as API Gateway sends it."""
    headers = dict(headers or {})
    multi_headers: dict[str, list[str]] = {k: [v] for k, v in headers.items()}
    qs: dict[str, str] = {}
    multi_qs: dict[str, list[str]] = {}
    for k, v in query or []:
        qs[k] = v
        multi_qs.setdefault(k, []).append(v)
    if isinstance(body, bytes):
        raw = body
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            import base64

            return {
                **rest_event(
                    method,
                    resource,
                    path,
                    path_parameters=path_parameters,
                    query=query,
                    headers=headers,
                    body=None,
                    identity=identity,
                    stage=stage,
                    request_id=request_id,
                ),
                "body": base64.b64encode(raw).decode(),
                "isBase64Encoded": True,
            }
    now = datetime.now(UTC)
    ident = {
        "cognitoIdentityPoolId": None,
        "accountId": None,
        "cognitoIdentityId": None,
        "caller": None,
        "sourceIp": "127.0.0.1",
        "principalOrgId": None,
        "accessKey": None,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "userArn": None,
        "userAgent": headers.get("User-Agent"),
        "user": None,
        **(identity or {}),
    }
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method.upper(),
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": qs or None,
        "multiValueQueryStringParameters": multi_qs or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": uuid.uuid4().hex[:6],
            "resourcePath": resource,
            "httpMethod": method.upper(),
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage}{path}",
            "accountId": ACCOUNT,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": "localhost",
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id or str(uuid.uuid4()),
            "identity": ident,
            "domainName": "localhost",
            "apiId": "local",
        },
        "body": body,
        "isBase64Encoded": False,
    }


def identity_context(who: ids.Identity, source_ip: str = "127.0.0.1") -> dict:
    """requestContext.identity for an IAM-signed call by `who`, as API Gateway fills it."""
    arn = principal_arn(who)
    return {
        "accessKey": who.access_key,
        "accountId": ACCOUNT,
        "caller": f"AIDA{who.name.upper()}",
        "user": f"AIDA{who.name.upper()}",
        "userArn": arn,
        "sourceIp": source_ip,
    }


def _route_regex(path: str) -> re.Pattern:
    """/releases/{id}/approve -> ^/releases/(?P<id>[^/]+)/approve$ ({name+} takes the rest)."""
    out = "^"
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{"):
            name = part[1:-1]
            out += f"(?P<{name.rstrip('+')}>.+)" if name.endswith("+") else f"(?P<{name}>[^/]+)"
        else:
            out += re.escape(part)
    return re.compile(out + "$")


# --- the server --------------------------------------------------------------------------------


class ApiServer:
    """Loopback HTTP for the template's Api events and Lambda's asynchronous Invoke."""

    def __init__(
        self, router, identities: Callable[[], dict[str, ids.Identity]], region: str, port: int, host: str = "127.0.0.1"
    ):
        self.router = router
        self.verifier = SigV4Verifier(identities, region)
        self.region = region
        self.routes = [(_route_regex(r.path), r) for r in router.routes]
        self._async = ThreadPoolExecutor(max_workers=2, thread_name_prefix="async-invoke")
        self.httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}"  # port 0: the one the system chose
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="api", daemon=True)
        self._thread.start()
        log.info("signed API on %s (%d routes from the template)", self.url, len(self.routes))

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._async.shutdown(wait=False, cancel_futures=True)

    def match(self, method: str, path: str):
        for regex, route in self.routes:
            m = regex.match(path)
            if m and route.method in (method, "ANY"):
                return route, {k: unquote(v) for k, v in m.groupdict().items()}
        return None, None

    def invoke_async(self, name: str, payload: dict) -> None:
        """Lambda's asynchronous invocation: run soon, retry twice on failure (1 and 2 minutes later)."""
        fn = self._function(name)

        def run(attempt: int = 0) -> None:
            try:
                self.router.invoke(fn, payload)
            except Exception:
                if attempt >= 2:
                    log.exception("%s failed three times on %s; giving up as Lambda would", fn.logical_id, payload)
                    return
                log.exception("%s failed on %s; retrying", fn.logical_id, payload)
                time.sleep(30 * (attempt + 1))
                run(attempt + 1)

        self._async.submit(run)

    def _function(self, name: str):
        for fn in self.router.template.functions:
            if name in (fn.logical_id, fn.logical_id.removesuffix("Function")):
                return fn
        raise KeyError(name)

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):  # into the runtime's log, not stderr
                log.info("%s %s", self.address_string(), fmt % args)

            request_id = ""  # x-amzn-RequestId of the request being answered

            def _send(self, status: int, body: bytes | str, headers: dict | None = None) -> None:
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                headers = {"Content-Type": "application/json", **(headers or {}), "x-amzn-RequestId": self.request_id}
                for k, v in headers.items():
                    self.send_header(k, str(v))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(
                self, status: int, message: str, problems: list[BrokenRule], error_type: str | None = None
            ) -> None:
                self._send(
                    status,
                    json.dumps(error_body(message, problems)),
                    {"x-amzn-ErrorType": error_type} if error_type else None,
                )

            def _refused(self, e: AuthError) -> None:
                self._send(e.status, json.dumps(e.body()), {"x-amzn-ErrorType": e.error_type})

            def _handle(self) -> None:
                self.request_id = str(uuid.uuid4())
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    self.close_connection = True
                    return self._error(
                        400,
                        "Content-Length is not a number: send the body's length in bytes",
                        [BrokenRule("Content-Length", "integer", "give the body's size in bytes")],
                        "BadRequestException",
                    )
                if length > MAX_BODY:
                    self.close_connection = True  # the unread body must not be taken for the next request
                    return self._error(
                        413,
                        f"Request Too Long: the body is {length} bytes; API Gateway takes at most {MAX_BODY} (10 MB)",
                        [BrokenRule("body", "size", "send a smaller request")],
                        "RequestTooLargeException",
                    )
                body = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                headers = {k: v for k, v in self.headers.items()}
                url = f"http://{self.headers.get('Host', 'localhost')}{self.path}"
                invoke = INVOKE.match(split.path)
                if invoke:
                    return self._invoke(unquote(invoke.group(1)), url, headers, body)
                route, params = server.match(self.command, split.path)
                if route is None:  # API Gateway answers an unknown route or method as an unsigned request
                    return self._refused(missing_token("execute-api"))
                try:
                    who = server.verifier.verify(self.command, url, headers, body, "execute-api")
                except AuthError as e:
                    return self._refused(e)
                event = rest_event(
                    self.command,
                    route.path,
                    split.path,
                    path_parameters=params,
                    query=parse_qsl(split.query, keep_blank_values=True),
                    headers=headers,
                    body=body if body else None,
                    identity=identity_context(who, self.client_address[0]),
                    request_id=self.request_id,
                )
                try:
                    result = server.router.invoke(route.function, event)
                except Exception as e:  # API Gateway answers 502 when the function fails
                    log.exception("%s failed", route.function.logical_id)
                    return self._error(
                        502,
                        "Internal server error",
                        [
                            BrokenRule(
                                None,
                                "function-failed",
                                f"{route.function.logical_id} failed ({type(e).__name__}); "
                                f"its log says why (request {self.request_id})",
                            )
                        ],
                    )
                self._proxy_result(result)

            def _proxy_result(self, result: dict) -> None:
                import base64

                headers = dict(result.get("headers") or {})
                for k, values in (result.get("multiValueHeaders") or {}).items():
                    headers[k] = ", ".join(map(str, values))
                body = result.get("body") or ""
                data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
                self._send(int(result.get("statusCode", 200)), data, headers)

            def _invoke(self, name: str, url: str, headers: dict, body: bytes) -> None:
                try:
                    who = server.verifier.verify(self.command, url, headers, body, "lambda")
                except AuthError as e:
                    return self._refused(e)
                if who.kind != "archive":
                    return self._error(
                        403,
                        f"{who.name} may not invoke functions",
                        [BrokenRule("Authorization", "archive-only", "only the archive's own keys invoke functions")],
                        ACCESS_DENIED,
                    )
                if headers.get("X-Amz-Invocation-Type", headers.get("x-amz-invocation-type")) != "Event":
                    return self._error(
                        400,
                        "only asynchronous invocations (InvocationType=Event) are served locally",
                        [BrokenRule("X-Amz-Invocation-Type", "event", "invoke with InvocationType=Event")],
                        "InvalidParameterValueException",
                    )
                try:
                    payload = json_body.loads(body or b"{}", max_bytes=MAX_BODY)
                    server.invoke_async(name, payload)
                except KeyError:
                    return self._error(
                        404,
                        f"Function not found: {name}",
                        [BrokenRule("FunctionName", "exists", "name a function of template.yaml")],
                        "ResourceNotFoundException",
                    )
                except Refused as e:
                    return self._error(400, e.message, list(e.errors), "InvalidRequestContentException")
                self._send(202, b"", {"X-Amz-Executed-Version": "$LATEST"})

            def do_GET(self):
                self._handle()

            do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

        return Handler
