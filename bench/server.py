"""Start and stop the servers under test, wait until they answer, and read their memory."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The broker's own command, as `make run` would start it; {placeholders} are filled per run.
BROKER_COMMAND = (
    f"{Path(sys.executable).parent / 'territoires'} serve"
    " --host {host} --port {port} --data-dir {data_dir} --workers {workers}"
)


class ServerError(RuntimeError):
    """A server would not start, or died."""


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Memory:
    """Memory of a group of processes, summed, in MB. ``rss`` and ``peak`` (VmRSS, VmHWM) count
    shared pages once per process that touched them; ``pss`` shares them out, so it counts
    them once in all (what the group costs the machine)."""

    rss: float
    peak: float
    pss: float


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (a supervisor and its workers, a postmaster and its backends)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state, ppid, ...
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _kilobytes(text: str, field: str) -> int:
    for line in text.splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def process_memory_mb(pids: list[int]) -> Memory:
    """RSS, peak RSS and PSS of these processes summed; those gone meanwhile count for nothing."""
    rss = hwm = pss = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        rss += _kilobytes(status, "VmRSS:")
        hwm += _kilobytes(status, "VmHWM:")
        pss += _kilobytes(rollup, "Pss:")
    return Memory(rss / 1024, hwm / 1024, pss / 1024)


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def machine_busy(seconds: float = 1.0) -> float:
    """Share of the machine's CPUs busy over the next ``seconds``: with nothing of the bench
    running, the share other work takes."""
    busy, total = _cpu_times()
    time.sleep(seconds)
    busy_after, total_after = _cpu_times()
    return (busy_after - busy) / max(total_after - total, 1)


class Server:
    """One server process (and the workers it forks), logging to a file."""

    def __init__(self, name: str, argv: list[str], port: int, log_path: Path, env: dict[str, str] | None = None):
        self.name = name
        self.port = port
        self.log_path = log_path
        self._log = open(log_path, "wb")
        # Its own session, so that stop() can end the workers it forked along with it.
        self.process = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO, env=env, start_new_session=True
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until GET /health answers 200; raise ServerError if it dies or takes too long."""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}/health"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"{self.name} did not answer GET /health within {timeout:.0f} s:\n{self.log_tail()}")

    def memory(self) -> Memory:
        """Memory of the server's processes (supervisor, workers, resource tracker) summed."""
        return process_memory_mb(descendants(self.process.pid))

    def log_tail(self, lines: int = 30) -> str:
        if not self._log.closed:
            self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the server (uvicorn then stops its workers), SIGKILL its group if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        try:  # Workers that outlived their supervisor belong to the same group.
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._log.close()


def start_broker(data_dir: Path, workers: int, log_dir: Path, command: str = BROKER_COMMAND,
                 env: dict[str, str] | None = None) -> Server:
    """Start the broker on a free port with its files under ``data_dir`` and these environment
    variables added to ours (they choose its store). Authentication is off unless ``env`` turns it
    on: the benchmarks measure the NGSI-LD work, and the authorisation one its cost apart."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = shlex.split(command.format(host="127.0.0.1", port=port, data_dir=data_dir, workers=workers))
    server = Server("broker", argv, port, log_dir / f"broker-{data_dir.name}-{port}.log",
                    env={**os.environ, "TERRITOIRES_AUTH": "0", **(env or {})})
    server.wait_ready()
    return server


def start_bare(workers: int, log_dir: Path) -> Server:
    """Start the bare Starlette app under uvicorn with the broker's number of workers.

    Same event loop and HTTP parser as the broker: with uvicorn's plain asyncio loop and
    several workers, responses written in two parts stall ~40 ms on keep-alive connections.
    """
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "bench.baseline_app:app", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), "--loop", "uvloop", "--http", "httptools",
            "--no-access-log", "--log-level", "warning"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    server = Server("bare app", argv, port, log_dir / "bare.log", env=env)
    server.wait_ready()
    return server
