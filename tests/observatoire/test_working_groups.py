"""Working groups through the real broker (SQLite files, PostgreSQL when configured): who
creates, animates and joins, meetings, links and members, and the refusals of bad input."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from territoires.auth.errors import Forbidden, Unauthenticated
from territoires.auth.principal import ANONYMOUS, Grant, Principal, Role
from territoires.broker import open_broker
from territoires.config import Settings
from territoires.ngsild.errors import AlreadyExists, BadRequestData, ResourceNotFound
from territoires.observatoire.working_groups import MAX_DESCRIPTION, WorkingGroupService
from tests import postgres

MODERATOR = Principal("key", "k-mod", (Grant(Role.MODERATOR),), name="Équipe nationale")
DIJON = Principal("key", "k-dijon", (Grant(Role.CONTRIBUTOR, scope="commune:21231"),), name="Ville de Dijon")
RENNES = Principal("key", "k-rennes", (Grant(Role.CONTRIBUTOR, scope="commune:35238"),), name="Ville de Rennes")
EDITOR = Principal("key", "k-editor", (Grant(Role.EDITOR, tenant="dijon"),), name="Éditeur d'un locataire")


@pytest.fixture(params=postgres.BACKENDS)
def groups(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WorkingGroupService]:
    url = postgres.fresh_database() if request.param == "postgres" else ""
    broker = open_broker(Settings(data_dir=tmp_path / "var", database_url=url))
    yield WorkingGroupService(broker)
    broker.close()


def water_group(groups: WorkingGroupService, **fields: Any) -> dict[str, Any]:
    return groups.create(DIJON, {"title": "Détection des fuites d'eau", "useCases": ["leak-detection"],
                                 "domains": ["water"], "description": "Partager cahiers des charges et retours.",
                                 **fields})


def refused(call: Any, *args: Any) -> str:
    with pytest.raises(BadRequestData) as caught:
        call(*args)
    return caught.value.detail


def test_a_contributor_creates_a_group_and_animates_it(groups: WorkingGroupService) -> None:
    group = water_group(groups)
    assert group["id"] == "urn:ngsi-ld:WorkingGroup:detection-des-fuites-d-eau"
    assert group["members"] == [{"id": "urn:ngsi-ld:Territory:commune:21231", "name": "Dijon", "role": "animateur"}]
    assert (group["meetings"], group["links"]) == ([], [])
    assert group["createdBy"] == {"role": "contributor", "scope": "commune:21231"}  # no name for the public
    assert groups.get(MODERATOR, group["id"])["createdBy"]["name"] == "Ville de Dijon"
    assert groups.get(ANONYMOUS, "detection-des-fuites-d-eau")["title"] == "Détection des fuites d'eau"
    view = groups.view(DIJON, group["id"])
    assert view.animates and view.joinable == []
    view = groups.view(RENNES, group["id"])
    assert not view.animates and view.joinable == ["urn:ngsi-ld:Territory:commune:35238"]
    assert water_group(groups)["id"].endswith("detection-des-fuites-d-eau-2")
    changed = groups.update(DIJON, group["id"], {"title": "Fuites d'eau", "description": None})
    assert changed["title"] == "Fuites d'eau" and "description" not in changed


def test_who_may_create(groups: WorkingGroupService) -> None:
    with pytest.raises(Unauthenticated):
        groups.create(ANONYMOUS, {"title": "Groupe"})
    with pytest.raises(Forbidden, match="created by a contributor of a territory or a moderator"):
        groups.create(EDITOR, {"title": "Groupe"})
    by_moderator = groups.create(MODERATOR, {"title": "Hyperviseurs"})
    assert by_moderator["members"] == [] and by_moderator["createdBy"]["name"] == "Équipe nationale"
    assert groups.get(ANONYMOUS, by_moderator["id"])["createdBy"] == {"role": "moderator"}
    assert groups.view(MODERATOR, by_moderator["id"]).animates


def test_meetings_links_and_members(groups: WorkingGroupService) -> None:
    gid = water_group(groups)["id"]
    groups.add_meeting(DIJON, gid, {"date": "2026-05-20T14:00+02:00", "title": "Retours d'expérience",
                                    "link": "https://visio.example.fr/fuites", "minutes": "https://example.fr/cr.pdf"})
    group = groups.add_meeting(DIJON, gid, {"date": "2026-03-12", "title": "Lancement", "place": "Mairie de Dijon"})
    assert [(m["id"], m["date"]) for m in group["meetings"]] == [("2", "2026-03-12"), ("1", "2026-05-20T14:00+02:00")]
    group = groups.add_link(DIJON, gid, {"title": "Cahier des charges", "url": "https://example.fr/cctp.pdf"})
    assert group["links"] == [{"id": "1", "title": "Cahier des charges", "url": "https://example.fr/cctp.pdf"}]
    # Rennes joins; it may not add others nor animate.
    group = groups.add_member(RENNES, gid, {"member": "commune:35238"})
    assert group["members"][-1] == {"id": "urn:ngsi-ld:Territory:commune:35238", "name": "Rennes", "role": "membre"}
    with pytest.raises(AlreadyExists, match="Rennes is already a member"):
        groups.add_member(RENNES, gid, {"member": "commune:35238"})
    with pytest.raises(Forbidden, match="only an animateur of the group adds members"):
        groups.add_member(RENNES, gid, {"member": "commune:29019"})
    with pytest.raises(Forbidden, match="only an animateur of the group adds members"):
        groups.add_member(RENNES, gid, {"member": "commune:35238", "role": "animateur"})
    with pytest.raises(Forbidden, match="only an animateur"):
        groups.add_meeting(RENNES, gid, {"date": "2026-06-01", "title": "Réunion"})
    with pytest.raises(Unauthenticated):
        groups.add_member(ANONYMOUS, gid, {"member": "commune:35238"})
    # The animateur adds an organisation and a second animateur, who then animates.
    group = groups.add_member(DIJON, gid, {"member": "organisation:212102313", "name": "Commune de Dijon (SIREN)"})
    group = groups.add_member(DIJON, gid, {"member": "commune:29019", "role": "animateur"})
    brest = Principal("key", "k-brest", (Grant(Role.CONTRIBUTOR, scope="commune:29019"),))
    assert groups.view(brest, gid).animates
    groups.remove_link(brest, gid, "1")
    group = groups.remove_meeting(brest, gid, "2")
    assert [m["title"] for m in group["meetings"]] == ["Retours d'expérience"] and group["links"] == []
    with pytest.raises(ResourceNotFound, match="the group has no meeting '9'"):
        groups.remove_meeting(DIJON, gid, "9")
    # Rennes withdraws itself; it could not remove another member.
    with pytest.raises(Forbidden):
        groups.remove_member(RENNES, gid, "organisation:212102313")
    group = groups.remove_member(RENNES, gid, "commune:35238")
    assert [m["name"] for m in group["members"]] == ["Dijon", "Commune de Dijon (SIREN)", "Brest"]
    with pytest.raises(ResourceNotFound, match="commune:35238 is not a member"):
        groups.remove_member(DIJON, gid, "commune:35238")
    with pytest.raises(Forbidden):
        groups.delete(RENNES, gid)
    groups.delete(DIJON, gid)
    with pytest.raises(ResourceNotFound, match="no working group urn:ngsi-ld:WorkingGroup:detection-des-fuites"):
        groups.get(ANONYMOUS, gid)


def test_changes_made_at_once_all_last(groups: WorkingGroupService) -> None:
    """Communes joining and meetings added at the same moment: each change applies to the group
    as stored when it is written, so none overwrites another."""
    gid = water_group(groups)["id"]
    communes = ["35238", "29019", "21054", "21166", "21370", "21473", "21515", "21617"]

    def join(code: str) -> None:
        groups.add_member(Principal("key", f"k-{code}", (Grant(Role.CONTRIBUTOR, scope=f"commune:{code}"),)),
                          gid, {"member": f"commune:{code}"})

    def meet(day: int) -> None:
        groups.add_meeting(DIJON, gid, {"date": f"2026-04-{day:02d}", "title": f"Réunion {day}"})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(join, communes))
        list(pool.map(meet, range(1, 29)))
    group = groups.get(MODERATOR, gid)
    assert {m["id"] for m in group["members"]} >= {f"urn:ngsi-ld:Territory:commune:{code}" for code in communes}
    assert [m["title"] for m in group["meetings"]] == [f"Réunion {day}" for day in range(1, 29)]


def test_bad_input_is_refused_precisely(groups: WorkingGroupService) -> None:
    gid = water_group(groups)["id"]
    meeting = {"date": "2026-03-12", "title": "Lancement"}
    assert refused(groups.add_link, DIJON, gid, {"title": "FTP", "url": "ftp://example.fr/a"}) == (
        "url: 'ftp://example.fr/a' has scheme 'ftp'; only http:// and https:// links are accepted")
    assert "has scheme 'javascript'" in refused(groups.add_link, DIJON, gid, {"title": "x", "url": "javascript:alert(1)"})
    assert "has no scheme" in refused(groups.add_link, DIJON, gid, {"title": "x", "url": "example.fr"})
    assert refused(groups.add_meeting, DIJON, gid, {**meeting, "date": "12/03/2026"}).startswith(
        "date: '12/03/2026' is not an ISO 8601 date (YYYY-MM-DD)")
    assert refused(groups.add_meeting, DIJON, gid, {**meeting, "date": "2026-02-30"}) == (
        "date: '2026-02-30' is not a date of the calendar")
    assert "minutes: 'file:///cr.pdf' has scheme 'file'" in refused(
        groups.add_meeting, DIJON, gid, {**meeting, "minutes": "file:///cr.pdf"})
    assert refused(groups.add_member, DIJON, gid, {"member": "commune:21999"}).startswith(
        "member.member: no commune has code 21999 in the territory registry")
    assert "is not a SIREN" in refused(groups.add_member, DIJON, gid, {"member": "organisation:212102314", "name": "x"})
    assert refused(groups.add_member, DIJON, gid, {"member": "organisation:212102313"}) == (
        "member.name: a non-empty text is expected")
    assert "'chef' is not a role" in refused(groups.add_member, DIJON, gid, {"member": "commune:35238", "role": "chef"})
    assert refused(groups.create, DIJON, {"title": "x" * 201}) == "title: 201 characters, at most 200 are accepted"
    assert refused(groups.update, DIJON, gid, {"description": "x" * (MAX_DESCRIPTION + 1)}) == (
        f"description: {MAX_DESCRIPTION + 1} characters, at most {MAX_DESCRIPTION} are accepted")
    assert refused(groups.create, DIJON, {"title": "T", "useCases": ["fuites"]}).startswith(
        "useCases[0]: 'fuites' is not a known useCases code")
    assert refused(groups.create, DIJON, {"title": "T", "members": []}).startswith("unknown field(s) members")
    assert refused(groups.create, DIJON, {"description": "Sans titre"}) == "title: a working group needs a title"


def test_listing_pages_and_filters(groups: WorkingGroupService) -> None:
    water_group(groups)
    groups.create(RENNES, {"title": "Hyperviseurs", "useCases": ["hypervision"]})
    groups.create(MODERATOR, {"title": "Éclairage", "domains": ["public-lighting"]})
    page = groups.list(ANONYMOUS, limit=2)
    assert page.total == 3 and [g["title"] for g in page.groups] == ["Détection des fuites d'eau", "Hyperviseurs"]
    assert [g["title"] for g in groups.list(ANONYMOUS, offset=2).groups] == ["Éclairage"]
    assert [g["title"] for g in groups.list(ANONYMOUS, use_case="hypervision").groups] == ["Hyperviseurs"]
    assert groups.list(ANONYMOUS, domain="public-lighting").total == 1
    with pytest.raises(BadRequestData, match="useCase: 'x' is not a known useCases code"):
        groups.list(ANONYMOUS, use_case="x")
