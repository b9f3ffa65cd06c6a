"""Lambda (Function URL): pywb replay of the live render, for AWS.

A Function URL event (payload 2.0) becomes a WSGI request to pywb's FrontEndApp, built on
the live render's replay/ tree copied from the public bucket into /tmp (current.json is
re-read at most every minute, so a switch or a withdrawal reaches replay within a minute).
Lambda answers at most 6 MB: a larger answer is replaced by a redirect to the same file on
the site when the render has one (replay/large.json, written by the release flow), else
by a 502 that says so. Every answer carries render.safety's replay headers (CSP, nosniff,
Referrer-Policy), as the local replay's do. Locally strongroom.local.serve runs the same pywb.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import sys
import time

from strongroom.config import environment
from strongroom.flows.release import LARGE, POINTER
from strongroom.handlers import compose
from strongroom.render.safety import REPLAY_HEADERS

ROOT = environment().replay_dir
MAX_BODY = 5_500_000  # under Lambda's 6 MB response limit once base64-encoded headers are added
TTL = 60.0

_state: dict = {"render": None, "app": None, "large": {}, "checked": 0.0}


def _current():
    if time.monotonic() - _state["checked"] < TTL and _state["app"] is not None:
        return _state
    _state["checked"] = time.monotonic()
    store = compose.public_store()
    with store.open(POINTER) as fh:
        pointer = json.load(fh)
    if pointer["render_id"] != _state["render"]:
        from pywb.apps.frontendapp import FrontEndApp

        root = ROOT / pointer["render_id"]
        if not (root / ".complete").exists():
            shutil.rmtree(ROOT, ignore_errors=True)  # /tmp is small: keep one render
            for obj in store.list(pointer["replay"]):
                dest = root / obj.key[len(pointer["replay"]) :]
                dest.parent.mkdir(parents=True, exist_ok=True)
                with store.open(obj.key) as src, dest.open("wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            (root / "collections").mkdir(parents=True, exist_ok=True)
            (root / ".complete").touch()
        large = root / LARGE
        _state.update(
            render=pointer["render_id"],
            large=json.loads(large.read_text()) if large.exists() else {},
            app=FrontEndApp(
                config_file=str(root / "config.yaml"), custom_config={"collections_root": str(root / "collections")}
            ),
        )
    return _state


def _environ(event: dict) -> dict:
    http = event["requestContext"]["http"]
    body = event.get("body") or ""
    data = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    environ = {
        "REQUEST_METHOD": http["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": event.get("rawPath", "/"),
        "QUERY_STRING": event.get("rawQueryString", ""),
        "SERVER_NAME": headers.get("host", "localhost"),
        "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": http.get("sourceIp", ""),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https",
        "wsgi.input": io.BytesIO(data),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(data)),
        "CONTENT_TYPE": headers.get("content-type", ""),
    }
    for k, v in headers.items():
        environ["HTTP_" + k.upper().replace("-", "_")] = v
    return environ


def _too_large(state: dict, path: str) -> dict:
    """A redirect to the site's copy of a large file, looked up by its archive URL."""
    target = path.split("/", 3)[-1] if path.count("/") >= 3 else ""
    site_path = state["large"].get(target)
    if site_path:
        return {"statusCode": 302, "headers": {"Location": f"{environment().site_url}/{site_path}"}, "body": ""}
    return {
        "statusCode": 502,
        "headers": {"Content-Type": "text/plain"},
        "body": "This capture is larger than the replay service can answer; download the title's WACZ "
        "from the site and replay it locally.",
    }


def handler(event: dict, context) -> dict:
    state = _current()
    status_headers: dict = {}

    def start_response(status, headers, exc_info=None):
        status_headers["status"] = int(status.split(" ", 1)[0])
        status_headers["headers"] = headers

    chunks = state["app"](_environ(event), start_response)
    body = b""
    try:
        for chunk in chunks:
            body += chunk
            if len(body) > MAX_BODY:
                return _too_large(state, event.get("rawPath", "/"))
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    headers: dict[str, str] = {}
    cookies = []
    for k, v in list(status_headers["headers"]) + list(REPLAY_HEADERS.items()):
        if k.lower() == "set-cookie":
            cookies.append(v)
        elif k in headers and k == "Content-Security-Policy":  # pywb's own and ours: both enforced
            headers[k] += ", " + v
        else:
            headers[k] = v
    return {
        "statusCode": status_headers["status"],
        "headers": headers,
        "cookies": cookies,
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }
