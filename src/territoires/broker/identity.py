"""This broker as a Context Source: what ``GET /info/sourceIdentity`` answers (clause 5.15,
ContextSourceIdentity of clause 5.2.40), so that a peer broker, a registry or a health probe can
tell which source and which tenant it reaches, since when it runs and what time it keeps.

The alias names the installation (``TERRITOIRES_SOURCE_ALIAS``, else the host's name), so every
worker process of one installation gives the same; in a tenant other than the default one it
also names the tenant, as clause 5.2.40 asks in the multi-tenancy case. The id is derived from
the alias (a name-based UUID): stable across restarts without storing anything.
"""

from __future__ import annotations

import socket
import time
import uuid
from typing import Any

from territoires import __version__, clock
from territoires.config import Settings
from territoires.store.port import Store

# The namespace of the name-based UUIDs of Territoires' context sources.
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:territoires:context-source")


class SourceIdentityService:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.alias = settings.source_alias or socket.gethostname()
        self.backend = "postgresql" if settings.database_url else "sqlite"
        self._started = time.monotonic()

    def identity(self, tenant: str) -> dict[str, Any]:
        """The ContextSourceIdentity of this broker for ``tenant`` (``NonexistentTenant`` for an
        unknown one)."""
        with self.store.session(tenant):  # the store refuses an unknown tenant
            pass
        alias = f"{self.alias}/{tenant}" if tenant else self.alias
        return {
            "id": f"urn:ngsi-ld:ContextSource:{uuid.uuid5(_NAMESPACE, alias)}",
            "type": "ContextSourceIdentity",
            "contextSourceExtras": {"software": "Territoires", "version": __version__, "store": self.backend},
            "contextSourceUptime": iso_duration(time.monotonic() - self._started),
            "contextSourceTimeAt": clock.now(),
            "contextSourceAlias": alias,
        }


def iso_duration(seconds: float) -> str:
    """An ISO 8601 duration of ``seconds`` in days, hours, minutes and seconds (``P1DT2H3M4.5S``)."""
    whole, fraction = divmod(round(seconds, 3), 1)
    days, rest = divmod(int(whole), 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs + fraction:.3f}".rstrip("0").rstrip(".")
    return f"P{f'{days}D' if days else ''}T{f'{hours}H' if hours else ''}{f'{minutes}M' if minutes else ''}{text}S"
