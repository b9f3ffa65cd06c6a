"""The one-machine archive: servers, buckets, tables, catalog, router and a supervisor.

`LocalArchive.start(data_dir)` runs it in this process (what `strongroom up` does);
`start_detached(data_dir)` runs it as a background process and returns when it is ready
(what `strongroom up --detach` and the integration tests do); `connect(data_dir)` finds a
running one through <data>/runtime.json and `clients(endpoints, identity)` talks to it.
Everything the archive keeps lives under <data> and survives stop and start.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from strongroom.adapters import clients as aws_clients
from strongroom.config import Settings, settings
from strongroom.domain.errors import StrongroomError
from strongroom.handlers import compose
from strongroom.local import identities as ids
from strongroom.local import template as tpl
from strongroom.local.router import Router
from strongroom.local.serve import Surfaces, release_environment
from strongroom.local.servers import HOST, Moto, Ports, Weed, kill_pid, process_is

log = logging.getLogger("strongroom.local")

DETACHED_ENV = "STRONGROOM_LOCAL_DETACHED"


def runtime_path(data_dir: Path) -> Path:
    return Path(data_dir) / "runtime.json"


class NotRunning(StrongroomError, RuntimeError):
    """No local archive runs in that data directory."""


# --- reaching a running archive ------------------------------------------------------------


@dataclass(frozen=True)
class Endpoints:
    """Where a running local archive answers, and the keys of everyone it knows."""

    data_dir: Path
    s3: str
    dynamodb: str
    region: str
    ports: dict
    ingest_bucket: str
    public_bucket: str
    node_buckets: tuple[str, ...]
    catalog_table: str
    identities: dict[str, ids.Identity] = field(repr=False)

    def credentials(self, identity: str = ids.ARCHIVE) -> ids.Identity:
        try:
            return self.identities[identity]
        except KeyError:
            raise KeyError(
                f"no identity {identity!r} in {ids.credentials_path(self.data_dir)}; add a publisher "
                f"with `strongroom local add-publisher {identity}`"
            ) from None


def read_state(data_dir: Path) -> dict | None:
    path = runtime_path(data_dir)
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def running_state(data_dir: Path) -> dict | None:
    """runtime.json when the runtime process it names is alive, else None."""
    state = read_state(data_dir)
    if state and process_is(state.get("pid", -1), "python"):
        return state
    return None


def connect(data_dir: Path, cfg: Settings | None = None) -> Endpoints:
    """Endpoints of the archive running in data_dir (from runtime.json and credentials.json)."""
    cfg = cfg or settings()
    data_dir = Path(data_dir)
    state = running_state(data_dir)
    if state is None or state.get("state") != "ready":
        raise NotRunning(
            f"no local archive is running in {data_dir}: start one with "
            f"`strongroom up --data {data_dir}` (add --detach to run it in the background)"
        )
    return Endpoints(
        data_dir=data_dir,
        s3=state["endpoints"]["s3"],
        dynamodb=state["endpoints"]["dynamodb"],
        region=state["region"],
        ports=state["ports"],
        ingest_bucket=cfg.ingest_bucket,
        public_bucket=cfg.public_bucket,
        node_buckets=tuple(n.bucket for n in cfg.nodes),
        catalog_table=cfg.catalog_table,
        identities=ids.load(data_dir),
    )


class Clients(NamedTuple):
    s3: Any
    dynamodb: Any


def clients(endpoints: Endpoints, identity: str = ids.ARCHIVE) -> Clients:
    """boto3 S3 (path-style) and DynamoDB clients signed with `identity`'s keys."""
    who = endpoints.credentials(identity)
    return Clients(
        *aws_clients.signed_as(
            who.access_key,
            who.secret_key,
            endpoints.region,
            s3_endpoint=endpoints.s3,
            dynamodb_endpoint=endpoints.dynamodb,
        )
    )


# --- setting the archive up --------------------------------------------------------------


