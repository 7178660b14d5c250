"""MQTT notification delivery to a broker that cannot be reached."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from territoires.broker.transports import DeliveryFailed, Message, MqttTransport
from territoires.ngsild.subscription import Endpoint

ATTEMPTS = 20


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_each_delivery_to_an_unreachable_mqtt_broker_fails_clearly_and_leaks_no_descriptor():
    endpoint = Endpoint(uri=f"mqtt://127.0.0.1:{_closed_port()}/territoires/notifications")
    message = Message({"type": "Notification"}, "application/json", None, "")

    async def deliver_repeatedly() -> list[str]:
        transport, failures = MqttTransport(), []
        for _ in range(ATTEMPTS):
            with pytest.raises(DeliveryFailed) as failed:
                await transport.send(endpoint, message, 2.0)
            failures.append(str(failed.value))
        await transport.close()
        return failures

    before = _open_descriptors()
    failures = asyncio.run(deliver_repeatedly())
    assert all("could not be reached" in failure for failure in failures)
    assert _open_descriptors() - before < ATTEMPTS // 2  # two leaked per attempt before
