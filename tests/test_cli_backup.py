"""`territoires db backup` / `db restore` as an operator runs them (issue 5): after moving a
platform from SQLite into the backend under test, its keys still open the API, its public types
stay open, its history answers, and the observatory's French search finds its projects again."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from territoires.app import create_app
from territoires.auth.keys import KeyService
from territoires.auth.principal import ANONYMOUS
from territoires.broker import open_broker
from territoires.cli import main
from territoires.config import Settings
from territoires.observatoire.project_filters import ProjectFilters
from territoires.observatoire.projects import TENANT, ProjectService
from territoires.observatoire.seed import load_seed
from territoires.store.sqlite import SqliteStore
from tests import postgres
from tests.contract.test_backup_history import GONE, fill

NGSI = "/ngsi-ld/v1"


@pytest.fixture(params=postgres.BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings of the platform restored into, on each backend."""
    url = postgres.fresh_database() if request.param == "postgres" else ""
    return Settings(data_dir=tmp_path / "target", database_url=url, notifications=False)


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], settings: Settings,
        *args: str) -> tuple[str, str]:
    """The command on the platform of ``settings``, as its environment names it."""
    if settings.database_url:
        monkeypatch.setenv("TERRITOIRES_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("TERRITOIRES_DATABASE_URL", raising=False)
    assert main(["--data-dir", str(settings.data_dir), "db", *args]) == 0
    return capsys.readouterr()


def test_a_restored_platform_keeps_its_keys_public_types_and_history(target: Settings, tmp_path: Path,
                                                                      monkeypatch, capsys):
    source = Settings(data_dir=tmp_path / "source")
    store = SqliteStore(source.data_dir)
    try:
        tokens = fill(store, "lyon")
        _, operator = KeyService(store).create(None, "operator", "exploitation")
    finally:
        store.close()
    path = tmp_path / "plateforme.jsonl.gz"
    _, err = run(monkeypatch, capsys, source, "backup", str(path))
    assert "lyon : 3 entités, 4013 instances d'historique" in err
    out, err = run(monkeypatch, capsys, target, "restore", str(path))
    assert "lyon : 3 entités, 4013 instances d'historique" in err
    assert "(plateforme)\t0 entités\t0 instances d'historique\t0 entités supprimées à l'historique gardé\t1 clés" in out
    assert ("lyon\t3 entités\t4013 instances d'historique\t1 entités supprimées à l'historique gardé\t2 clés d'API\t"
            "1 membres\t2401 enregistrements d'audit") in out

    with TestClient(create_app(target), raise_server_exceptions=False) as client:
        editor = {"Authorization": f"Bearer {tokens['editor']}", "NGSILD-Tenant": "lyon"}
        lamps = client.get(f"{NGSI}/entities", params={"type": "Streetlight"}, headers=editor)
        assert lamps.status_code == 200 and len(lamps.json()) == 3
        kept = client.get(f"{NGSI}/temporal/entities/{GONE}", headers=editor)
        assert kept.status_code == 200 and [i["value"] for i in kept.json()["dimmingLevel"]] == [12.5], kept.text
        anonymous = client.get(f"{NGSI}/entities", params={"type": "Streetlight"}, headers={"NGSILD-Tenant": "lyon"})
        assert anonymous.status_code == 200 and len(anonymous.json()) == 3  # a public type, still
        keys = client.get("/admin/v1/keys", headers={"Authorization": f"Bearer {operator}"})
        assert keys.status_code == 200 and len(keys.json()) == 3
        wrong = client.get(f"{NGSI}/entities", params={"type": "Streetlight"},
                           headers={**editor, "Authorization": f"Bearer {tokens['editor'][:-1]}x"})
        assert wrong.status_code == 401


def test_the_observatory_search_works_after_a_restore(target: Settings, tmp_path: Path, monkeypatch, capsys):
    source = Settings(data_dir=tmp_path / "source")
    broker = open_broker(source)
    try:
        load_seed(ProjectService(broker))
        wanted = ProjectFilters.of({"q": "éclairage intelligent"})
        found = ProjectService(broker).list(ANONYMOUS, wanted, limit=100).projects
    finally:
        broker.close()
    assert found and all("public-lighting" in p["domains"] for p in found)
    path = tmp_path / "observatoire.jsonl"
    run(monkeypatch, capsys, source, "backup", str(path), "--tenant", TENANT)
    out, _ = run(monkeypatch, capsys, target, "restore", str(path))
    assert out.startswith(f"{TENANT}\t")
    broker = open_broker(target)
    try:
        again = ProjectService(broker).list(ANONYMOUS, wanted, limit=100).projects
    finally:
        broker.close()
    assert sorted(p["id"] for p in again) == sorted(p["id"] for p in found)  # each backend ranks its own way
