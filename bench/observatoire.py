"""Observatory search benchmark (issue 4): French full-text search with two facets over 100,000
project records (20,000 with ``--quick``), through the storage port's text index.

The records are SYNTHETIC: made up here from a dozen use cases, French sentences and codes, as
the broker's text indexer would index them (``broker.text_index.PROJECTS``); they describe no
real project. Each query is a French text from a pool ("éclairage intelligent", "compteurs
d'eau"…), filtered on two facets (status among two values, one région) and counting the values
of those two facets, a page of 20.

Figures, each with its limit measured in the same run on the same database:
- indexing rate (records/s), through ``index_documents`` in batches of 1,000 (no limit);
- search p50 and p95 (target p95 ≤ 30 ms), each query in its own read session, against the
  bare ranked full-text statement for the same text on the same tables (the FTS5 MATCH, or the
  tsquery, ordered by rank, 20 rows: no filter, no count, no facet).

``bench.catalog`` lists ``observatoire``.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import time
from collections.abc import Iterator

import psycopg

from bench.report import Row
from bench.scenarios import QUICK, Bench
from territoires.broker.text_index import PROJECTS
from territoires.store.port import Store, TextDocument, TextSearch
from territoires.store.postgres import PostgresStore
from territoires.store.sqlite import SqliteStore
from territoires.store.text_common import fts5_query, parse_query

BATCH = 1000
QUERIES = 300  # timed searches (100 with --quick)
TENANT = ""  # the default tenant: its SQLite file has a known name, for the bare statement

# (domain, title, words of its descriptions): what the synthetic records are about.
USE_CASES = [
    ("public-lighting", "Éclairage public intelligent", "lampadaires LED abaissement nocturne détecteurs de présence"),
    ("water", "Compteurs d'eau communicants", "télérelève des compteurs consommation abonnés facturation"),
    ("water", "Détection des fuites du réseau d'eau potable", "capteurs acoustiques pression rendement du réseau"),
    ("waste", "Capteurs de remplissage des colonnes", "tournées de collecte verre emballages taux de remplissage"),
    ("mobility-parking", "Guidage vers les places de stationnement", "capteurs au sol places libres panneaux"),
    ("air-noise", "Qualité de l'air intérieur des écoles", "dioxyde de carbone aération salles de classe"),
    ("building-energy", "Suivi énergétique des bâtiments communaux", "chauffage consommation gymnases mairie"),
    ("risks", "Surveillance des crues et des ruissellements", "hauteur d'eau alertes rivières pluviomètres"),
    ("administration-data", "Portail de données ouvertes", "jeux de données publication catalogue licence"),
    ("administration-data", "Hyperviseur des services urbains", "tableau de bord supervision indicateurs"),
    ("participation", "Budget participatif en ligne", "habitants votes propositions concertation"),
    ("tourism", "Mesure de la fréquentation touristique", "visiteurs comptage plages sentiers affluence"),
]
SENTENCES = [
    "Le projet a été porté par la collectivité avec l'appui du syndicat départemental.",
    "Les données sont publiées sous Licence Ouverte sur le portail régional.",
    "Un marché public a permis de choisir l'intégrateur après un appel d'offres.",
    "Les capteurs communiquent par un réseau LoRaWAN mutualisé entre les communes.",
    "L'expérimentation a duré dix-huit mois avant le déploiement à l'échelle du territoire.",
    "Les agents des services techniques consultent les alertes sur une application mobile.",
    "Le financement associe la DSIL, le FEDER et le budget propre de la commune.",
    "Les économies mesurées ont été comparées à l'année de référence.",
    "La plateforme respecte les standards NGSI-LD et les Smart Data Models.",
    "Les habitants ont été associés lors de réunions publiques.",
    "La maintenance est assurée par la régie avec un contrat de performance.",
    "Les enseignements ont été partagés avec les territoires voisins.",
]
CODES = {
    "status": ("idea", "study", "pilot", "partial-deployment", "deployed", "abandoned"),
    "carrierKind": ("commune", "communaute-de-communes", "communaute-d-agglomeration", "metropole", "departement",
                    "region", "syndicat", "sem-spl"),
    "populationBand": ("lt3500", "3500-10000", "10000-20000", "20000-50000", "50000-100000", "100000-200000",
                       "gt200000"),
    "region": ("11", "24", "27", "28", "32", "44", "52", "53", "75", "76", "84", "93", "94"),
    "connectivity": ("lorawan", "sigfox", "nb-iot", "fibre", "4g-5g"),
}
SEARCHES = ["éclairage intelligent", "compteurs d'eau", "détection des fuites", "capteurs de remplissage",
            "stationnement", "qualité de l'air", "suivi énergétique", "crues", "données ouvertes", "hyperviseur",
            "budget participatif", "fréquentation touristique", "LoRaWAN mutualisé", "télérelève"]


def observatoire(bench: Bench, records: int | None = None) -> list[Row]:
    count = records or (20_000 if bench.sizes == QUICK else 100_000)
    name = bench.backend.name
    target = _Target(bench)
    try:
        bench.run.log(f"  indexing {count:,} synthetic project records")
        rate = _index(target.store, count)
        if not target.sqlite:
            bench.backend.settle("observatoire")
        rng = random.Random(4)
        searches = [_search(rng) for _ in range(QUERIES if bench.sizes != QUICK else 100)]
        timed, bare, found = [], [], 0
        for search in searches:
            started = time.perf_counter()
            with target.store.session(TENANT) as session:
                result = session.text_search(search)
            timed.append((time.perf_counter() - started) * 1000)
            found += bool(result.ids)
            bare.append(target.bare_ms(search.text or ""))
        if not found:
            bench.note(f"{name} observatoire: every search answered an empty page")
    finally:
        target.close()
    label = f"{name} observatoire: French search + 2 facets over {count:,} synthetic records"
    return [
        Row(f"{name} observatoire: indexing {count:,} synthetic records, records/s", rate, "/s"),
        Row(f"{label}, p50", _p(timed, 50), "ms", _p(bare, 50), higher_is_better=False),
        Row(f"{label}, p95", _p(timed, 95), "ms", _p(bare, 95), higher_is_better=False, target=30),
    ]


class _Target:
    """The store under test, and bare access to the same database for the limit."""

    def __init__(self, bench: Bench) -> None:
        work = bench.run.work_dir
        self.sqlite = bench.backend.name == "sqlite"
        if self.sqlite:
            self.store: Store = SqliteStore(work / "observatoire-sqlite")
            self.file = work / "observatoire-sqlite" / "default.db"
            self.raw: sqlite3.Connection | psycopg.Connection | None = None
        else:
            self.url = bench.backend.store_env("observatoire")["TERRITOIRES_DATABASE_URL"]
            self.store = PostgresStore(self.url, upgrade=True)
            self.raw = psycopg.connect(self.url, autocommit=True)
            self.raw.execute("SELECT set_config('territoires.tenant', %s, false)", (TENANT,))

    def bare_ms(self, text: str) -> float:
        """The bare ranked full-text statement for ``text`` (ms)."""
        if self.sqlite:
            if self.raw is None:  # opened once the records are in
                self.raw = sqlite3.connect(self.file)
            started = time.perf_counter()
            self.raw.execute(
                "SELECT d.entity_id FROM text_search JOIN text_documents d ON d.rid = text_search.rowid "
                "WHERE text_search MATCH ? ORDER BY bm25(text_search) LIMIT 20", (fts5_query(parse_query(text)),)
            ).fetchall()
            return (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        self.raw.execute(  # type: ignore[union-attr]
            "SELECT entity_id FROM text_documents, websearch_to_tsquery('french', unaccent(%s)) AS q "
            "WHERE document @@ q ORDER BY ts_rank(document, q) DESC LIMIT 20", (text,)
        ).fetchall()
        return (time.perf_counter() - started) * 1000

    def close(self) -> None:
        if self.raw is not None:
            self.raw.close()
        self.store.close()


def _records(count: int) -> Iterator[list[TextDocument]]:
    """Batches of synthetic project records, as the text indexer makes them."""
    rng = random.Random(100)
    batch = []
    for n in range(count):
        domain, title, words = USE_CASES[n % len(USE_CASES)]
        region = rng.choice(CODES["region"])
        place = f"{rng.choice(('Saint-', 'Le ', 'La ', ''))}{rng.choice(('Val', 'Mont', 'Bourg', 'Pré', 'Lac'))}" \
                f"{rng.choice(('ignac', 'erville', 'ans', 'ay', 'oux', 'ières'))}"
        facts = {facet: (rng.choice(values),) for facet, values in CODES.items()}
        facts["region"] = (region,)
        facts["domains"] = (domain,)
        facts["moderation"] = ("published",)
        batch.append(TextDocument(
            f"urn:ngsi-ld:Project:synthetic-{n:06d}", PROJECTS.entity_type,
            {"title": f"{title} à {place}",
             "summary": f"Synthétique : {words} ({place}).",
             "description": " ".join(rng.sample(SENTENCES, 6)),
             "lessons": rng.choice(SENTENCES)},
            facts,
        ))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _index(store: Store, count: int) -> float:
    elapsed = 0.0
    for batch in _records(count):  # made outside the timing: only indexing them counts
        started = time.perf_counter()
        with store.session(TENANT, write=True) as session:
            session.index_documents(batch)
        elapsed += time.perf_counter() - started
    return count / elapsed


def _search(rng: random.Random) -> TextSearch:
    first, second = rng.sample(CODES["status"], 2)
    return TextSearch(PROJECTS.entity_type, rng.choice(SEARCHES),
                      filters={"status": (first, second), "region": (rng.choice(CODES["region"]),)},
                      facets=("status", "region"), limit=20)


def _p(samples: list[float], percentile: int) -> float:
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[percentile - 1]
