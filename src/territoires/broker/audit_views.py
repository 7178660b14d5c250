"""The audit trail as people ask for it and read it, the same in the admin API and the CLI:
filters by name, records as JSON objects, CSV rows and JSON lines.

Attribute names are expanded from, and compacted to, the @context of the request (the core
context when none is given), as in NGSI-LD responses.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import orjson

from territoires.broker.audit import parse_instant
from territoires.ngsild.entity import validate_name
from territoires.ngsild.errors import BadRequestData
from territoires.store.port import AuditQuery, AuditRecord

# Filter names (query parameters, CLI options) and the AuditQuery fields they set.
FILTERS = {"subject": "subject", "credential": "credential_id", "entity": "target", "attribute": "attribute",
           "operation": "operation", "from": "since", "to": "until"}
# The members of a record, in the order of the CSV columns.
COLUMNS = ("seq", "at", "operation", "target", "attributes", "principalKind", "subject", "credentialId", "name",
           "detail")
# A spreadsheet takes a cell starting with one of these as a formula (CSV injection): such a
# cell is exported with a leading apostrophe, which spreadsheets show as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def audit_query(filters: Mapping[str, str], expand: Callable[[str], str], *, offset: int = 0,
                limit: int = 100) -> AuditQuery:
    """The query of these named filters (``from``/``to``: ISO 8601 dates or instants;
    ``attribute``: a name expanded with ``expand``). Unknown or empty filters are refused: a
    misspelt filter must not silently list everything."""
    if offset < 0 or limit < 0:
        raise BadRequestData("offset and limit must be at least 0")
    values: dict[str, Any] = {}
    for name, value in filters.items():
        field = FILTERS.get(name)
        if field is None:
            raise BadRequestData(f"unknown audit filter {name!r}; use {', '.join(FILTERS)}")
        if not value.strip():
            raise BadRequestData(f"the audit filter {name} is empty")
        if name in ("from", "to"):
            value = parse_instant(value, name)
        elif name == "attribute":
            value = expand(validate_name(value, "attribute"))
        values[field] = value
    if "since" in values and "until" in values and values["since"] >= values["until"]:
        raise BadRequestData("from must be before to")
    return AuditQuery(offset=offset, limit=limit, **values)


def audit_json(record: AuditRecord, compact: Callable[[str], str]) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "at": record.at,
        "operation": record.operation,
        "target": record.target,
        "attributes": [compact(name) for name in record.attributes],
        "principalKind": record.kind,
        "subject": record.subject,
        "credentialId": record.credential_id,
        "name": record.name,
        "detail": record.detail,
    }


def jsonl_lines(records: Iterable[AuditRecord], compact: Callable[[str], str]) -> Iterator[bytes]:
    """One JSON object per line (JSON Lines)."""
    for record in records:
        yield orjson.dumps(audit_json(record, compact)) + b"\n"


def csv_lines(records: Iterable[AuditRecord], compact: Callable[[str], str]) -> Iterator[str]:
    """A header line, then one line per record (RFC 4180: comma, CRLF, quotes as needed)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for record in records:
        writer.writerow(_cell(value) for value in audit_json(record, compact).values())
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def text_of(value: Any) -> str:
    """A member of a record as one text: empty for none, a list's names separated by spaces."""
    if value is None:
        return ""
    return " ".join(value) if isinstance(value, list) else str(value)


def _cell(value: Any) -> str:
    text = text_of(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
