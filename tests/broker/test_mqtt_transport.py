"""MQTT notification delivery: to a broker that cannot be reached, to one that drops a connection, and the
connections a transport keeps."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time

import pytest

from territoires.broker.transports import DeliveryFailed, Message, MqttTransport
from territoires.ngsild.subscription import Endpoint
from tests.mosquitto import require_mosquitto, running_mosquitto
from tests.receivers import silent_mqtt_broker

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


def test_a_tenant_whose_notification_makes_the_broker_drop_its_connection_fails_no_other_tenants():
    """Mosquitto drops a connection that sends a packet above its ``max_packet_size``. A tenant's
    oversized notification, queued just before another tenant's, fails alone: tenants never
    share a connection."""
    require_mosquitto()

    def message(tenant: str, size: int) -> Message:
        return Message({"type": "Notification", "data": "x" * size}, "application/json", None, tenant)

    async def deliver(port: int) -> list[BaseException | None]:
        transport = MqttTransport()
        endpoint = Endpoint(uri=f"mqtt://127.0.0.1:{port}/territoires/notifications",
                            notifier_info=(("MQTT-QoS", "1"),))
        for tenant in ("lannion", "brest"):  # both connected: the next two are written at once
            await transport.send(endpoint, message(tenant, 10), 5.0)
        outcomes = await asyncio.gather(transport.send(endpoint, message("lannion", 10_000), 5.0),
                                        transport.send(endpoint, message("brest", 10), 5.0), return_exceptions=True)
        await transport.close()
        return outcomes

    with running_mosquitto(options="max_packet_size 4096") as broker:
        oversized, other = asyncio.run(deliver(broker.port))
    assert isinstance(oversized, DeliveryFailed)
    assert other is None


def test_a_connection_unused_for_its_idle_time_is_closed_with_its_thread(mosquitto):
    """Each tenant has its connection (and the thread that serves it); one unused longer than
    the idle time is closed at the next notification, so tenants whose notifications stopped
    keep nothing open."""
    endpoint = Endpoint(uri=f"mqtt://127.0.0.1:{mosquitto.port}/territoires/notifications")

    def serving() -> int:
        return sum(thread.name == f"mqtt-127.0.0.1:{mosquitto.port}" for thread in threading.enumerate())

    async def deliver() -> list[int]:
        transport, counts = MqttTransport(idle=0.5), []
        for tenant in ("lannion", "brest"):
            await transport.send(endpoint, Message({"type": "Notification"}, "application/json", None, tenant), 5.0)
        counts.append(serving())
        await asyncio.sleep(1.0)
        await transport.send(endpoint, Message({"type": "Notification"}, "application/json", None, "brest"), 5.0)
        counts.append(serving())
        await transport.close()
        counts.append(serving())
        return counts

    assert asyncio.run(deliver()) == [2, 1, 0]


def test_a_connection_that_opens_after_its_notification_was_abandoned_is_closed():
    """The notifier stops (its deliveries cancelled) while a connection to a broker slow to
    accept is being opened: the connection that opens afterwards is closed with its thread,
    not left open for as long as the process lives."""
    with silent_mqtt_broker(connack_delay=1.0) as broker:
        endpoint = Endpoint(uri=f"mqtt://127.0.0.1:{broker.port}/territoires/notifications")

        def serving() -> bool:
            return any(thread.name == f"mqtt-127.0.0.1:{broker.port}" for thread in threading.enumerate())

        async def abandon() -> bool:
            transport = MqttTransport()
            sending = asyncio.create_task(
                transport.send(endpoint, Message({"type": "Notification"}, "application/json", None, ""), 5.0))
            await asyncio.sleep(0.3)
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending
            deadline = time.monotonic() + 10
            while not serving() and time.monotonic() < deadline:  # the connection opens
                await asyncio.sleep(0.05)
            opened = serving()
            while serving() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await transport.close()
            return opened

        assert asyncio.run(abandon())
        assert not serving()
