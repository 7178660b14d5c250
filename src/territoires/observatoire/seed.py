"""Seed content: the publicly documented projects of shared/facts/projects.csv.

``data/projects-seed.json`` was written by hand from that table: each record holds only what
the table states (translated into French), its source link and
``provenance.seededFromPublicSources``; the carrier's SIREN and the territories' codes come from
the territory registry. Loading is idempotent: a record already present, perhaps edited since by
its territory or a moderator, is kept as it is. Seeded records are published (public facts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import orjson

from territoires.auth.principal import Grant, Principal, Role
from territoires.broker import Broker
from territoires.broker.actor import Actor, acting
from territoires.ngsild.errors import ResourceNotFound
from territoires.observatoire.projects import ProjectService

# Who the seed acts as: a moderator, so that its records are published directly.
SEEDER = Principal(kind="cli", subject="seed", grants=(Grant(Role.MODERATOR),),
                   name="amorçage depuis des sources publiques")


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def seed_records() -> list[dict[str, Any]]:
    """The records of the seed file, as the project service takes them."""
    raw = (resources.files(__package__) / "data" / "projects-seed.json").read_bytes()
    return orjson.loads(raw)["projects"]


def load_seed(projects: ProjectService) -> SeedReport:
    """Create the seed records missing from the observatory; keep those present. The Territory
    and Organisation entities of every record (created ones make theirs) are written if missing."""
    report = SeedReport()
    kept = []
    for record in seed_records():
        try:
            kept.append(projects.get(SEEDER, record["id"]))
        except ResourceNotFound:
            created = projects.create(SEEDER, {**record, "moderation": "published"})
            report.created.append(created["id"])
        else:
            report.kept.append(record["id"])
    projects.materialise(kept)  # records seeded by a release that did not write these entities yet
    return report


def command(broker: Broker) -> int:
    """``territoires observatoire seed``: load the seed and say what it did, in French."""
    with acting(Actor(kind="cli", subject="observatoire seed", name=SEEDER.name)):
        report = load_seed(ProjectService(broker))
    print(f"observatoire : {len(report.created)} projet(s) amorcé(s), {len(report.kept)} déjà présent(s) "
          "et laissé(s) tel(s) quel(s)")
    return 0


def territories_command(broker: Broker, *, everything: bool) -> int:
    """``territoires observatoire territories [--all]``: write the Territory and Organisation
    entities of the records (with ``--all``, every territory of the registry), saying how far it got."""

    def progress(done: int, total: int) -> None:
        print(f"observatoire : {done} territoire(s) sur {total} traité(s)", flush=True)

    with acting(Actor(kind="cli", subject="observatoire territories", name=SEEDER.name)):
        written = ProjectService(broker).materialise_territories(everything=everything, progress=progress)
    print(f"observatoire : {written} entité(s) Territory ou Organisation écrite(s), les autres étaient à jour")
    return 0
