"""Audit records as rows, the same way in both SQL backends.

A row holds the fields of ``AuditRecord`` in its order, ``seq`` (the store's number) last.
``at`` is text in the clock's fixed-width form, so the time filters and the retention are
comparisons of texts on an index. ``attributes`` is one text, the names separated by spaces
(IRIs hold none), NULL when there is none: a record of four updated attributes is one row, and
the filter on one attribute looks for the name between spaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from territoires.store.port import AuditQuery, AuditRecord

# The columns an append writes, in the order of AuditRecord's fields.
AUDIT_COLUMNS = "at, operation, target, kind, subject, credential, name, attributes, detail"
# The columns a query reads: every field.
READ_COLUMNS = AUDIT_COLUMNS + ", seq"
_ATTRIBUTES = AuditRecord._fields.index("attributes")

# Filters of AuditQuery compared for equality, and their columns.
_EQUAL = (("subject", "subject"), ("credential_id", "credential"), ("target", "target"),
          ("operation", "operation"))


def audit_row(record: AuditRecord) -> tuple[Any, ...]:
    return (*record[:_ATTRIBUTES], " ".join(record.attributes) or None, record.detail)


def audit_record(row: Sequence[Any]) -> AuditRecord:
    names = row[_ATTRIBUTES]
    return AuditRecord(*row[:_ATTRIBUTES], tuple(names.split(" ")) if names else (), *row[_ATTRIBUTES + 1:])


def audit_filters(query: AuditQuery, mark: str, find: str) -> tuple[list[str], list[Any]]:
    """The conditions selecting what ``query`` selects, whatever the page (``mark`` is the
    driver's placeholder, ``find`` its function giving where a text occurs in another: SQLite's
    ``instr``, PostgreSQL's ``strpos``), and their parameters; ``before_seq`` is the caller's
    (see ``page_filters``)."""
    where, params = [], []
    for field, column in _EQUAL:
        value = getattr(query, field)
        if value is not None:
            where.append(f"{column} = {mark}")
            params.append(value)
    if query.attribute is not None:
        if query.attribute and " " not in query.attribute:
            where.append(f"{find}(' ' || attributes || ' ', {mark}) > 0")
            params.append(f" {query.attribute} ")
        else:  # no name of a record
            where.append("FALSE")
    if query.since is not None:
        where.append(f"at >= {mark}")
        params.append(query.since)
    if query.until is not None:
        where.append(f"at < {mark}")
        params.append(query.until)
    return where, params


def page_filters(query: AuditQuery, mark: str, find: str) -> tuple[str, list[Any]]:
    """The WHERE clause of the page itself: the filters and ``before_seq``."""
    where, params = audit_filters(query, mark, find)
    if query.before_seq is not None:
        where.append(f"seq < {mark}")
        params.append(query.before_seq)
    return " AND ".join(where) or "TRUE", params


def count_clause(query: AuditQuery, mark: str, find: str) -> tuple[str, list[Any]]:
    """The WHERE clause of the count (every matching record)."""
    where, params = audit_filters(query, mark, find)
    return " AND ".join(where) or "TRUE", params
