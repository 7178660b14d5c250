"""Notification delivery latency: per-asset alerting at a steady update rate.

1,000 subscriptions on type Streetlight, each watching its own entity (``entities: [{type, id}]``),
and 1,000 updates/s spread over those entities for the run's timed load (open loop: updates are
sent on schedule, whatever the broker does). Each update carries a sequence number; a receiver on
loopback, in this process, notes when the notification holding it arrives. The figure is the
delay from the update accepted (its 204 read by the client) to the notification received;
its limit, measured in the same run, is the bare HTTP round trip of a notification-sized POST to
the same receiver at the same rate.

    rows = notifications(bench)     # listed in bench/catalog.py
"""

from __future__ import annotations

import asyncio
import math
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from bench import ngsi
from bench.load import build_request
from bench.report import Row
from bench.scenarios import Bench
from bench.server import free_port, start_broker

SUBSCRIPTIONS = 1000
RATE = 1000.0  # updates per second
CONNECTIONS = 32  # client keep-alive connections to the broker
DRAIN_SECONDS = 15.0  # longest wait for the last notifications once updates stop
TARGET_P95_MS = 500.0
_JSON = {"Content-Type": "application/json"}


def entity_id(n: int) -> str:
    return f"urn:ngsi-ld:Streetlight:alert-{n:04d}"


@dataclass
class _Record:
    """Times (monotonic seconds) of each sequence number: accepted by the broker, received."""

    accepted: dict[int, float] = field(default_factory=dict)
    update_rtt: list[float] = field(default_factory=list)  # each update's own round trip
    received: dict[int, float] = field(default_factory=dict)
    bare: list[float] = field(default_factory=list)
    refused: int = 0


class _Receiver:
    """A bare HTTP/1.1 notification endpoint: notes each dimmingLevel it is notified of."""

    def __init__(self, record: _Record) -> None:
        self.record = record
        self.port = free_port()
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                now = time.monotonic()
                if head.startswith(b"POST /notify"):
                    for item in orjson.loads(body)["data"]:
                        self.record.received.setdefault(item["dimmingLevel"]["value"], now)
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()  # the sender went away, or the run is over

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


Done = Callable[[int, int, float, float], None]


async def _paced(port: int, requests: list[tuple[int, bytes]], on_done: Done, rate: float) -> None:
    """Send ``requests`` at ``rate`` per second over CONNECTIONS keep-alive connections; call
    ``on_done(number, status, sent, ended)`` (monotonic seconds) as each response ends."""
    queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while (item := await queue.get()) is not None:
            number, raw = item
            sent = time.monotonic()
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    await reader.readexactly(int(line.split(b":", 1)[1]))
            on_done(number, status, sent, time.monotonic())
        writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(CONNECTIONS)]
    start = time.monotonic()
    for k, item in enumerate(requests):
        delay = start + k / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(item)
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)


def _update(k: int) -> tuple[int, bytes]:
    body = orjson.dumps({"dimmingLevel": {"type": "Property", "value": k, "unitCode": "P1"}})
    return k, build_request("PATCH", f"{ngsi.API}/entities/{entity_id(k % SUBSCRIPTIONS)}/attrs", body=body,
                            headers=_JSON)


def _percentile_ms(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))] * 1000


def _setup(port: int, receiver_url: str) -> None:
    """The 1,000 streetlights and one subscription watching each."""
    def post(path: str, body: object) -> None:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{ngsi.API}{path}", data=orjson.dumps(body),
                                         headers=_JSON, method="POST")
        urllib.request.urlopen(request, timeout=60).read()

    post("/entityOperations/upsert", [
        {"id": entity_id(n), "type": "Streetlight", "dimmingLevel": {"type": "Property", "value": -1, "unitCode": "P1"},
         "powerState": {"type": "Property", "value": "on"}} for n in range(SUBSCRIPTIONS)])
    for n in range(SUBSCRIPTIONS):
        post("/subscriptions", {"type": "Subscription", "entities": [{"type": "Streetlight", "id": entity_id(n)}],
                                "watchedAttributes": ["dimmingLevel"],
                                "notification": {"endpoint": {"uri": receiver_url}}})


async def _measure(port: int, receiver_port: int, seconds: float, warmup: float, record: _Record) -> None:
    def accepted(number: int, status: int, sent: float, ended: float) -> None:
        if status == 204:
            record.accepted[number] = ended
            record.update_rtt.append(ended - sent)
        else:
            record.refused += 1

    # Warm-up updates carry negative numbers: they are not counted.
    await _paced(port, [_update(-1 - k) for k in range(int(warmup * RATE))], lambda *_: None, RATE)
    await _paced(port, [_update(k) for k in range(int(seconds * RATE))], accepted, RATE)
    deadline = time.monotonic() + DRAIN_SECONDS
    while len(record.received.keys() & record.accepted.keys()) < len(record.accepted) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    # The limit: the same receiver, a notification-sized POST, at the same rate.
    sample = orjson.dumps({"id": "urn:ngsi-ld:Notification:bare", "type": "Notification", "data": [
        {"id": entity_id(0), "type": "Streetlight", "dimmingLevel": {"type": "Property", "value": 0, "unitCode": "P1"},
         "powerState": {"type": "Property", "value": "on"}}]})
    bare = build_request("POST", "/bare", body=sample, headers=_JSON)
    await _paced(receiver_port, [(k, bare) for k in range(int(seconds * RATE))],
                 lambda number, status, sent, ended: record.bare.append(ended - sent), RATE)


def notifications(bench: Bench) -> list[Row]:
    """Delivery p50/p95/p99 from update accepted to notification received, against the bare round trip."""
    run = bench.run
    record = _Record()

    async def scenario() -> None:
        receiver = _Receiver(record)
        await receiver.start()
        server = start_broker(run.work_dir / f"{bench.backend.name}-notifications", run.workers, run.work_dir,
                              run.broker_command, env=bench.backend.store_env("notifications"))
        try:
            run.log(f"  {SUBSCRIPTIONS:,} streetlights and one subscription watching each")
            await asyncio.to_thread(_setup, server.port, f"http://127.0.0.1:{receiver.port}/notify")
            run.log(f"  {RATE:,.0f} updates/s for {bench.sizes.seconds:.0f} s")
            await _measure(server.port, receiver.port, bench.sizes.seconds, bench.sizes.warmup, record)
        finally:
            server.stop()
            await receiver.stop()

    asyncio.run(scenario())
    delays = [record.received[k] - at for k, at in record.accepted.items() if k in record.received]
    missing = len(record.accepted) - len(delays)
    if missing or record.refused:
        bench.note(f"notifications: {missing} of {len(record.accepted)} accepted updates not notified within "
                   f"{DRAIN_SECONDS:.0f} s after the load; {record.refused} updates refused")
    achieved = len(record.accepted) / bench.sizes.seconds
    name = f"notification delivery, {SUBSCRIPTIONS:,} subscriptions, {RATE:,.0f} updates/s"
    return [
        Row(f"{name}, p{p}", _percentile_ms(delays, p), "ms", _percentile_ms(record.bare, p), higher_is_better=False,
            target=TARGET_P95_MS if p == 95 else None)
        for p in (50, 95, 99)
    ] + [Row(f"{name}, updates accepted", achieved, "updates/s", RATE, target=RATE * 0.95),
         Row(f"{name}, update round trip p95", _percentile_ms(record.update_rtt, 95), "ms",
             _percentile_ms(record.bare, 95), higher_is_better=False)]