def _retrying(what: str, action, timeout: float = 30.0):
    """Right after start SeaweedFS may refuse a request or two while it grows volumes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except Exception as e:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} failed: {e}") from e
            time.sleep(0.5)


def _error_code(e: Exception) -> str:
    return getattr(e, "response", {}).get("Error", {}).get("Code", "")


def ensure_buckets(s3, cfg: Settings) -> None:
    """Ingest bucket (versioned), twelve node buckets (Object Lock from creation, hence
    versioned), public bucket. Safe to repeat."""

    def create(bucket: str, lock: bool, versioned: bool) -> None:
        try:
            kwargs = {"ObjectLockEnabledForBucket": True} if lock else {}
            s3.create_bucket(Bucket=bucket, **kwargs)
            log.info("created bucket %s%s", bucket, " (Object Lock)" if lock else "")
        except Exception as e:
            if _error_code(e) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        if versioned:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    _retrying(f"creating bucket {cfg.ingest_bucket}", lambda: create(cfg.ingest_bucket, False, True))
    for node in cfg.nodes:
        _retrying(f"creating bucket {node.bucket}", lambda b=node.bucket: create(b, True, True))
    _retrying(f"creating bucket {cfg.public_bucket}", lambda: create(cfg.public_bucket, False, False))


def ensure_tables(dynamodb, template: tpl.Template) -> None:
    """The template's DynamoDB tables, keys and indexes as the template declares them."""
    for t in template.tables:
        kwargs: dict[str, Any] = {
            "TableName": t.name,
            "KeySchema": t.key_schema,
            "AttributeDefinitions": t.attribute_definitions,
            "BillingMode": "PAY_PER_REQUEST",
        }
        if t.global_secondary_indexes:
            kwargs["GlobalSecondaryIndexes"] = [
                {k: v for k, v in g.items() if k != "ProvisionedThroughput"} for g in t.global_secondary_indexes
            ]
        if t.local_secondary_indexes:
            kwargs["LocalSecondaryIndexes"] = t.local_secondary_indexes
        try:
            dynamodb.create_table(**kwargs)
            log.info("created table %s", t.name)
        except Exception as e:
            if _error_code(e) != "ResourceInUseException":
                raise
        if t.ttl_attribute:
            try:
                dynamodb.update_time_to_live(
                    TableName=t.name, TimeToLiveSpecification={"Enabled": True, "AttributeName": t.ttl_attribute}
                )
            except Exception as e:  # already enabled
                log.debug("time to live on %s: %s", t.name, e)


def rebuild_catalog() -> None:
    """The catalog is derived from the buckets; moto forgets it on every start, so rebuild it."""

    rebuild = compose.rebuild_catalog
    try:
        started = time.monotonic()
        rebuild()
        log.info("catalog rebuilt from the buckets in %.1fs", time.monotonic() - started)
    except Exception:
        log.exception("rebuilding the catalog failed; the archive runs, but its catalog may be incomplete")


def lambda_environment(endpoints: Endpoints, template: tpl.Template) -> dict[str, str]:
    """The variables a handler would see on Lambda, pointing at the local servers. One
    process hosts every function, so the template's variables are merged."""
    archive = endpoints.credentials(ids.ARCHIVE)
    env: dict[str, str] = {}
    for fn in template.functions:
        env.update(fn.environment)
    env.update(
        {
            "AWS_ENDPOINT_URL_S3": endpoints.s3,
            "AWS_ENDPOINT_URL_DYNAMODB": endpoints.dynamodb,
            "AWS_ACCESS_KEY_ID": archive.access_key,
            "AWS_SECRET_ACCESS_KEY": archive.secret_key,
            "AWS_DEFAULT_REGION": endpoints.region,
            "AWS_REGION": endpoints.region,
            "STRONGROOM_LOCAL_DATA": str(endpoints.data_dir),
        }
    )

    env.update(release_environment(endpoints))  # admins, release worker, public URLs, Lambda endpoint
    return env


# --- the archive --------------------------------------------------------------------------


