"""Maturity peer-comparison benchmark (issue 4): the distribution of levels per axis among the
published diagnostics of a commune's peers, with 35,000 diagnostics stored (5,000 with ``--quick``).

The diagnostics are SYNTHETIC: one per territory of the registry (every commune, then EPCI
up to the count), with random levels per axis, all published, written as real
``MaturityAssessment`` entities through the broker's batch create (so the text indexer
indexes them as it would a submission); they describe no real territory's maturity.

Figures, with their limit measured in the same run on the same database:
- ``AssessmentService.peers`` for Rennes (11 peers) and for a commune of the widest band
  (p50, p95; target ≤ 100 ms), the whole call: registry look-up, reading the commune's own
  diagnostic, reading the ``peers`` tally (counts the store keeps at each write);
- against one search counting the same documents (same filters) without any facet, straight
  through the store's session: what counting the peers at each read would cost at least.

``bench.catalog`` lists ``maturity``.
"""

from __future__ import annotations

import random
import statistics
import time

from bench.report import Row
from bench.scenarios import QUICK, Bench
from territoires.auth.principal import ANONYMOUS, Grant, Principal, Role
from territoires.broker import open_broker
from territoires.broker.text_index import MATURITY
from territoires.config import Settings
from territoires.ngsild.errors import AlreadyExists
from territoires.observatoire import maturity
from territoires.observatoire.assessments import AssessmentService
from territoires.observatoire.projects import TENANT
from territoires.observatoire.registry import TerritoryRegistry
from territoires.store.port import TextSearch

BATCH = 500
CALLS = 300  # timed calls per commune (100 with --quick)
ASKER = ("commune", "35238")  # Rennes: its band (200,000 and more) holds 11 communes
WIDE = ("commune", "35002")   # Amanlis, of the commonest band (under 3,500): the most peers


def maturity_peers(bench: Bench, count: int | None = None) -> list[Row]:
    count = count or (5_000 if bench.sizes == QUICK else 35_000)
    name = bench.backend.name
    env = bench.backend.store_env("maturity")
    settings = Settings(data_dir=bench.run.work_dir / "maturity-sqlite", database_url=env["TERRITOIRES_DATABASE_URL"],
                        database_upgrade=True)
    broker = open_broker(settings)
    try:
        registry = TerritoryRegistry.load()
        service = AssessmentService(broker, registry)
        bench.run.log(f"  storing {count:,} synthetic published diagnostics")
        _load(service, registry, count)
        if name != "sqlite":
            bench.backend.settle("maturity")
        rows: list[Row] = []
        for kind, code in (ASKER, WIDE):
            territory = registry.get(kind, code)
            moderator = Principal("bench", "bench", (Grant(Role.MODERATOR),))
            service.submit(moderator, kind, code, maturity.answers_meeting({"A1": 3}))
            peers_ms, bare_ms, total = [], [], 0
            bare = TextSearch(MATURITY.entity_type, limit=0, filters={
                "territoryKind": (territory.kind,), "populationBand": (territory.band or "",), "published": ("true",)})
            calls = CALLS if bench.sizes != QUICK else 100
            for _ in range(calls):
                started = time.perf_counter()
                total = service.peers(ANONYMOUS, kind, code)["total"]
                peers_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                with broker.store.session(TENANT) as session:
                    session.text_search(bare)
                bare_ms.append((time.perf_counter() - started) * 1000)
            label = (f"{name} maturity: peers of {territory.name} ({total:,} published peers among {count:,} "
                     "synthetic diagnostics)")
            rows += [Row(f"{label}, p50", _p(peers_ms, 50), "ms", _p(bare_ms, 50), higher_is_better=False),
                     Row(f"{label}, p95", _p(peers_ms, 95), "ms", _p(bare_ms, 95), higher_is_better=False, target=100)]
        return rows
    finally:
        broker.close()


def _load(service: AssessmentService, registry: TerritoryRegistry, count: int) -> None:
    """``count`` published diagnostics with random levels: every commune first, then EPCI."""
    rng = random.Random(6)
    axes = maturity.axis_ids()
    territories = [t for kind in ("commune", "epci") for t in registry.territories(kind)][:count]
    try:
        service.broker.tenants.create(TENANT)
    except AlreadyExists:
        pass
    for start in range(0, len(territories), BATCH):
        bodies = []
        for territory in territories[start:start + BATCH]:
            answers = maturity.answers_meeting({axis: rng.choice((1, 1, 2, 2, 3, 3, 4, 5)) for axis in axes})
            bodies.append(service.entity_body(territory, answers, True, "2026-01-15T00:00:00.000000Z"))
        result = service.broker.entities.batch_create(TENANT, bodies, [service.context] * len(bodies))
        if result.errors:
            raise RuntimeError(f"synthetic diagnostics refused: {result.errors[:3]}")


def _p(samples: list[float], percentile: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[percentile - 1]
