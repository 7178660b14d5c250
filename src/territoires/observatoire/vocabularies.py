"""The observatory's controlled vocabularies: the one place their codes and French labels live.

A project record names domains, use cases, statuses… by code; people read the labels. The
lists are data (code → label), so that moderators can extend them later without touching the
code that checks records. Codes are stable ASCII slugs: once used by a record, never renamed.
Sources: the project record of the observatory (shared/facts/project-record.md) and the
publicly documented projects it was seeded from (shared/facts/projects.csv).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from territoires.ngsild.errors import BadRequestData
from territoires.observatoire.bands import POPULATION_BANDS


@dataclass(frozen=True)
class Vocabulary:
    name: str                    # the record field it constrains (API and @context term)
    label: str                   # French, what a form shows
    terms: Mapping[str, str]     # code -> French label, in display order

    def check(self, code: object, where: str) -> str:
        """``code`` if it is one of the vocabulary's; BadRequestData naming ``where`` otherwise."""
        if not isinstance(code, str) or code not in self.terms:
            raise BadRequestData(
                f"{where}: {code!r} is not a known {self.name} code; expected one of {', '.join(self.terms)}")
        return code


def _vocabulary(name: str, label: str, *terms: tuple[str, str]) -> Vocabulary:
    return Vocabulary(name, label, dict(terms))


DOMAINS = _vocabulary(
    "domains", "Domaines",
    ("water", "Eau"),
    ("energy", "Énergie"),
    ("building-energy", "Énergie des bâtiments publics"),
    ("public-lighting", "Éclairage public"),
    ("waste", "Déchets"),
    ("mobility-parking", "Mobilité et stationnement"),
    ("risks", "Risques naturels et technologiques"),
    ("air-noise", "Air et bruit"),
    ("environment", "Environnement"),
    ("green-spaces", "Espaces verts et arrosage"),
    ("climate-adaptation", "Adaptation au changement climatique"),
    ("security", "Sécurité et tranquillité publique"),
    ("administration-data", "Administration et données"),
    ("digital-infrastructure", "Infrastructures numériques et réseaux d'objets"),
    ("participation", "Participation citoyenne"),
    ("town-centre", "Attractivité des centres-villes et commerce"),
    ("tourism", "Tourisme"),
    ("health-social", "Santé, social et autonomie"),
)

USE_CASES = _vocabulary(
    "useCases", "Cas d'usage",
    ("leak-detection", "Détection de fuites"),
    ("remote-meter-reading", "Télérelève des compteurs"),
    ("dynamic-lighting", "Éclairage dynamique et pilotage"),
    ("led-retrofit", "Passage de l'éclairage aux LED"),
    ("fill-level-sensors", "Capteurs de remplissage des conteneurs"),
    ("parking-guidance", "Capteurs et guidage de stationnement"),
    ("traffic-light-priority", "Priorité des bus aux feux"),
    ("flow-counting", "Comptage des flux (piétons, véhicules)"),
    ("indoor-air-monitoring", "Suivi de la qualité de l'air intérieur"),
    ("building-energy-management", "Suivi et pilotage énergétique des bâtiments"),
    ("smart-watering", "Arrosage piloté par capteurs d'humidité"),
    ("video-protection", "Vidéoprotection"),
    ("citizen-reporting", "Signalements citoyens"),
    ("hypervision", "Hyperviseur et poste de pilotage"),
    ("digital-twin", "Jumeau numérique"),
    ("iot-network", "Réseau d'objets connectés mutualisé (LoRaWAN…)"),
    ("data-platform", "Plateforme et entrepôt de données"),
    ("open-data-portal", "Portail de données ouvertes"),
    ("risk-prediction", "Prévision des risques (feux de forêt, inondations)"),
    ("autonomy-detection", "Détection de la perte d'autonomie"),
)

STATUSES = _vocabulary(
    "status", "État d'avancement",
    ("idea", "Idée"),
    ("study", "Étude"),
    ("pilot", "Expérimentation"),
    ("partial-deployment", "Déploiement partiel"),
    ("deployed", "Déployé à l'échelle"),
    ("in-progress", "En cours (étape non précisée)"),
    ("abandoned", "Arrêté ou abandonné"),
)

