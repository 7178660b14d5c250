"""The one clock: UTC instants as ISO 8601 strings with ``Z`` (microsecond precision)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def now() -> str:
    return datetime.now(UTC).strftime(_FORMAT)


def current() -> datetime:
    """Now as an aware UTC ``datetime``, to compare with (``now`` formats it, which costs more)."""
    return datetime.now(UTC)


def ahead(seconds: float) -> str:
    """The instant ``seconds`` from now."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime(_FORMAT)
