"""One local archive (SeaweedFS + moto + router) for all the integration tests that need it.

Use the `local_archive` fixture and mark the test
`@pytest.mark.integration` and `@pytest.mark.xdist_group("archive")`: with
`pytest -n 2 --dist loadgroup` every test of the group runs in the same worker, so the
archive starts once per run. It runs as a background `strongroom up` in a temporary data
directory on ports of its own (base 18333, or STRONGROOM_TEST_PORTS=<base>), so it never
clashes with a demo running on the default ports. Its template is template.yaml plus
tests/integration/local_runtime_template.yaml (a probe handler for the router's tests).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from strongroom.local import runtime

REPO = Path(__file__).resolve().parents[2]
TEST_TEMPLATE = Path(__file__).with_name("local_runtime_template.yaml")


def _port_base() -> int:
    base = int(os.environ.get("STRONGROOM_TEST_PORTS", "18333"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # in case a test outside the group asks too
    return base + 100 * int(worker.removeprefix("gw") or 0)


@dataclass
class ArchiveUnderTest:
    """A running local archive and how to reach, restart and inspect it."""

    data_dir: Path
    env: dict[str, str]
    endpoints: runtime.Endpoints

    def clients(self, identity: str = "archive") -> runtime.Clients:
        return runtime.clients(runtime.connect(self.data_dir), identity)

    def start(self) -> None:
        self.endpoints = runtime.start_detached(self.data_dir, env=self.env)

    def stop(self) -> None:
        runtime.stop_detached(self.data_dir)

    def restart(self) -> None:
        self.stop()
        self.start()

    def state(self) -> dict:
        return runtime.read_state(self.data_dir) or {}

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run `strongroom --data <this archive> ARGS` as a user would, in a process of its own."""
        result = subprocess.run(
            [sys.executable, "-m", "strongroom.commands.cli", "--data", str(self.data_dir), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"strongroom {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def log(self) -> str:
        return (self.data_dir / "logs" / "runtime.log").read_text("utf-8", errors="replace")


@pytest.fixture(scope="session")
def local_archive(tmp_path_factory) -> ArchiveUnderTest:
    data_dir = tmp_path_factory.mktemp("archive")
    env = dict(os.environ)
    env.update(
        {
            "STRONGROOM_LOCAL_PORTS": str(_port_base()),
            "STRONGROOM_TEMPLATE": os.pathsep.join([str(REPO / "template.yaml"), str(TEST_TEMPLATE)]),
            "PYTHONPATH": os.pathsep.join(p for p in [str(REPO), env.get("PYTHONPATH", "")] if p),
        }
    )
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB"):
        env.pop(name, None)  # the archive sets its own, as Lambda would
    archive = ArchiveUnderTest(data_dir, env, endpoints=None)  # type: ignore[arg-type]
    archive.start()
    try:
        yield archive
    finally:
        archive.stop()


# The release tests' world and the dark-stays-dark crawl's own (session-scoped; one definition each).
from tests.integration.release_world import dark_world, release_world  # noqa: E402, F401
