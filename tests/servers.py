"""Real servers for the tests: `territoires serve` processes and throwaway PostgreSQL clusters."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

CLUSTER_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "pg-test-cluster"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def platform(data_dir: Path, *, workers: int = 2, env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """`territoires serve` on a free port; yields its base URL and process once it answers.
    The server leads a process group of its own (its workers and bridge with it), which a test
    may kill whole, as a crash would: ``os.killpg(process.pid, signal.SIGKILL)``."""
    port = free_port()
    command = [sys.executable, "-m", "territoires.cli", "serve", "--port", str(port), "--workers", str(workers),
               "--data-dir", str(data_dir)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={"TERRITOIRES_AUTH": "0", **os.environ, **(env or {})}, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/health", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    process.kill()
                    raise RuntimeError("the server did not start: " + (process.stdout.read() if process.stdout else ""))
                time.sleep(0.2)
        yield base, process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def can_start_postgres() -> bool:
    """PostgreSQL server binaries and PostGIS are installed here."""
    return any(Path("/usr/lib/postgresql").glob("*/bin/initdb")) and any(
        Path("/usr/share/postgresql").glob("*/extension/postgis.control"))


class Cluster:
    """A throwaway PostgreSQL + PostGIS cluster (``scripts/pg-test-cluster``) that a test may
    stop abruptly and start again."""

    def __init__(self) -> None:
        # Not under pytest's tmp_path: the server runs as the "postgres" user when we are root,
        # and pytest's folders are private to their owner.
        self.directory = Path(tempfile.mkdtemp(prefix="territoires-pg-"))
        self.url = subprocess.run([str(CLUSTER_SCRIPT), "start", str(self.directory)], check=True,
                                  capture_output=True, text=True).stdout.strip().splitlines()[-1]
        self._bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]

    def _pg_ctl(self, *args: str) -> None:
        command = [str(self._bindir / "pg_ctl"), "--pgdata", str(self.directory / "data"), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)

    def kill(self) -> None:
        """Stop at once, as a crash would: no checkpoint, clients cut off."""
        self._pg_ctl("--mode=immediate", "--wait", "stop")

    def start(self) -> None:
        self._pg_ctl("--log", str(self.directory / "server.log"), "--wait", "start")

    def remove(self) -> None:
        subprocess.run([str(CLUSTER_SCRIPT), "stop", str(self.directory)], check=False, capture_output=True)
