"""Audit records as rows, the same way in both SQL backends.

A row holds the fields of ``AuditRecord`` in its order, ``seq`` (the store's number) last, so a
record is its own row. ``at`` is text in the clock's fixed-width form, so the time filters and the
retention are comparisons of texts on an index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from territoires.store.port import AuditQuery, AuditRecord

# The columns an append writes, in the order of AuditRecord's fields.
AUDIT_COLUMNS = "at, operation, target, kind, subject, credential, name, attribute, detail"
# The columns a query reads: every field.
READ_COLUMNS = AUDIT_COLUMNS + ", seq"
_WRITTEN = len(AuditRecord._fields) - 1  # every field but seq

# Filters of AuditQuery compared for equality, and their columns.
_EQUAL = (("subject", "subject"), ("credential_id", "credential"), ("target", "target"),
          ("attribute", "attribute"), ("operation", "operation"))


def audit_row(record: AuditRecord) -> tuple[Any, ...]:
    return record[:_WRITTEN]


def audit_record(row: Sequence[Any]) -> AuditRecord:
    return AuditRecord._make(row)


def audit_filters(query: AuditQuery, mark: str) -> tuple[list[str], list[Any]]:
    """The conditions selecting what ``query`` selects, whatever the page (``mark`` is the
    driver's placeholder), and their parameters; ``before_seq`` is the caller's (see
    ``page_filters``)."""
    where, params = [], []
    for field, column in _EQUAL:
        value = getattr(query, field)
        if value is not None:
            where.append(f"{column} = {mark}")
            params.append(value)
    if query.since is not None:
        where.append(f"at >= {mark}")
        params.append(query.since)
    if query.until is not None:
        where.append(f"at < {mark}")
        params.append(query.until)
    return where, params


def page_filters(query: AuditQuery, mark: str) -> tuple[str, list[Any]]:
    """The WHERE clause of the page itself: the filters and ``before_seq``."""
    where, params = audit_filters(query, mark)
    if query.before_seq is not None:
        where.append(f"seq < {mark}")
        params.append(query.before_seq)
    return " AND ".join(where) or "TRUE", params


def count_clause(query: AuditQuery, mark: str) -> tuple[str, list[Any]]:
    """The WHERE clause of the count (every matching record)."""
    where, params = audit_filters(query, mark)
    return " AND ".join(where) or "TRUE", params
