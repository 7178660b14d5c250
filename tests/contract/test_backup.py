"""`territoires db backup` / `restore`: one file restores a tenant, or all, into either backend."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from territoires.cli import main
from territoires.ngsild.errors import BadRequestData
from territoires.store import backup
from territoires.store.port import Device, EntityQuery, Store, StoredContext
from territoires.store.sqlite import SqliteStore
from tests.contract.conftest import NOW, streetlight
from tests.contract.test_subscriptions_contract import subscription

CONTEXT = StoredContext("urn:ctx:lyon", "Hosted", {"@context": {"lampe": "https://example.org/lampe"}}, NOW)
LAMP_CONTROLLER = Device("0011223344556677", "lyon", "urn:ngsi-ld:Streetlight:0001",
                         "https://smartdatamodels.org/dataModel.Streetlighting/Streetlight", "streetlight",
                         "lampe 1", NOW, NOW)


def fill(store: Store) -> None:
    store.create_tenant("lyon")
    with store.session("lyon", write=True) as session:
        session.insert([streetlight(n) for n in range(2500, 0, -1)])  # creation order != id order
        session.put_context(CONTEXT)
        session.put_subscription(subscription(1))
    store.put_device(LAMP_CONTROLLER)
    with store.session("", write=True) as session:
        session.insert([streetlight(9999)])


def content(store: Store, tenant: str) -> tuple[list[dict], list[StoredContext], list, list[Device]]:
    with store.session(tenant) as session:
        return (session.query(EntityQuery(limit=5000)).entities, session.list_contexts(),
                session.query_subscriptions()[0], store.list_devices(tenant=tenant)[0])


def entities(reports: dict[str | None, backup.Report]) -> dict[str | None, int]:
    return {tenant: report.entities for tenant, report in reports.items()}


@pytest.mark.parametrize("name", ["all.jsonl", "all.jsonl.gz"])
def test_a_backup_of_every_tenant_restores_into_the_other_backend(store, tmp_path: Path, name: str):
    fill(store)
    path = tmp_path / name
    saved = backup.backup(store, path, ["", *store.tenants()])
    assert entities(saved) == {"": 1, "lyon": 2500}
    if name.endswith(".gz"):
        with gzip.open(path) as lines:
            assert lines.readline().startswith(b'{"format":"territoires-backup"')
    target = SqliteStore(tmp_path / "restored")
    try:
        assert entities(backup.restore(target, path)) == {"": 1, "lyon": 2500}
        assert target.tenants() == ["lyon"]
        for tenant in ("", "lyon"):
            assert content(target, tenant) == content(store, tenant)  # creation order kept
        # Restoring again replaces rather than duplicates.
        assert entities(backup.restore(target, path, only="lyon")) == {"lyon": 2500}
        assert content(target, "lyon") == content(store, "lyon")
    finally:
        target.close()


def test_one_tenant_is_restored_into_the_backend_under_test(store, tmp_path: Path):
    source = SqliteStore(tmp_path / "source")
    try:
        fill(source)
        path = tmp_path / "lyon.jsonl"
        backup.backup(source, path, ["lyon"])
        assert entities(backup.restore(store, path)) == {"lyon": 2500}
        assert content(store, "lyon") == content(source, "lyon")
        with store.session("") as session:
            assert session.query(EntityQuery(count=True)).count == 0
    finally:
        source.close()


def test_a_file_that_is_not_a_backup_is_refused(store, tmp_path: Path):
    path = tmp_path / "other.jsonl"
    path.write_text('{"hello": "world"}\n')
    with pytest.raises(BadRequestData, match="not a territoires-backup"):
        backup.restore(store, path)
    path.write_text('{"format": "territoires-backup", "version": 1}\nnot json\n')
    with pytest.raises(BadRequestData, match="line 2 is not JSON"):
        backup.restore(store, path)


def test_the_cli_backs_up_and_restores_one_tenant(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.delenv("TERRITOIRES_DATABASE_URL", raising=False)
    source = SqliteStore(tmp_path / "source")
    fill(source)
    source.close()
    path = tmp_path / "lyon.jsonl.gz"
    assert main(["--data-dir", str(tmp_path / "source"), "db", "backup", str(path), "--tenant", "lyon"]) == 0
    assert main(["--data-dir", str(tmp_path / "copy"), "db", "restore", str(path)]) == 0
    assert "lyon\t2500 entités\t0 instances d'historique" in capsys.readouterr().out
    copy = SqliteStore(tmp_path / "copy")
    try:
        assert copy.tenants() == ["lyon"]
        assert len(content(copy, "lyon")[0]) == 2500
    finally:
        copy.close()
