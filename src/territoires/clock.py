"""The one clock: UTC instants as ISO 8601 strings with ``Z`` (microsecond precision)."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
