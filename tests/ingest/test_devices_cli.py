"""`territoires devices add|import|list|delete` and `territoires ingest`, as an operator types them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from territoires.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_devices_are_added_imported_listed_and_deleted(tmp_path: Path, capsys):
    data = ["--data-dir", str(tmp_path / "var")]
    code, out, _ = run(capsys, *data, "devices", "add", "70b3d57ed0000001", "--entity-id",
                       "urn:ngsi-ld:Streetlight:1", "--decoder", "streetlight", "--name", "lampe 1")
    assert code == 0 and "70B3D57ED0000001 enregistré" in out
    devices = tmp_path / "devices.json"
    devices.write_text(json.dumps([
        {"devEui": f"70B3D57ED000000{n}", "entityId": f"urn:ngsi-ld:ParkingSpot:{n}", "decoder": "parking"}
        for n in (2, 3)]))
    assert run(capsys, *data, "devices", "import", str(devices))[1] == "2 appareils enregistrés\n"
    code, out, _ = run(capsys, *data, "devices", "list")
    assert [line.split("\t")[0] for line in out.splitlines()] == [
        "70B3D57ED0000001", "70B3D57ED0000002", "70B3D57ED0000003"]
    assert out.splitlines()[0].split("\t") == ["70B3D57ED0000001", "(défaut)", "streetlight",
                                               "urn:ngsi-ld:Streetlight:1", "lampe 1"]
    assert run(capsys, *data, "devices", "delete", "70B3D57ED0000002")[0] == 0
    code, _, err = run(capsys, *data, "devices", "delete", "70B3D57ED0000002")
    assert code == 1 and err.startswith("erreur : ") and "70B3D57ED0000002" in err
    code, _, err = run(capsys, *data, "devices", "add", "70B3D57ED0000009", "--entity-id", "urn:x:1",
                       "--decoder", "toaster")
    assert code == 1 and "toaster" in err


def test_ingest_without_an_mqtt_server_says_how_to_give_one(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.delenv("TERRITOIRES_MQTT_URL", raising=False)
    code, _, err = run(capsys, "--data-dir", str(tmp_path / "var"), "ingest")
    assert code == 2 and "TERRITOIRES_MQTT_URL" in err
    code, _, err = run(capsys, "--data-dir", str(tmp_path / "var"), "ingest", "--mqtt", "http://example.org")
    assert code == 2 and "mqtt://" in err
