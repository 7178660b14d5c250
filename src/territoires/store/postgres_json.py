"""Rows that travel to PostgreSQL as one JSON array, split by ``jsonb_array_elements`` in the
statement: one parameter whatever the number of rows. For a few rows this costs the driver
and the server several times less than an ``executemany`` with a parameter per column. The
array is read as ``jsonb``, parsed once: each ``->>`` on a ``json`` value parses it again (for
5,000 audit records of nine columns, 140 ms against 200 ms).

The same holds for a list of keys: psycopg writes a ``text[]`` or ``bigint[]`` parameter
element by element in Python (1,000 entity ids: 6 ms against 3.7 ms as JSON), so the hot
statements take theirs as one JSON text (``json_array``) that ``TEXTS`` or ``BIGINTS`` turn into
the SQL array; an index scan on ``= ANY`` of it stays an index scan.

A statement that looks rows of a tenant's table up by values of the array reads the array
into a ``MATERIALIZED`` CTE first and compares the columns with the CTE's. Row-level security
lets only leakproof expressions into an index condition, and ``->>`` and casts from text are
not: compared with ``(j->>0)::bigint`` itself, a key is matched against every row of the
tenant (a sequential or tenant-wide scan), however selective its index."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import orjson

TEXTS = "ARRAY(SELECT jsonb_array_elements_text(%s::jsonb))"
BIGINTS = "ARRAY(SELECT jsonb_array_elements_text(%s::jsonb)::bigint)"


def json_array(values: Iterable[Any]) -> str:
    """Values as the one JSON parameter that ``TEXTS``, ``BIGINTS`` or ``jsonb_array_elements`` read."""
    return orjson.dumps(list(values)).decode()


def float8(number: float | None) -> float | str | None:
    """A number as JSON spells it, or, when JSON cannot (infinities, NaN), as the text that
    PostgreSQL reads as that float8."""
    return number if number is None or math.isfinite(number) else str(number)
