"""The signed API on loopback: what API Gateway (AWS_IAM auth) and Lambda's Invoke API do locally.

    ApiServer        an HTTP server on settings().ports.api. Requests to a path template.yaml
                     declares as an Api event are checked (SigV4, service execute-api),
                     turned into the REST proxy event API Gateway sends (with
                     requestContext.identity naming the caller) and given to that function's
                     handler through the router. POST /2015-03-31/functions/<name>/invocations
                     (service lambda, the archive's own keys only) is Lambda's Invoke with
                     InvocationType=Event: the release API starts the release worker this way,
                     with the same boto3 call as on AWS (AWS_ENDPOINT_URL_LAMBDA points here).
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
from strongroom.domain.errors import StrongroomError
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

class AuthError(StrongroomError):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


_AUTH = re.compile(r"^AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$")


@dataclass(frozen=True)
class SigV4Verifier:
    identities: Callable[[], dict[str, ids.Identity]]  # read again per request: keys may be added
    region: str
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def verify(self, method: str, url: str, headers: dict[str, str], body: bytes, service: str) -> ids.Identity:
        """The identity whose secret signed this request, or AuthError (401 unsigned, 403 otherwise)."""
        h = {k.lower(): v for k, v in headers.items()}
        auth = h.get("authorization")
        if not auth:
            raise AuthError(401, "Missing Authentication Token: sign the request with SigV4 "
                                 f"(service {service}) using an admin's keys")
        m = _AUTH.match(auth.strip())
        if not m:
            raise AuthError(403, "the Authorization header is not an AWS4-HMAC-SHA256 signature")
        credential, signed_headers, signature = m.groups()
        parts = credential.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            raise AuthError(403, f"malformed credential scope {credential!r}")
        access_key, day, region, svc, _ = parts
        stamp = h.get("x-amz-date")
        if not stamp:
            raise AuthError(401, "X-Amz-Date is missing: the signature must be dated")
        try:
            when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise AuthError(403, f"X-Amz-Date {stamp!r} is not YYYYMMDDTHHMMSSZ") from None
        if abs(self.clock() - when) > MAX_SKEW:
            raise AuthError(403, f"Signature expired: X-Amz-Date {stamp} is more than 15 minutes from the "
                                 "server's time; check the clock and sign again")
        if day != stamp[:8] or region != self.region or svc != service:
            raise AuthError(403, f"credential scope {day}/{region}/{svc} does not match "
                                 f"{stamp[:8]}/{self.region}/{service}")
        who = next((i for i in self.identities().values() if i.access_key == access_key), None)
        if who is None:
            raise AuthError(403, "The security token included in the request is invalid (unknown access key)")
        names = signed_headers.split(";")
        if "host" not in names or "x-amz-date" not in names:
            raise AuthError(403, "SignedHeaders must include host and x-amz-date")
        missing = [n for n in names if n not in h]
        if missing:
            raise AuthError(403, f"signed headers {missing} are not in the request")
        if "x-amz-content-sha256" in names and h["x-amz-content-sha256"] != hashlib.sha256(body).hexdigest():
            raise AuthError(403, "X-Amz-Content-SHA256 does not match the body")
        expected = sigv4.expected_signature(method, url, body, {n: h[n] for n in names}, stamp,
                                            who.access_key, who.secret_key, service, region)
        if not hmac.compare_digest(expected, signature):
            raise AuthError(403, "The request signature we calculated does not match the signature you provided. "
                                 "Check your AWS Secret Access Key and signing method.")
        return who


def sign(method: str, url: str, identity: ids.Identity, region: str, body: bytes = b"",
         headers: dict[str, str] | None = None, service: str = "execute-api") -> dict[str, str]:
    """Headers of a SigV4-signed request (what botocore's SigV4Auth adds)."""
    added = sigv4.signed_headers(method, url, identity.access_key, identity.secret_key, region, body,
                                 headers, service)
    return {"Host": urlsplit(url).netloc, **added}  # the Host the signature covers


def call_api(base_url: str, method: str, path: str, identity: ids.Identity | None, region: str,
             body: dict | None = None, timeout: float = 60) -> tuple[int, dict]:
    """One signed JSON request to the API; (status, decoded body)."""
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
    except json.JSONDecodeError:
        return status, {"error": raw.decode("utf-8", "replace")}


# --- API Gateway's event ------------------------------------------------------------------------

def rest_event(method: str, resource: str, path: str, *, path_parameters: dict | None = None,
               query: list[tuple[str, str]] | None = None, headers: dict[str, str] | None = None,
               body: bytes | str | None = None, identity: dict | None = None, stage: str = STAGE) -> dict:
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

            return {**rest_event(method, resource, path, path_parameters=path_parameters, query=query,
                                 headers=headers, body=None, identity=identity, stage=stage),
                    "body": base64.b64encode(raw).decode(), "isBase64Encoded": True}
    now = datetime.now(UTC)
    ident = {"cognitoIdentityPoolId": None, "accountId": None, "cognitoIdentityId": None, "caller": None,
             "sourceIp": "127.0.0.1", "principalOrgId": None, "accessKey": None, "cognitoAuthenticationType": None,
             "cognitoAuthenticationProvider": None, "userArn": None, "userAgent": headers.get("User-Agent"),
             "user": None, **(identity or {})}
    return {
        "resource": resource, "path": path, "httpMethod": method.upper(),
        "headers": headers or None, "multiValueHeaders": multi_headers or None,
        "queryStringParameters": qs or None, "multiValueQueryStringParameters": multi_qs or None,
        "pathParameters": path_parameters or None, "stageVariables": None,
        "requestContext": {
            "resourceId": uuid.uuid4().hex[:6], "resourcePath": resource, "httpMethod": method.upper(),
            "extendedRequestId": uuid.uuid4().hex[:16], "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage}{path}", "accountId": ACCOUNT, "protocol": "HTTP/1.1", "stage": stage,
            "domainPrefix": "localhost", "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": str(uuid.uuid4()), "identity": ident, "domainName": "localhost", "apiId": "local",
        },
        "body": body, "isBase64Encoded": False,
    }


def identity_context(who: ids.Identity, source_ip: str = "127.0.0.1") -> dict:
    """requestContext.identity for an IAM-signed call by `who`, as API Gateway fills it."""
    arn = principal_arn(who)
    return {"accessKey": who.access_key, "accountId": ACCOUNT, "caller": f"AIDA{who.name.upper()}",
            "user": f"AIDA{who.name.upper()}", "userArn": arn, "sourceIp": source_ip}


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

    def __init__(self, router, identities: Callable[[], dict[str, ids.Identity]], region: str, port: int,
                 host: str = "127.0.0.1"):
        self.router = router
        self.verifier = SigV4Verifier(identities, region)
        self.region = region
        self.routes = [(_route_regex(r.path), r) for r in router.routes]
        self._async = ThreadPoolExecutor(max_workers=2, thread_name_prefix="async-invoke")
        self.httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{port}"
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

            def _send(self, status: int, body: bytes | str, headers: dict | None = None) -> None:
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                headers = {"Content-Type": "application/json", **(headers or {})}
                for k, v in headers.items():
                    self.send_header(k, str(v))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str) -> None:
                self._send(status, json.dumps({"message": message}))

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    return self._error(413, "the body is larger than 10 MB")
                body = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                headers = {k: v for k, v in self.headers.items()}
                url = f"http://{self.headers.get('Host', 'localhost')}{self.path}"
                invoke = INVOKE.match(split.path)
                if invoke:
                    return self._invoke(unquote(invoke.group(1)), url, headers, body)
                route, params = server.match(self.command, split.path)
                if route is None:
                    return self._error(404, f"no route {self.command} {split.path} in template.yaml")
                try:
                    who = server.verifier.verify(self.command, url, headers, body, "execute-api")
                except AuthError as e:
                    return self._error(e.status, e.message)
                event = rest_event(self.command, route.path, split.path, path_parameters=params,
                                   query=parse_qsl(split.query, keep_blank_values=True), headers=headers,
                                   body=body if body else None,
                                   identity=identity_context(who, self.client_address[0]))
                try:
                    result = server.router.invoke(route.function, event)
                except Exception as e:  # API Gateway answers 502 when the function fails
                    log.exception("%s failed", route.function.logical_id)
                    return self._error(502, f"Internal server error ({type(e).__name__})")
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
                    return self._error(e.status, e.message)
                if who.kind != "archive":
                    return self._error(403, f"{who.name} may not invoke functions")
                if headers.get("X-Amz-Invocation-Type", headers.get("x-amz-invocation-type")) != "Event":
                    return self._error(400, "only asynchronous invocations (InvocationType=Event) are served locally")
                try:
                    payload = json.loads(body or b"{}")
                    server.invoke_async(name, payload)
                except KeyError:
                    return self._error(404, f"Function not found: {name}")
                except json.JSONDecodeError:
                    return self._error(400, "the payload is not JSON")
                self._send(202, b"", {"X-Amz-Executed-Version": "$LATEST"})

            def do_GET(self):
                self._handle()

            do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

        return Handler
