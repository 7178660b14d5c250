"""The six benchmarks, written once for every backend, and what they share: within one run the
bare round trips and the record of every load, within one backend its limit and loaded brokers."""

from __future__ import annotations

import itertools
import random
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench import data, ngsi
from bench.backends import Backend
from bench.load import LoadError, LoadResult, RequestFactory, run_load
from bench.rawdb import Row as RawRow
from bench.report import Row
from bench.server import BROKER_COMMAND, Memory, Server, machine_busy, start_bare, start_broker

BATCH = 1000
# Concurrent clients: few for batch upserts (SQLite has one writer), many for small requests.
UPSERT_CLIENTS = 4
MANY_CLIENTS = 32
QUERY_CLIENTS = (1, 8)


@dataclass(frozen=True)
class Sizes:
    streetlights: int
    points: int
    seconds: float  # each timed load
    warmup: float  # untimed load just before it


FULL = Sizes(streetlights=100_000, points=1_000_000, seconds=10.0, warmup=1.0)
QUICK = Sizes(streetlights=20_000, points=100_000, seconds=3.0, warmup=0.5)

# A bare round trip the limits need: ("GET" or "POST", concurrent clients).
BareNeed = tuple[str, int]


@dataclass
class Loaded:
    """A running broker, how its batch load went, and its memory and the database server's
    (None for an embedded database) right after."""

    server: Server
    load: LoadResult
    memory: Memory
    database_memory: Memory | None
    data_dir: Path
    env: dict[str, str]  # what points a broker at this store


