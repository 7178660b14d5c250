"""The one clock: UTC instants as ISO 8601 strings with ``Z`` (microsecond precision)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def now() -> str:
    return _iso(datetime.now(UTC))


def current() -> datetime:
    """Now as an aware UTC ``datetime``, to compare with (``now`` formats it, which costs more)."""
    return datetime.now(UTC)


def ahead(seconds: float) -> str:
    """The instant ``seconds`` from now."""
    return _iso(datetime.now(UTC) + timedelta(seconds=seconds))


def _iso(instant: datetime) -> str:
    # isoformat costs half of strftime, and every write stamps an instant.
    return instant.isoformat(timespec="microseconds")[:-6] + "Z"
