"""The public surfaces on loopback: the released site and the pywb replay, both from the public bucket.

    SiteServer    settings().ports.site. Resolves current.json (the pointer the release flow
                  writes last) to the live render's prefix and streams releases/<id>/site/<path>
                  from the bucket: content types, index.html for directories, a 404 page.
                  /attestation/ is the audit's public attestation, served as stored.
    ReplayServer  settings().ports.replay. One child process running pywb's WSGI app on
                  gevent, one FrontEndApp per render: on a switch the render's replay/ tree
                  is copied from the bucket to <data>/replay/<render-id>/, a new app is built
                  on it, and one reference is swapped. Why not `wayback` restarted per render:
                  the swap is atomic (no port closed between two renders, no request answered
                  by a half-started server), and pywb gets absolute paths, so nothing depends
                  on a working directory. Why a child process: pywb monkey-patches the whole
                  interpreter for gevent on import, which the runtime's threads must not see.

Both add X-Strongroom-Render: <render-id> to every answer, so tests and benchmarks can wait
until a switch is visible (`wait_for_render`), and the security headers of render.safety (the
site's strict CSP, the replay's looser one, nosniff, Referrer-Policy) as CloudFront does on AWS;
the site sends a file's stored Content-Disposition, so a deposited SVG or HTML file is a download.
Nothing here reads a node: dark means dark.
"""

from __future__ import annotations

import json
import logging
import posixpath
import shutil
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from subprocess import Popen
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from strongroom.adapters import clients as aws_clients
from strongroom.flows.release import NOT_FOUND_PAGE, content_type
from strongroom.local import identities as ids
from strongroom.local.api import ApiServer, admin_arns
from strongroom.render.safety import DOWNLOAD_TYPE, REPLAY_HEADERS, SITE_HEADERS

if TYPE_CHECKING:  # development-only stubs
    from types_boto3_s3.client import S3Client

log = logging.getLogger("strongroom.local.serve")

POINTER = "current.json"
ATTESTATION = "attestation/"
HEADER = "X-Strongroom-Render"
CHUNK = 1 << 16
NOT_FOUND = NOT_FOUND_PAGE.encode()  # the page each render publishes as its 404.html
NOTHING_RELEASED = (
    b'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>strongroom</title>'
    b"</head><body><h1>Nothing has been released yet</h1><p>This archive is dark: its content "
    b"becomes public only after a trigger event and a release.</p></body></html>"
)


def _code(e: Exception) -> str:
    return getattr(e, "response", {}).get("Error", {}).get("Code", "")


class Pointer:
    """current.json of the public bucket, re-read at most every `ttl` seconds."""

    def __init__(self, s3_factory: Callable[[], S3Client], bucket: str, ttl: float = 0.5):
        self._s3_factory = s3_factory
        self._s3: S3Client | None = None
        self.bucket = bucket
        self.ttl = ttl
        self._doc: dict | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    @property
    def s3(self) -> S3Client:
        if self._s3 is None:
            self._s3 = self._s3_factory()
        return self._s3

    def current(self) -> dict | None:
        with self._lock:
            if time.monotonic() - self._read_at < self.ttl:
                return self._doc
            try:
                body = self.s3.get_object(Bucket=self.bucket, Key=POINTER)["Body"].read()
                self._doc = json.loads(body)
            except Exception as e:  # noqa: BLE001
                if _code(e) in ("NoSuchKey", "404"):
                    self._doc = None
                else:  # S3 restarting: keep serving the last known render
                    log.warning("cannot read s3://%s/%s (%s); serving the last known render", self.bucket, POINTER, e)
            self._read_at = time.monotonic()
            return self._doc


def _clean(path: str) -> str | None:
    """The request path as a relative key, or None if it tries to leave the site."""
    path = unquote(urlsplit(path).path)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." or "\\" in p or "\x00" in p for p in parts):
        return None
    rel = "/".join(parts)
    return rel + "/" if path.endswith("/") and rel else rel


