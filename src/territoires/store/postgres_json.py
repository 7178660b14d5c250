"""Rows that travel to PostgreSQL as one JSON array, split by ``json_array_elements`` in the
statement: one parameter whatever the number of rows. For a few rows this costs the driver
and the server several times less than an ``executemany`` with a parameter per column."""

from __future__ import annotations

import math


def float8(number: float | None) -> float | str | None:
    """A number as JSON spells it, or, when JSON cannot (infinities, NaN), as the text that
    PostgreSQL reads as that float8."""
    return number if number is None or math.isfinite(number) else str(number)
