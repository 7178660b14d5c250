"""Who the current write acts for, as plain data the broker's observers (the audit trail) read.

The edge (the enforcement point of ``auth/``, the ingestion bridge, the CLI) sets it for the
duration of a request with :func:`acting`; it travels with the context into worker threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    kind: str                        # the principal's kind: "key", "oidc", "session", "bridge", "cli", "open"…
    subject: str                     # key id, OIDC subject, bridge name
    credential_id: str | None = None
    name: str = ""


SYSTEM = Actor(kind="system", subject="system")
_current: ContextVar[Actor] = ContextVar("territoires_actor", default=SYSTEM)


def current_actor() -> Actor:
    return _current.get()


@contextmanager
def acting(actor: Actor) -> Iterator[None]:
    token = _current.set(actor)
    try:
        yield
    finally:
        _current.reset(token)