class SiteServer:
    """The released static site, streamed from the public bucket."""

    def __init__(self, pointer: Pointer, port: int, host: str = "127.0.0.1"):
        self.pointer = pointer
        self.httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{port}"

    def start(self) -> None:
        threading.Thread(target=self.httpd.serve_forever, name="site", daemon=True).start()
        log.info("released site on %s", self.url)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                log.debug("%s %s", self.address_string(), fmt % args)

            def end_headers(self):
                for name, value in SITE_HEADERS.items():  # every answer, errors and redirects too
                    self.send_header(name, value)
                super().end_headers()

            def _page(self, status: int, body: bytes, render: str | None, extra: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                if render:
                    self.send_header(HEADER, render)
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self):
                pointer = server.pointer.current()
                render = pointer["render_id"] if pointer else None
                rel = _clean(self.path)
                if rel is None:
                    return self._page(400, NOT_FOUND, render)
                if rel.startswith(ATTESTATION) or rel + "/" == ATTESTATION:
                    key = rel if not rel.endswith("/") and rel != "attestation" else rel.rstrip("/") + "/index.html"
                elif pointer is None:
                    return self._page(200 if rel == "" else 404, NOTHING_RELEASED if rel == "" else NOT_FOUND, None)
                else:
                    key = pointer["site"] + (rel + "index.html" if rel == "" or rel.endswith("/") else rel)
                if self._stream(key, render):
                    return
                # /a/b (a directory) -> /a/b/, as S3 website hosting and CloudFront's default root do
                if not rel.endswith("/") and pointer and self._exists(pointer["site"] + rel + "/index.html"):
                    query = urlsplit(self.path).query
                    return self._page(301, b"", render, {"Location": f"/{rel}/" + (f"?{query}" if query else "")})
                if not (pointer and self._stream(pointer["site"] + "404.html", render, status=404)):
                    self._page(404, NOT_FOUND, render)

            do_HEAD = do_GET

            def _exists(self, key: str) -> bool:
                try:
                    server.pointer.s3.head_object(Bucket=server.pointer.bucket, Key=key)
                    return True
                except Exception:  # noqa: BLE001
                    return False

            def _stream(self, key: str, render: str | None, status: int = 200) -> bool:

                try:
                    obj = server.pointer.s3.get_object(Bucket=server.pointer.bucket, Key=key)
                except Exception as e:  # noqa: BLE001
                    if _code(e) in ("NoSuchKey", "404", "NotFound"):
                        return False
                    raise
                ctype = obj.get("ContentType") or ""
                disposition = obj.get("ContentDisposition")
                if disposition:  # a deposited file of an active type: a download, never rendered
                    ctype = DOWNLOAD_TYPE
                elif not ctype or ctype in ("binary/octet-stream", "application/octet-stream"):
                    ctype = content_type(posixpath.basename(key))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(obj["ContentLength"]))
                if disposition:
                    self.send_header("Content-Disposition", disposition)
                self.send_header("Cache-Control", "no-cache")
                if obj.get("ETag"):
                    self.send_header("ETag", obj["ETag"])
                if render:
                    self.send_header(HEADER, render)
                self.end_headers()
                body = obj["Body"]
                try:
                    if self.command != "HEAD":
                        while chunk := body.read(CHUNK):
                            self.wfile.write(chunk)
                finally:
                    body.close()
                return True

        return Handler


