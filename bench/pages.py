"""Page rendering benchmark (issue 4): a project's record page, ``GET /observatoire/projets/{id}``,
rendered server-side by a real `territoires serve` (authentication on, read anonymously: the
public's view), with keep-alive clients.

The records are the observatory's seed (``territoires observatoire seed``: 17 publicly documented
projects, real ones). Each page reads the record, its history, its similar projects and the
territory registry, then renders the template. The 100,000 synthetic records of
``bench.observatoire`` are text-index documents, not project entities, so they are not reused.

Figures, each with its limit measured in the same run on the same server, same clients:
- page p50 and p95 (target p95 ≤ 50 ms), against ``GET /health`` (a bare route through the same
  HTTP stack and enforcement point: what no page of this server can beat).

``bench.catalog`` lists ``pages``.
"""

from __future__ import annotations

import os
import subprocess
import sys

from bench.load import build_request
from bench.ngsi import FOUND, cycling
from bench.report import Row
from bench.scenarios import Bench
from bench.server import start_broker
from territoires.observatoire.seed import seed_records

CLIENTS = 4


def pages(bench: Bench) -> list[Row]:
    name = bench.backend.name
    env = {**bench.backend.store_env("pages"), "TERRITOIRES_AUTH": "1"}
    data_dir = bench.run.work_dir / f"{name}-pages"
    bench.run.log("  seeding the observatory (territoires observatoire seed)")
    subprocess.run([sys.executable, "-m", "territoires.cli", "observatoire", "--data-dir", str(data_dir), "seed"],
                   env={**os.environ, **env}, check=True, capture_output=True)
    bench.backend.settle("pages")
    slugs = [record["id"] for record in seed_records()]
    server = start_broker(data_dir, bench.run.workers, bench.run.work_dir, env=env)
    try:
        requests = [build_request("GET", f"/observatoire/projets/{slug}", headers={"Accept": "text/html"})
                    for slug in slugs]
        page = bench.measure("pages: project record", server, cycling(requests), CLIENTS, FOUND)
        bare = bench.measure("pages: GET /health", server, cycling([build_request("GET", "/health")]), CLIENTS, FOUND)
    finally:
        server.stop()
    label = f"{name} pages: a project's record page rendered server-side ({len(slugs)} seeded records, {CLIENTS} clients)"
    return [Row(f"{label}, p50", page.percentile_ms(50), "ms", bare.percentile_ms(50), higher_is_better=False),
            Row(f"{label}, p95", page.percentile_ms(95), "ms", bare.percentile_ms(95), higher_is_better=False,
                target=50)]
