"""The `territoires` command raises its open-files limit: the embedded store keeps several
descriptors open per tenant, past the usual soft limit of 1,024 from about 140 tenants."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path


def test_many_tenants_of_the_embedded_store_fit_under_a_low_soft_limit(tmp_path: Path) -> None:
    script = """
import resource, sys
from territoires.cli import main
from territoires.store.port import EntityQuery
from territoires.store.sqlite import SqliteStore
main(["--data-dir", sys.argv[1], "tenants", "list"])
store = SqliteStore(sys.argv[1])
lamp = {"type": ["urn:x:Streetlight"], "createdAt": "2026-11-29T10:00:00Z", "modifiedAt": "2026-11-29T10:00:00Z",
        "attrs": {}}
for n in range(300):  # about 2,200 descriptors once each tenant is written and read
    store.create_tenant(f"commune-{n}")
    with store.session(f"commune-{n}", write=True) as session:
        session.insert([{"id": f"urn:ngsi-ld:Streetlight:{n}", **lamp}])
    with store.session(f"commune-{n}") as session:
        assert len(session.query(EntityQuery()).entities) == 1
print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(256, hard)

    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))

    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], preexec_fn=lower, check=False,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.strip().splitlines()[-1]) == (hard if hard != resource.RLIM_INFINITY else 65_536)