class ReplayApp:
    """pywb for the live render; the app is swapped atomically when current.json changes.
    Runs in the replay process (see ReplayServer), never in the runtime itself."""

    def __init__(self, pointer: Pointer, work_dir: Path):
        self.pointer = pointer
        self.work_dir = Path(work_dir)
        self.render: str | None = None
        self._app = None

    def refresh(self) -> None:
        """Follow current.json: sync the new render's replay tree and swap the app."""
        pointer = self.pointer.current()
        render = pointer["render_id"] if pointer else None
        if render == self.render:
            return
        app = self._build(pointer) if pointer else None
        old, self.render, self._app = self.render, render, app  # one assignment: the swap
        log.info("replay now serves render %s", render)
        if old:  # requests still reading the old WARCs get a moment to finish
            threading.Timer(30, shutil.rmtree, args=(self.work_dir / old,), kwargs={"ignore_errors": True}).start()

    def _build(self, pointer: dict):
        from pywb.apps.frontendapp import FrontEndApp

        root = self.work_dir / pointer["render_id"]
        if not (root / ".complete").exists():
            tmp = self.work_dir / (pointer["render_id"] + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            prefix = pointer["replay"]
            s3 = self.pointer.s3
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.pointer.bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    dest = tmp / obj["Key"][len(prefix) :]
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    s3.download_file(self.pointer.bucket, obj["Key"], str(dest))
            (tmp / "collections").mkdir(parents=True, exist_ok=True)
            (tmp / ".complete").touch()
            shutil.rmtree(root, ignore_errors=True)
            tmp.rename(root)
        return FrontEndApp(
            config_file=str(root / "config.yaml"), custom_config={"collections_root": str(root / "collections")}
        )

    def __call__(self, environ, start_response):
        render, app = self.render, self._app
        if app is None:
            start_response(
                "404 Not Found",
                [
                    ("Content-Type", "text/html; charset=utf-8"),
                    ("Content-Length", str(len(NOTHING_RELEASED))),
                    (HEADER, "none"),
                    *REPLAY_HEADERS.items(),
                ],
            )
            return [NOTHING_RELEASED]

        def start(status, headers, exc_info=None):
            return start_response(status, list(headers) + list(REPLAY_HEADERS.items()) + [(HEADER, render)], exc_info)

        return app(environ, start)


class ReplayServer:
    """The replay process: `python -m strongroom.local.replay_process …`, a child of the runtime.

    Why a process of its own: importing pywb monkey-patches the whole interpreter for gevent,
    which the runtime's threads (router, supervisor, API) must not suffer. Inside it pywb runs
    on gevent's WSGI server and follows current.json (ReplayApp)."""

    def __init__(self, bucket: str, port: int, work_dir: Path, host: str = "127.0.0.1"):
        self.bucket, self.port, self.work_dir, self.host = bucket, port, Path(work_dir), host
        self.url = f"http://{host}:{port}"
        self.proc: Popen[bytes] | None = None

    def start(self) -> None:
        import subprocess
        import sys

        self.work_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.work_dir.parent / "logs" / "replay.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "strongroom.local.replay_process",
                    "--bucket",
                    self.bucket,
                    "--port",
                    str(self.port),
                    "--host",
                    self.host,
                    "--work-dir",
                    str(self.work_dir),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        log.info("replay (pywb, pid %s) on %s; log %s", self.proc.pid, self.url, log_path)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except Exception:  # noqa: BLE001
                self.proc.kill()


def replay_main(argv: list[str] | None = None) -> int:
    """The replay process (started as strongroom.local.replay_process, which patches gevent first):
    serve and follow the pointer."""
    import argparse
    import os

    import gevent
    from gevent.pywsgi import WSGIServer

    p = argparse.ArgumentParser(prog="strongroom.local.replay_process")
    p.add_argument("--bucket", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--work-dir", type=Path, required=True)
    p.add_argument("--interval", type=float, default=0.5)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s replay: %(message)s")

    def s3():
        return aws_clients.s3()

    app = ReplayApp(Pointer(s3, args.bucket), args.work_dir)
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:  # the runtime is gone (kill -9): go too, freeing the port
            try:
                app.refresh()
            except Exception:  # noqa: BLE001 - keep serving the previous render
                log.exception("switching to the new render failed; still serving %s", app.render)
            gevent.sleep(args.interval)
        os._exit(0)

    gevent.spawn(watch)
    WSGIServer((args.host, args.port), app, log=None).serve_forever()
    return 0


def wait_for_render(urls: list[str], render_id: str, timeout: float = 60.0) -> None:
    """Block until every URL answers from render_id (after a release or withdrawal switched)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending:
        url = pending[0]
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                got = r.headers.get(HEADER)
        except urllib.error.HTTPError as e:
            got = e.headers.get(HEADER)
        except OSError:
            got = None
        if got == render_id:
            pending.pop(0)
            continue
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} still serves render {got}, not {render_id}, after {timeout:.0f}s")
        time.sleep(0.2)


class Surfaces:
    """Everything the local archive serves beyond S3 and DynamoDB: the signed API (and the
    Lambda Invoke endpoint), the released site and the replay. Started by the runtime."""

    def __init__(self, router, endpoints, data_dir: Path):

        ports = endpoints.ports
        self.api = ApiServer(router, lambda: ids.load(data_dir), endpoints.region, ports["api"])
        archive = endpoints.credentials(ids.ARCHIVE)
        pointer = Pointer(
            lambda: aws_clients.signed_as(
                archive.access_key, archive.secret_key, endpoints.region, s3_endpoint=endpoints.s3
            )[0],
            endpoints.public_bucket,
        )
        self.site = SiteServer(pointer, ports["site"])
        self.replay = ReplayServer(endpoints.public_bucket, ports["replay"], Path(data_dir) / "replay")

    def start(self) -> Surfaces:
        for s in (self.api, self.site, self.replay):
            s.start()
        return self

    def stop(self) -> None:
        for s in (self.site, self.replay, self.api):
            try:
                s.stop()
            except Exception:  # noqa: BLE001 - stopping the rest matters more
                log.exception("stopping %s", type(s).__name__)


def release_environment(endpoints) -> dict[str, str]:
    """What the release functions read locally (on AWS the template sets these names)."""

    host = "127.0.0.1"
    ports = endpoints.ports
    return {
        "AWS_ENDPOINT_URL_LAMBDA": f"http://{host}:{ports['api']}",
        "STRONGROOM_ADMIN_ARNS": ",".join(admin_arns(endpoints.identities)),
        "STRONGROOM_RELEASE_WORKER": "ReleaseWorkerFunction",
        "STRONGROOM_SITE_URL": f"http://{host}:{ports['site']}",
        "STRONGROOM_REPLAY_URL": f"http://{host}:{ports['replay']}",
    }