CARRIER_KINDS = _vocabulary(
    "carrierKind", "Nature du porteur",
    ("commune", "Commune"),
    ("communaute-de-communes", "Communauté de communes"),
    ("communaute-d-agglomeration", "Communauté d'agglomération"),
    ("communaute-urbaine", "Communauté urbaine"),
    ("metropole", "Métropole"),
    ("ept", "Établissement public territorial"),
    ("departement", "Département"),
    ("region", "Région"),
    ("collectivite-territoriale", "Collectivité territoriale à statut particulier"),
    ("syndicat", "Syndicat"),
    ("opsn", "Opérateur public de services numériques"),
    ("sem-spl", "SEM ou SPL"),
    ("etat", "État"),
)

TYPOLOGIES = _vocabulary(
    "typology", "Typologie du territoire",
    ("urban", "Urbain"),
    ("peri-urban", "Périurbain"),
    ("rural", "Rural"),
    ("mixed", "Mixte"),
)

FUNDING_SOURCES = _vocabulary(
    "fundingSources", "Sources de financement",
    ("own-budget", "Budget propre"),
    ("dsil", "DSIL (dotation de soutien à l'investissement local)"),
    ("feder", "FEDER (fonds européen de développement régional)"),
    ("france-2030-tid", "France 2030 — Territoires intelligents et durables (TID)"),
    ("france-2030-diat", "France 2030 — Démonstrateurs d'IA frugale (DIAT)"),
    ("banque-des-territoires", "Banque des Territoires (prêts, ingénierie)"),
    ("region", "Région"),
    ("state", "État (autres aides)"),
    ("private", "Partenaires privés"),
)

CONNECTIVITY = _vocabulary(
    "connectivity", "Connectivité",
    ("lorawan", "LoRaWAN"),
    ("sigfox", "Sigfox"),
    ("nb-iot", "NB-IoT / LTE-M"),
    ("fibre", "Fibre optique"),
    ("cellular", "4G / 5G"),
    ("wifi", "Wi-Fi"),
)

STANDARDS = _vocabulary(
    "standards", "Standards",
    ("ngsi-ld", "NGSI-LD (MIM1)"),
    ("smart-data-models", "Smart Data Models (MIM2)"),
    ("dcat-ap", "DCAT-AP"),
    ("mqtt", "MQTT"),
    ("citygml", "CityGML"),
)

PROCUREMENT = _vocabulary(
    "procurement", "Mode d'achat",
    ("public-contract", "Marché public"),
    ("joint-purchasing", "Groupement de commandes"),
    ("central-purchasing-body", "Centrale d'achat"),
    ("concession", "Concession"),
    ("global-performance-contract", "Marché global de performance"),
    ("in-house", "Réalisation en régie"),
)

LABELS = _vocabulary(
    "labels", "Labels et appels remportés",
    ("villes-internet", "Label Villes Internet"),
    ("territoires-innovants", "Label Territoires Innovants"),
    ("tid-laureate", "Lauréat France 2030 « Territoires intelligents et durables »"),
    ("diat-laureate", "Lauréat France 2030 « Démonstrateurs d'IA frugale »"),
    ("eu-programme", "Programme européen"),
)

OUTCOME_METHODS = _vocabulary(
    "method", "Méthode de mesure d'un résultat",
    ("measured", "Mesuré"),
    ("estimated", "Estimé"),
    ("modelled", "Modélisé"),
)

MODERATION = _vocabulary(
    "moderation", "État de modération",
    ("draft", "Brouillon"),
    ("submitted", "Soumis à la modération"),
    ("published", "Publié"),
)

POPULATION_BAND_VOCABULARY = Vocabulary(
    "populationBand", "Strate de population", {band.code: band.label for band in POPULATION_BANDS})

VOCABULARIES: dict[str, Vocabulary] = {
    vocabulary.name: vocabulary
    for vocabulary in (DOMAINS, USE_CASES, STATUSES, CARRIER_KINDS, TYPOLOGIES, FUNDING_SOURCES, CONNECTIVITY,
                       STANDARDS, PROCUREMENT, LABELS, OUTCOME_METHODS, MODERATION, POPULATION_BAND_VOCABULARY)
}


def as_json() -> dict[str, dict[str, object]]:
    """Every vocabulary as the API serves it: {name: {label, terms: [{code, label}]}}."""
    return {
        name: {"label": vocabulary.label, "terms": [{"code": code, "label": label} for code, label in vocabulary.terms.items()]}
        for name, vocabulary in VOCABULARIES.items()
    }
