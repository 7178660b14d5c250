"""`territoires keys create|list|revoke` and `territoires members add|list|remove`, as an operator
types them; the key printed on the last line opens the API."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from territoires.app import create_app
from territoires.cli import main
from territoires.config import Settings


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_key_created_on_the_command_line_opens_the_api_until_revoked(tmp_path: Path, capsys):
    data = ["--data-dir", str(tmp_path / "var")]
    assert run(capsys, *data, "tenants", "create", "rennes")[0] == 0
    code, out, _ = run(capsys, *data, "keys", "create", "--tenant", "rennes", "--role", "editor", "--name", "SIG",
                       "--expires", "2099-06-01T00:00:00Z")
    assert code == 0
    *messages, token = out.splitlines()
    assert token.startswith("trk_") and len(token) == 4 + 12 + 1 + 52
    key_id = token.split("_")[1]
    assert f"clé d'API {key_id} créée : rôle editor, locataire rennes, expire le 2099-06-01" in messages[0]
    code, out, _ = run(capsys, *data, "keys", "create", "--role", "operator")
    operator = out.splitlines()[-1]
    assert code == 0 and "locataire (plateforme)" in out
    code, out, _ = run(capsys, *data, "keys", "create", "--tenant", "", "--role", "device")
    assert code == 0 and "locataire (défaut)" in out

    settings = Settings(data_dir=tmp_path / "var", notifications=False)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        editor = {"Authorization": f"Bearer {token}", "NGSILD-Tenant": "rennes"}
        created = client.post("/ngsi-ld/v1/entities", headers=editor,
                              json={"id": "urn:ngsi-ld:Streetlight:1", "type": "Streetlight"})
        assert created.status_code == 201, created.text
        listed = client.get("/admin/v1/keys", headers={"Authorization": f"Bearer {operator}"}).json()
        assert [key["createdBy"] for key in listed] == [f"cli:{getpass.getuser()}"] * 3

    code, out, _ = run(capsys, *data, "keys", "list", "--tenant", "rennes")
    assert out.splitlines() == [f"{key_id}\trennes\teditor\tSIG\tactive\tdernier usage "
                                f"{out.split('dernier usage ')[1].strip()}"]
    assert "jamais" not in out  # the use above was recorded
    code, out, _ = run(capsys, *data, "keys", "list")
    assert [line.split("\t")[1] for line in out.splitlines()] == ["rennes", "(plateforme)", "(défaut)"]
    code, out, _ = run(capsys, *data, "keys", "revoke", key_id)
    assert code == 0 and f"clé d'API {key_id} révoquée" in out
    assert "\trévoquée le " in run(capsys, *data, "keys", "list", "--tenant", "rennes")[1]

    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        refused = client.get("/ngsi-ld/v1/entities", params={"type": "Streetlight"},
                             headers={"Authorization": f"Bearer {token}", "NGSILD-Tenant": "rennes"})
        assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_bad_keys_are_refused_on_the_command_line_with_a_reason(tmp_path: Path, capsys):
    data = ["--data-dir", str(tmp_path / "var")]
    for args, hint in [
        (("--tenant", "rennes", "--role", "editor"), "does not exist"),
        (("--role", "editor"), "applies to a tenant"),
        (("--tenant", "_default", "--role", "operator"), "takes no tenant"),
        (("--tenant", "", "--role", "writer"), "role must be one of"),
        (("--tenant", "", "--role", "reader", "--expires", "2027-01-01"), "offset"),
    ]:
        code, out, err = run(capsys, *data, "keys", "create", *args)
        assert code == 1 and out == "" and err.startswith("erreur : ") and hint in err, (args, err)
    code, _, err = run(capsys, *data, "keys", "revoke", "abcdefghijkl")
    assert code == 1 and "abcdefghijkl" in err
    assert run(capsys, *data, "keys", "list")[1] == ""


def test_members_are_added_listed_and_removed(tmp_path: Path, capsys):
    data = ["--data-dir", str(tmp_path / "var")]
    run(capsys, *data, "tenants", "create", "rennes")
    code, out, _ = run(capsys, *data, "members", "add", "--tenant", "rennes", "--role", "admin",
                       "--email", "DSI@rennes.fr")
    assert code == 0 and "dsi@rennes.fr, rôle admin, locataire rennes" in out
    member_id = out.split()[1]
    code, out, _ = run(capsys, *data, "members", "add", "--role", "moderator", "--subject", "4b0c",
                       "--issuer", "https://auth.agentconnect.gouv.fr/api/v2")
    assert code == 0 and "locataire (plateforme)" in out
    code, out, _ = run(capsys, *data, "members", "list")
    rows = [line.split("\t") for line in out.splitlines()]
    assert rows == [
        [member_id, "rennes", "admin", "", "dsi@rennes.fr", "(tout émetteur)"],
        [rows[1][0], "(plateforme)", "moderator", "", "4b0c", "https://auth.agentconnect.gouv.fr/api/v2"],
    ]
    assert len(run(capsys, *data, "members", "list", "--tenant", "rennes")[1].splitlines()) == 1
    code, _, err = run(capsys, *data, "members", "add", "--tenant", "rennes", "--role", "reader", "--subject", "x")
    assert code == 1 and "issuer" in err
    assert run(capsys, *data, "members", "remove", member_id)[0] == 0
    code, _, err = run(capsys, *data, "members", "remove", member_id)
    assert code == 1 and member_id in err
    with pytest.raises(SystemExit):  # --email and --subject name the person one way or the other
        main([*data, "members", "add", "--tenant", "rennes", "--role", "reader", "--email", "a@b.fr",
              "--subject", "x"])
