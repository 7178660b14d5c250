"""Every benchmark ``python -m bench`` runs, in the order it runs them: the core API's
(``scenarios``), then the live-data ones, each in its own module."""

from __future__ import annotations

from bench.auth import authorisation
from bench.ingest import ingest
from bench.maturity import maturity_peers
from bench.notifications import notifications
from bench.observatoire import observatoire
from bench.pages import pages
from bench.scenarios import CORE_SCENARIOS, Scenario
from bench.temporal import temporal

SCENARIOS: dict[str, Scenario] = {
    **CORE_SCENARIOS,
    "temporal": Scenario(temporal, frozenset()),
    "ingest": Scenario(ingest, frozenset()),
    "notifications": Scenario(notifications, frozenset()),
    "authorisation": Scenario(authorisation, frozenset()),
    "observatoire": Scenario(observatoire, frozenset()),
    "maturity": Scenario(maturity_peers, frozenset()),
    "pages": Scenario(pages, frozenset()),
}
