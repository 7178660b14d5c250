"""Many rows in few statements.

Python's sqlite3 lets other threads run during every step of a statement, and ``executemany``
steps once per row. A write session holding its tenant's lock then waits, at each row, for
whichever thread took the interpreter meanwhile (the event loop, the MQTT client): up to a
switch interval (5 ms) per row, with every writer of the tenant waiting behind it. A statement
with many rows steps once, and costs less per row even alone (no per-row call from Python).
Statements take rows in a few fixed counts, so that each shape is prepared once and cached.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import cache
from itertools import chain
from typing import Any

# Python's sqlite3 binds an int, a float or a str at once, but sends every None through its
# adaptation protocol (a registry miss, then two failed attribute look-ups): five times the cost
# of an int, and a history row holds several NULLs. An adapter registered for None is found at
# once; ``{}.get`` is a C function giving None back for None.
sqlite3.register_adapter(type(None), {}.get)

# Rows per statement: 256 rows of up to 127 values stay under SQLite's 32,766 parameters.
_COUNTS = (256, 64, 16, 4, 1)


@cache
def _statement(template: str, width: int, count: int) -> str:
    row = "(" + ", ".join("?" * width) + ")"
    return template.format(rows=", ".join([row] * count))


def execute_rows(conn: sqlite3.Connection, template: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run ``template``, a statement whose list of rows is written ``{rows}`` (``VALUES {rows}``),
    over ``rows`` (each of the same width): the fewest statements of the counts above."""
    if not rows:
        return
    width = len(rows[0])
    start = 0
    for count in _COUNTS:
        while len(rows) - start >= count:
            conn.execute(_statement(template, width, count), list(chain.from_iterable(rows[start:start + count])))
            start += count
