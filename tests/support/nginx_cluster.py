"""make serve-cluster for a test: nginx in front of API instances (scripts/serve_cluster.sh),
on free loopback ports, in a folder of its own, stopped and removed afterwards."""

import os
import shutil
import signal
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.support.live_server import REPOSITORY, wait_until_healthy
from tests.support.ports import server_ports


def trusting(directory: Path) -> ssl.SSLContext:
    """A client's TLS settings that trust the cluster's self-signed certificate alone."""
    return ssl.create_default_context(cafile=directory / "tls" / "localhost.crt")


class Cluster(NamedTuple):
    url: str
    instance_ports: list[int]
    directory: Path
    process: subprocess.Popen[bytes]


@contextmanager
def serving_cluster(
    environment: dict[str, str], instances: int = 2, *, tls: bool = False
) -> Iterator[Cluster]:
    """The cluster with `environment` (the app's settings); with `tls`, HTTPS on its URL
    and plain HTTP one port above the instances' (which redirects), its self-signed
    certificate in `directory`/tls/localhost.crt."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (DEVSTACK_NGINX=1 installs it; make test does)")
    port = server_ports(instances + 2)  # nginx's, the instances', then plain HTTP's
    instance_ports = [port + 1 + n for n in range(instances)]
    directory = REPOSITORY / ".devstack" / f"cluster-test-{uuid.uuid4().hex[:8]}"
    process = subprocess.Popen(
        ["bash", "scripts/serve_cluster.sh"],
        cwd=REPOSITORY,
        env={
            **os.environ,
            **environment,
            "INSTANCES": str(instances),
            "PORT": str(port),
            "INSTANCE_PORT": str(instance_ports[0]),
            "CLUSTER_DIR": str(directory),
            "TLS": "1" if tls else "0",
            "TLS_DIR": str(directory / "tls"),
            "HTTP_PORT": str(port + instances + 1),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    try:
        # Each instance first, nginx last: a request nginx sends to an instance still
        # starting marks it failed for fail_timeout (2 s), and the tests need both.
        for serving in (f"http://127.0.0.1:{p}" for p in instance_ports):
            wait_until_healthy(serving, process)
        wait_until_healthy(url, process, trusting(directory) if tls else True)
        yield Cluster(url, instance_ports, directory, process)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        shutil.rmtree(directory, ignore_errors=True)


def rolling_restart(directory: Path, timeout_s: float) -> float:
    """Ask the cluster serving from `directory` for a rolling restart (SIGHUP to
    serve_cluster.sh) and wait until it is done: the seconds it took. RuntimeError when
    it takes longer than `timeout_s`."""
    done = directory / "rolled"
    done.unlink(missing_ok=True)
    os.kill(int((directory / "serve.pid").read_text()), signal.SIGHUP)
    deadline = time.monotonic() + timeout_s
    while not done.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the rolling restart took over {timeout_s} s")
        time.sleep(0.2)
    return float(done.read_text())