class LocalArchive:
    """Servers + buckets + tables + router, supervised. Runs in the calling process and
    sets that process's AWS_* variables as Lambda would (handlers run here)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        ports: Ports | None = None,
        template_paths: list[Path] | None = None,
        cfg: Settings | None = None,
        router: bool = True,
    ):
        self.data_dir = Path(data_dir).resolve()
        self.cfg = cfg or settings()
        self.ports = ports or Ports.configured()
        self.template = tpl.load(template_paths, self.cfg)
        self.region = self.cfg.nodes[0].region
        self.weed = Weed(self.data_dir, self.ports, ids.weed_identities_path(self.data_dir))
        self.moto = Moto(self.data_dir, self.ports)
        self.router: Router | None = None
        self.surfaces: Surfaces | None = None  # signed API, site, replay
        self._with_router = router
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.endpoints: Endpoints | None = None

    @property
    def started_endpoints(self) -> Endpoints:
        """The endpoints of the servers, once _start() has made them."""
        if self.endpoints is None:
            raise RuntimeError(f"the local archive in {self.data_dir} is not started; start() it first")
        return self.endpoints

    @classmethod
    def start(cls, data_dir: Path, **kwargs) -> LocalArchive:
        archive = cls(data_dir, **kwargs)
        archive._start()
        return archive

    def _start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs").mkdir(exist_ok=True)
        state = running_state(self.data_dir)
        if state and state["pid"] != os.getpid():
            raise RuntimeError(
                f"a local archive is already running in {self.data_dir} (pid {state['pid']}): "
                f"stop it with `strongroom down --data {self.data_dir}`"
            )
        cleanup_orphans(self.data_dir)
        if back := ids.all_online(self.data_dir, self.cfg):
            log.warning("nodes taken offline before this start are online again: %s", ", ".join(back))
        ids.ensure(self.data_dir, self.cfg)
        self._write_state("starting")
        try:
            self.weed.start()
            self.moto.start()
            self.endpoints = endpoints = Endpoints(
                data_dir=self.data_dir,
                s3=f"http://{HOST}:{self.ports.s3}",
                dynamodb=f"http://{HOST}:{self.ports.dynamodb}",
                region=self.region,
                ports=self.ports.as_dict(),
                ingest_bucket=self.cfg.ingest_bucket,
                public_bucket=self.cfg.public_bucket,
                node_buckets=tuple(n.bucket for n in self.cfg.nodes),
                catalog_table=self.cfg.catalog_table,
                identities=ids.load(self.data_dir),
            )
            s3, dynamodb = clients(endpoints)
            ensure_buckets(s3, self.cfg)
            ensure_tables(dynamodb, self.template)
            if self._with_router:
                os.environ.update(lambda_environment(endpoints, self.template))
                rebuild_catalog()
                self.router = Router(self.template, lambda: clients(endpoints).s3, region=self.region)
                self.router.start()

                self.surfaces = Surfaces(self.router, endpoints, self.data_dir).start()  # API, site, replay
            self._write_state("ready")
        except BaseException:
            self.stop()
            raise
        self._supervisor = threading.Thread(target=self._supervise, name="supervisor", daemon=True)
        self._supervisor.start()

    def _write_state(self, state: str) -> None:
        doc = {
            "state": state,
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "data_dir": str(self.data_dir),
            "region": self.region,
            "ports": self.ports.as_dict(),
            "endpoints": {"s3": f"http://{HOST}:{self.ports.s3}", "dynamodb": f"http://{HOST}:{self.ports.dynamodb}"},
            "servers": {s.name: {"pid": s.pid, "log": str(s.log_path)} for s in (self.weed, self.moto)},
            "template": [str(p) for p in self.template.paths],
            "logs": str(self.data_dir / "logs"),
        }
        tmp = runtime_path(self.data_dir).with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=2) + "\n", "utf-8")
        os.replace(tmp, runtime_path(self.data_dir))

    def _supervise(self) -> None:
        """Restart a server that died (kill -9, crash); rebuild what it held in memory."""
        while not self._stop.wait(1.0):
            for server in (self.weed, self.moto):
                if self._stop.is_set() or server.alive():
                    continue
                code = server.proc.returncode if server.proc else None
                log.error(
                    "%s exited unexpectedly (status %s); restarting it, see %s", server.name, code, server.log_path
                )
                try:
                    server.proc = None
                    server.start()
                    server.restarts += 1
                    s3, dynamodb = clients(self.started_endpoints)
                    if server is self.moto:
                        ensure_tables(dynamodb, self.template)
                        if self._with_router:
                            rebuild_catalog()
                    else:
                        ensure_buckets(s3, self.cfg)
                    self._write_state("ready")
                except Exception:
                    log.exception("restarting %s failed; trying again shortly", server.name)

    def reload_identities(self) -> None:
        self.weed.reload_identities()
        if self.endpoints:
            self.endpoints.identities.update(ids.load(self.data_dir))

    def wait(self) -> None:
        """Block until stop() (or a signal handler calling it)."""
        while not self._stop.wait(3600):
            pass

    def stop(self) -> None:
        """Stop routing first (no handler runs against a dying server), then the servers."""
        already = self._stop.is_set()
        self._stop.set()
        if already and not (self.weed.alive() or self.moto.alive()):
            return
        if self.surfaces:
            self.surfaces.stop()
        if self.router:
            log.info("stopping the router (waiting for running handlers)")
            self.router.stop()
        if self._supervisor and self._supervisor is not threading.current_thread():
            self._supervisor.join(5)
        for server in (self.moto, self.weed):
            server.stop()
        state = read_state(self.data_dir)
        if state and state.get("pid") == os.getpid():
            runtime_path(self.data_dir).unlink(missing_ok=True)
        log.info("local archive stopped; its data stays in %s", self.data_dir)


def cleanup_orphans(data_dir: Path) -> None:
    """Servers left behind by a runtime that was killed (kill -9) still hold the ports and
    the data directory: stop them, after checking the pids still are those servers."""
    state = read_state(data_dir)
    if not state or running_state(data_dir):
        return
    for name, server in (state.get("servers") or {}).items():
        pid = server.get("pid")
        if pid and process_is(pid, "weed" if name == "weed" else "moto"):
            log.warning("stopping %s (pid %s) left over from an earlier run", name, pid)
            kill_pid(pid)
    runtime_path(data_dir).unlink(missing_ok=True)


# --- background runs ---------------------------------------------------------------------


def start_detached(data_dir: Path, *, env: dict[str, str] | None = None, timeout: float = 90.0) -> Endpoints:
    """Start `strongroom up` as a background process (own session, logs in
    <data>/logs/runtime.log) and return its endpoints once it is ready."""
    data_dir = Path(data_dir).resolve()
    state = running_state(data_dir)
    if state:
        raise RuntimeError(
            f"a local archive is already running in {data_dir} (pid {state['pid']}): "
            f"stop it with `strongroom down --data {data_dir}`"
        )
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "logs" / "runtime.log"
    child_env = dict(os.environ if env is None else env)
    child_env[DETACHED_ENV] = "1"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "strongroom.commands.cli", "--data", str(data_dir), "up"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"the local archive exited while starting (status {proc.returncode}):\n"
                f"{_tail(log_path)}\nfull log: {log_path}"
            )
        state = read_state(data_dir)
        if state and state.get("pid") == proc.pid and state.get("state") == "ready":
            return connect(data_dir)
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"the local archive was not ready within {timeout:.0f}s; see {log_path}")


def stop_detached(data_dir: Path, timeout: float = 60.0) -> bool:
    """Stop the archive running in data_dir; False when none was running."""
    data_dir = Path(data_dir).resolve()
    state = running_state(data_dir)
    if state is None:
        had_orphans = read_state(data_dir) is not None
        cleanup_orphans(data_dir)
        return had_orphans
    pid = state["pid"]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process_is(pid, "python"):
        time.sleep(0.2)
    if process_is(pid, "python"):
        log.warning("the runtime (pid %s) did not stop within %.0fs; killing it and its servers", pid, timeout)
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    cleanup_orphans(data_dir)
    return True


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text("utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