class Run:
    """What the benchmarks of one run share, whatever the backend: sizes, the bare round trips,
    the record of every load, notes for the reader."""

    def __init__(self, sizes: Sizes, workers: int, work_dir: Path, broker_command: str = BROKER_COMMAND,
                 log: Callable[[str], None] = lambda message: None):
        self.sizes = sizes
        self.log = log
        self.workers = workers
        self.work_dir = work_dir
        self.broker_command = broker_command
        self.notes: list[str] = []
        self.runs: list[dict[str, Any]] = []
        self.bare_results: dict[BareNeed, LoadResult] = {}
        self.bare_rss_mb = float("nan")

    # -- measuring ---------------------------------------------------------------------

    def measure(self, label: str, server: Server, factory: RequestFactory, clients: int,
                expect: frozenset[int]) -> LoadResult:
        """A warm-up, then a timed closed-loop load of ``clients`` keep-alive connections."""
        run_load(server.port, factory, concurrency=clients, duration=self.sizes.warmup, expect=expect)
        result = run_load(server.port, factory, concurrency=clients, duration=self.sizes.seconds, expect=expect)
        self.check(label, clients, result, server)
        if 0 < result.ok < 100:
            self.notes.append(f"{label}: only {result.ok} responses in {result.elapsed:.0f} s: "
                              "its percentiles are rough")
        return result

    def check(self, label: str, clients: int, result: LoadResult, server: Server) -> None:
        """Record the run and tell the reader when its figures deserve doubt."""
        self.log(f"  {label}: {result.rate:,.0f} responses/s, p95 {result.percentile_ms(95):.1f} ms"
                 + (f", {result.errors} unexpected" if result.errors else ""))
        self.runs.append({
            "label": label, "clients": clients, "ok": result.ok, "errors": result.errors,
            "seconds": round(result.elapsed, 3), "rate": round(result.rate, 1),
            "p50_ms": result.percentile_ms(50), "p95_ms": result.percentile_ms(95),
            "p99_ms": result.percentile_ms(99), "client_cpu": round(result.client_cpu, 2),
            "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        })
        if result.errors:
            note = f"{label}: {result.errors} unexpected responses {result.statuses}; first:\n"
            note += result.first_error.decode(errors="replace")
            if any(status == 0 or status >= 500 for status in result.statuses):
                note += f"\nend of the {server.name} log:\n{server.log_tail(12)}"
            self.notes.append(note)
        if result.client_cpu > 0.7:
            self.notes.append(f"{label}: the load generator used {result.client_cpu:.0%} of a core; "
                              "it may be what limits this figure")
        # Nagle on the server + delayed ACK on the client stalls keep-alive responses ~40 ms;
        # unless the clients merely queue that long (a closed loop waits clients / rate).
        stalled = sum(1 for s in result.latencies if 0.036 <= s <= 0.052)
        queued = clients / result.rate if result.rate else float("inf")
        if result.latencies and stalled > len(result.latencies) / 2 and queued < 0.030:
            self.notes.append(f"{label}: most responses took 36-52 ms: Nagle's algorithm on the "
                              "server's accepted sockets (TCP_NODELAY off) with delayed ACKs")

    def check_idle(self, before: str) -> None:
        """Tell the reader when other work shares the machine, with nothing of the bench running."""
        busy = machine_busy(2.0)
        if busy > 0.25:
            self.notes.append(f"before {before}, {busy:.0%} of the machine's CPUs were busy with other work: "
                              "the figures that follow may be lower than on a quiet machine")

    # -- the bare round trip -------------------------------------------------------------

    def measure_bare(self, needs: set[BareNeed]) -> None:
        """Measure each needed bare round trip on the bare app, then its memory, then stop it."""
        server = start_bare(self.workers, self.work_dir)
        try:
            for method, clients in sorted(needs):
                if method == "POST":
                    factory, expect = ngsi.create_factory(seed=1), ngsi.CREATED
                else:
                    factory, expect = ngsi.cycling([ngsi.retrieve_request(data.streetlight_id(0))]), ngsi.FOUND
                label = f"bare {method}, {clients} client{'s' * (clients > 1)}"
                self.bare_results[(method, clients)] = self.measure(label, server, factory, clients, expect)
            self.bare_rss_mb = server.memory().rss
        finally:
            server.stop()

    def bare(self, method: str, clients: int) -> LoadResult:
        return self.bare_results[(method, clients)]


class Bench:
    """One backend's benchmarks within a run: its raw limit and its loaded brokers. Labels and
    notes are prefixed with the backend's name."""

    def __init__(self, run: Run, backend: Backend):
        self.run = run
        self.backend = backend
        self.sizes = run.sizes
        self.raw_rate = float("nan")
        self._loaded: dict[str, Loaded] = {}
        # A load that failed once is not tried again by the next scenario that needs it.
        self._failed: dict[str, str] = {}

    def note(self, text: str) -> None:
        self.run.notes.append(f"{self.backend.name}: {text}")

    def measure(self, label: str, server: Server, factory: RequestFactory, clients: int,
                expect: frozenset[int]) -> LoadResult:
        return self.run.measure(f"{self.backend.name} {label}", server, factory, clients, expect)

    def bare(self, method: str, clients: int) -> LoadResult:
        return self.run.bare(method, clients)

    # -- loaded brokers ------------------------------------------------------------------

    def streetlights(self) -> Loaded:
        """The broker loaded with the streetlights by batch upsert (the upsert benchmark itself)."""
        if "streetlights" not in self._loaded:
            self._stop("points")
            requests, rows = _streetlight_batches(self.sizes.streetlights)
            self.raw_rate = self.backend.raw_rate(rows)
            self._load("streetlights", iter(requests).__next__, len(requests),
                       data.streetlight_id(self.sizes.streetlights - 1), self.sizes.streetlights)
        return self._loaded["streetlights"]

    def points(self) -> Loaded:
        """The broker loaded with the point entities by batch upsert."""
        if "points" not in self._loaded:
            self._stop("streetlights")
            self._load("points", _point_batches(), self.sizes.points // BATCH,
                       data.point_id(self.sizes.points - 1), self.sizes.points)
        return self._loaded["points"]

    def _load(self, name: str, batches: RequestFactory, requests: int, last_id: str, count: int) -> None:
        if name in self._failed:
            raise LoadError(f"loading the {name} failed earlier: {self._failed[name]}")
        run, store = self.run, f"{self.backend.name}-{name}"
        env = self.backend.store_env(name)
        server = start_broker(run.work_dir / store, run.workers, run.work_dir, run.broker_command, env=env)
        run.log(f"  loading {count:,} {name} by batch upsert ({BATCH}/request, {UPSERT_CLIENTS} clients)")
        try:
            result = run_load(server.port, batches, concurrency=UPSERT_CLIENTS, total=requests,
                              expect=ngsi.UPSERTED)
            run.check(f"{self.backend.name} upsert {name}", UPSERT_CLIENTS, result, server)
            run.log(f"  {result.ok * BATCH / result.elapsed:,.0f} entities/s")
            self._verify_loaded(server, last_id, count)
            self.backend.settle(name)
        except BaseException as exc:
            self._failed[name] = str(exc)
            server.stop()
            raise
        self._loaded[name] = Loaded(server, result, server.memory(), self.backend.server_memory(),
                                    run.work_dir / store, env)

    def _stop(self, name: str) -> None:
        loaded = self._loaded.pop(name, None)
        if loaded is not None:
            loaded.server.stop()

    def _verify_loaded(self, server: Server, last_id: str, count: int) -> None:
        """The figures mean nothing if the entities are not there: check the last one and the count."""
        status, _, _ = http_get(server.port, f"{ngsi.API}/entities/{last_id}")
        if status != 200:
            self.note(f"after loading, GET {last_id} answered {status}")
        status, headers, _ = http_get(server.port, f"{ngsi.API}/entities?type=Streetlight&count=true&limit=0")
        found = headers.get("ngsild-results-count")
        if status != 200 or found != str(count):
            self.note(f"after loading {count:,} entities, count=true answered {status} "
                      f"with NGSILD-Results-Count {found}")

    def close(self) -> None:
        for name in list(self._loaded):
            self._stop(name)


def http_get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    """One plain GET outside any timing: (status, lower-cased headers, body)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def _streetlight_batches(count: int) -> tuple[list[bytes], list[list[RawRow]]]:
    """The upsert requests and, for the raw limit, the same entities as (id, JSON) rows."""
    entities = data.streetlights(count)
    requests: list[bytes] = []
    rows: list[list[RawRow]] = []
    while chunk := list(itertools.islice(entities, BATCH)):
        requests.append(ngsi.upsert_request(chunk))
        rows.append([(entity["id"], orjson.dumps(entity).decode()) for entity in chunk])
    return requests, rows


def _point_batches(seed: int = 35) -> RequestFactory:
    """Each call: the upsert request of the next batch of point entities, built on demand."""
    rng = random.Random(seed)
    starts = itertools.count(0, BATCH)

    def next_request() -> bytes:
        start = next(starts)
        return ngsi.upsert_request([data.point_entity(n, rng) for n in range(start, start + BATCH)])

    return next_request


def _latency_rows(name: str, result: LoadResult, bare: LoadResult, percentiles: tuple[int, ...],
                  target_p95: float | None = None) -> list[Row]:
    return [
        Row(f"{name}, p{p}", result.percentile_ms(p), "ms", bare.percentile_ms(p), higher_is_better=False,
            target=target_p95 if p == 95 else None)
        for p in percentiles
    ]


def _check_answers(bench: Bench, label: str, port: int, requests: list[bytes], samples: int = 20) -> None:
    """A query answered fast but empty proves nothing: tell the reader if every sample is empty."""
    found = 0
    for request in requests[:samples]:
        target = request.split(b" ", 2)[1].decode()
        status, _, body = http_get(port, target)
        try:
            entities = orjson.loads(body) if status == 200 else None
        except orjson.JSONDecodeError:
            entities = None
        if not isinstance(entities, list):
            bench.note(f"{label}: GET {target} answered {status}: {body[:300]!r}")
            return
        found += bool(entities)
    if not found:
        bench.note(f"{label}: all {samples} sampled queries answered an empty list")


def upsert(bench: Bench) -> list[Row]:
    loaded = bench.streetlights()
    rate = loaded.load.ok * BATCH / loaded.load.elapsed
    name = f"upsert {bench.sizes.streetlights:,} streetlights, {BATCH}/request, {UPSERT_CLIENTS} clients"
    stored = bench.backend.stored_rows_rate("streetlights", loaded.data_dir,
                                            bench.sizes.streetlights, loaded.load.ok, UPSERT_CLIENTS)
    bench.run.log(f"  the rows it stored, copied raw: {stored.rows:,} rows of {stored.tables} tables, "
                  f"{stored.rate:,.0f} entities/s")
    return [Row(name, rate, "entities/s", bench.raw_rate, target=bench.backend.upsert_target,
                target_ratio=bench.backend.upsert_target_ratio),
            Row("upsert, against the rows it stored", rate, "entities/s", stored.rate)]


def create(bench: Bench) -> list[Row]:
    server = bench.streetlights().server
    result = bench.measure("create", server, ngsi.create_factory(), MANY_CLIENTS, ngsi.CREATED)
    bare = bench.bare("POST", MANY_CLIENTS)
    return _throughput_rows(f"create, {MANY_CLIENTS} clients", result, bare, target=1_500)


def retrieve_requests(bench: Bench, headers: dict[str, str] | None = None) -> list[bytes]:
    """10,000 retrieves of streetlights drawn at random (the same ones in every call)."""
    rng = random.Random(7)
    ids = [data.streetlight_id(rng.randrange(bench.sizes.streetlights)) for _ in range(10_000)]
    return [ngsi.retrieve_request(entity_id, headers) for entity_id in ids]


def retrieve(bench: Bench) -> list[Row]:
    server = bench.streetlights().server
    requests = retrieve_requests(bench)
    result = bench.measure("retrieve", server, ngsi.cycling(requests), MANY_CLIENTS, ngsi.FOUND)
    bare = bench.bare("GET", MANY_CLIENTS)
    return _throughput_rows(f"retrieve, {MANY_CLIENTS} clients", result, bare, target=3_000)


def _throughput_rows(name: str, result: LoadResult, bare: LoadResult, *, target: float) -> list[Row]:
    """Requests/s against the bare round trip, then the latency percentiles."""
    return [Row(name, result.rate, "requests/s", bare.rate, target=target),
            *_latency_rows(name, result, bare, (50, 95, 99))]


def query(bench: Bench) -> list[Row]:
    server = bench.streetlights().server
    rng = random.Random(11)
    broad = [ngsi.query_request({"type": "Streetlight", "q": 'dimmingLevel>50;powerState=="on"', "limit": "20"})]
    # One control cabinet of 2,000: about 1 streetlight in 2,000 matches.
    selective = [
        ngsi.query_request({"type": "Streetlight", "limit": "20",
                            "q": f'refStreetlightControlCabinet=="{data.cabinet_id(rng.randrange(data.CABINETS))}"'})
        for _ in range(2_000)
    ]
    rows: list[Row] = []
    for variant, requests in (("broad", broad), ("selective", selective)):
        _check_answers(bench, f"query {variant}", server.port, requests)
        for clients in QUERY_CLIENTS:
            label = f"query {variant}, {clients} client{'s' * (clients > 1)}"
            result = bench.measure(label, server, ngsi.cycling(requests), clients, ngsi.FOUND)
            rows += _latency_rows(label, result, bench.bare("GET", clients), (50, 95), target_p95=20)
    return rows


def geo(bench: Bench) -> list[Row]:
    server = bench.points().server
    rng = random.Random(13)
    requests = [ngsi.near_query(*data.random_point(rng), max_distance=500) for _ in range(5_000)]
    _check_answers(bench, "geo near", server.port, requests)
    rows: list[Row] = []
    for clients in QUERY_CLIENTS:
        label = f"geo near 500 m over {bench.sizes.points:,}, {clients} client{'s' * (clients > 1)}"
        result = bench.measure(label, server, ngsi.cycling(requests), clients, ngsi.FOUND)
        rows += _latency_rows(label, result, bench.bare("GET", clients), (50, 95), target_p95=25)
    return rows


def memory(bench: Bench) -> list[Row]:
    loaded = bench.points()
    name = f"broker memory after loading {bench.sizes.points:,} entities"
    rows = [Row(name, loaded.memory.rss, "MB", bench.run.bare_rss_mb, higher_is_better=False, target=400),
            Row("broker memory, peak of each process summed", loaded.memory.peak, "MB", higher_is_better=False)]
    database = loaded.database_memory
    if database is not None:  # a database server: its own processes, beside the broker's
        rows += [Row("database server memory, RSS summed", database.rss, "MB", higher_is_better=False),
                 Row("database server memory, PSS summed", database.pss, "MB", higher_is_better=False)]
    return rows


@dataclass(frozen=True)
class Scenario:
    run: Callable[[Bench], list[Row]]
    # The bare round trips its limits need; memory needs the bare app only for its size,
    # taken after it served a little traffic.
    bare_needs: frozenset[BareNeed]


_GETS = frozenset(("GET", clients) for clients in QUERY_CLIENTS)
# In the order they run: the streetlight broker first, then the one with the points.
CORE_SCENARIOS: dict[str, Scenario] = {
    "upsert": Scenario(upsert, frozenset()),
    "retrieve": Scenario(retrieve, frozenset({("GET", MANY_CLIENTS)})),
    "query": Scenario(query, _GETS),
    "create": Scenario(create, frozenset({("POST", MANY_CLIENTS)})),
    "geo": Scenario(geo, _GETS),
    "memory": Scenario(memory, frozenset({("GET", 1)})),
}
