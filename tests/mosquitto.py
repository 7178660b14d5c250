"""A real Mosquitto (Debian's ``mosquitto`` package) for the tests, on a free loopback port.

    def test_x(mosquitto): … mosquitto.url …         # the fixture (tests/conftest.py loads it): a
                                                     # Mosquitto per test, "mqtt://127.0.0.1:PORT"

    from tests.mosquitto import running_mosquitto     # the same as a context manager
    with running_mosquitto() as broker: …
    with running_mosquitto(TLS(cert, key)) as broker: …   # its listener in TLS, "mqtts://127.0.0.1:PORT"
    with running_mosquitto(options="max_packet_size 4096") as broker: …  # more lines of configuration

``Mosquitto`` has ``host``, ``port``, ``url``, ``stop()`` and ``start()`` (the same port and
persistence folder again, as after a crash of the broker). Its configuration keeps every QoS 1
message of a disconnected persistent session (no queue limit, no in-flight limit) and saves
sessions in a temporary folder, so that a bridge killed and restarted gets back every uplink
it had not acknowledged.

Without ``/usr/sbin/mosquitto`` the fixture skips its test with the reason; with
``TERRITOIRES_REQUIRE_MOSQUITTO=1`` (CI) it fails instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest

BINARY = Path(os.environ.get("TERRITOIRES_MOSQUITTO", "/usr/sbin/mosquitto"))
MISSING = f"Mosquitto est absent ({BINARY}) : paquet Debian « mosquitto » (apt-get install mosquitto)"

_CONFIG = """\
listener {port} 127.0.0.1
{tls}
allow_anonymous true
persistence true
persistence_location {folder}/
autosave_interval 300
max_queued_messages 0
max_inflight_messages 0
persistent_client_expiration 1d
log_dest file {folder}/mosquitto.log
log_type error
log_type warning
{options}
"""


def installed() -> bool:
    return BINARY.is_file() and os.access(BINARY, os.X_OK)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TLS(NamedTuple):
    """The server's certificate chain and private key, in PEM, for a TLS listener."""

    certificate: bytes
    key: bytes


class Mosquitto:
    """One Mosquitto process and its folder (configuration, persistence, log)."""

    host = "127.0.0.1"

    def __init__(self, folder: Path, tls: TLS | None = None, options: str = "") -> None:
        self.folder = folder
        self.port = _free_port()
        self.tls = tls
        listener_tls = ""
        if tls:
            (folder / "server.pem").write_bytes(tls.certificate)
            (folder / "server.key").write_bytes(tls.key)
            listener_tls = f"certfile {folder}/server.pem\nkeyfile {folder}/server.key"
        (folder / "mosquitto.conf").write_text(_CONFIG.format(port=self.port, folder=folder, tls=listener_tls,
                                                                       options=options))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def start(self) -> None:
        """Start (or start again) and return once it accepts connections."""
        self._process = subprocess.Popen([str(BINARY), "-c", str(self.folder / "mosquitto.conf")],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"Mosquitto did not start: {self.log()}")
                time.sleep(0.02)

    def stop(self, *, kill: bool = False) -> None:
        """Stop it: gracefully (it saves its sessions), or with ``kill`` at once, as a crash."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


@contextmanager
def running_mosquitto(tls: TLS | None = None, options: str = "") -> Iterator[Mosquitto]:
    """A started Mosquitto, stopped and its folder removed afterwards. Raises ``RuntimeError``
    when Mosquitto is not installed (the fixture turns that into a skip or a failure)."""
    if not installed():
        raise RuntimeError(MISSING)
    folder = Path(tempfile.mkdtemp(prefix="territoires-mqtt-"))
    if os.geteuid() == 0:  # run as root, Mosquitto drops to its own user: let it write there
        try:
            shutil.chown(folder, user="mosquitto")
        except LookupError:  # no such user: Mosquitto then keeps running as root
            pass
    broker = Mosquitto(folder, tls, options)
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)


def require_mosquitto() -> None:
    """Skip the calling test when Mosquitto is missing, or fail in CI (TERRITOIRES_REQUIRE_MOSQUITTO=1)."""
    if installed():
        return
    if os.environ.get("TERRITOIRES_REQUIRE_MOSQUITTO") == "1":
        pytest.fail(MISSING)
    pytest.skip(MISSING)


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    """A Mosquitto of this test's own on a free loopback port."""
    require_mosquitto()
    with running_mosquitto() as broker:
        yield broker
