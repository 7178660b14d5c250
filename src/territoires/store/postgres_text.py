"""French full-text search and facets in the PostgreSQL backend (migration
``0010_text_search.sql``): the storage contract's text index methods on the session's
connection, its tenant named, its rows alone visible under row-level security.

Documents are ``tsvector``s of the ``french`` configuration over the unaccented text, weighted
A (title), B (summary), C (the rest) and ranked by ``ts_rank``. The query is built from the
terms ``text_common.parse_query`` found, each word or phrase passed as a parameter to
``phraseto_tsquery`` (and, for type-ahead, ``to_tsquery`` of a quoted literal with ``:*``), so
no character of the text can be read as tsquery syntax.

Writes are one statement per table whatever the number of documents: the columns travel as
arrays and ``unnest`` turns them back into rows (row-level security forbids ``COPY``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import psycopg

from territoires.store.port import TextDocument, TextSearch, TextSearchResult
from territoires.store.text_common import (
    STOP_WORDS,
    SUMMARY_FIELD,
    TITLE_FIELD,
    Term,
    body_text,
    check_search,
    facet_rows,
    facet_token,
    parse_query,
    read_result,
    search_statement,
    tally_rows,
)

# The facet values' tokens (``facet_token``) are words of the document too, without position
# or weight (D): a search's filters are then part of its tsquery, which the GIN index answers.
_VECTOR = ("setweight(to_tsvector('french', unaccent(r.title)), 'A') || "
           "setweight(to_tsvector('french', unaccent(r.summary)), 'B') || "
           "setweight(to_tsvector('french', unaccent(r.body)), 'C') || "
           "array_to_tsvector(coalesce(string_to_array(nullif(r.tokens, ''), ' '), '{}'))")


# Facet names and values travel to the database joined by this character, which becomes a
# space in them (as U+0000, which PostgreSQL text cannot hold): both separate words anyway.
_SEPARATOR = "\x1e"
_SPLIT = "coalesce(string_to_array(nullif({}, ''), E'\\x1e'), '{{}}')"
_CLEAN = str.maketrans({"\x00": " ", _SEPARATOR: " "})


# The matches' facet values, from the arrays they carry. Set-returning functions in the select
# list walk the two arrays in step, at half the cost of ``unnest`` as a table joined to each match.
_COUNTED = "(SELECT unnest(m.facet_names) AS facet, unnest(m.facet_values) AS value FROM m) AS v WHERE true"


def _text(value: str) -> str:
    return value.translate(_CLEAN)


def tsquery(terms: Sequence[Term]) -> tuple[str, list[str]]:
    """The tsquery expression of ``terms`` (all required) and its parameters."""
    parts, params = [], []
    for term in terms:
        exact = "phraseto_tsquery('french', unaccent(%s))"
        if not term.prefix:
            parts.append(exact)
            params.append(" ".join(term.words))
            continue
        # The word being typed, unstemmed, as the beginning of a stemmed word of the document.
        start = "to_tsquery('simple', quote_literal(%s) || ':*')"
        head, last = term.words[:-1], term.words[-1]
        start_params = [last]
        if head:
            start = f"tsquery_phrase(phraseto_tsquery('french', unaccent(%s)), {start})"
            start_params = [" ".join(head), last]
        if all(word in STOP_WORDS for word in term.words):  # the word typed so far only
            parts.append(start)
            params.extend(start_params)
        else:
            parts.append(f"({exact} || {start})")
            params.extend([" ".join(term.words), *start_params])
    return " && ".join(parts), params


class PostgresText:
    """Mixed into ``PostgresSession``: ``conn`` names the session's tenant."""

    conn: psycopg.Connection

    def index_documents(self, documents: Sequence[TextDocument]) -> None:
        latest = list({document.entity_id: document for document in documents}.values())  # the last one wins
        if not latest:
            return
        self.unindex([document.entity_id for document in latest])
        columns: list[list[Any]] = [[], [], [], [], [], [], [], []]
        facets: list[list[str]] = [[], [], []]
        for document in latest:
            fields = document.text_fields
            pairs = sorted({(_text(facet), _text(value)) for facet, value in facet_rows(document)})
            row = (_text(document.entity_id), _text(document.entity_type), _text(fields.get(TITLE_FIELD, "")),
                   _text(fields.get(SUMMARY_FIELD, "")), _text(body_text(document)),
                   _SEPARATOR.join(facet for facet, _ in pairs), _SEPARATOR.join(value for _, value in pairs),
                   " ".join(facet_token(facet, value) for facet, value in pairs))
            for column, value in zip(columns, row, strict=True):
                column.append(value)
            for facet, value in pairs:
                for column, item in zip(facets, (facet, value, row[0]), strict=True):
                    column.append(item)
        with self.conn.pipeline():
            self.conn.execute(
                "INSERT INTO text_documents (entity_id, entity_type, document, facet_names, facet_values) "
                f"SELECT r.entity_id, r.entity_type, {_VECTOR}, {_SPLIT.format('r.names')}, {_SPLIT.format('r.values')} "
                "FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
                "%s::text[]) AS r(entity_id, entity_type, title, summary, body, names, values, tokens)",
                columns,
            )
            if facets[0]:
                self.conn.execute(
                    "INSERT INTO text_facets (facet, value, entity_id) SELECT * FROM unnest(%s::text[], %s::text[], "
                    "%s::text[])",
                    facets,
                )
            tallies = sorted((_text(t), _text(f), _text(v), n) for t, f, v, n in tally_rows(latest))
            if tallies:  # in key order, so that two writers lock the rows they share in the same order
                self.conn.execute(
                    "INSERT INTO text_tallies (entity_type, facet, value, n) SELECT * FROM unnest(%s::text[], "
                    "%s::text[], %s::text[], %s::bigint[]) ON CONFLICT (tenant, entity_type, facet, value) "
                    "DO UPDATE SET n = text_tallies.n + EXCLUDED.n",
                    [list(column) for column in zip(*tallies, strict=True)],
                )

    def unindex(self, entity_ids: Sequence[str]) -> None:
        ids = [_text(entity_id) for entity_id in entity_ids]
        if not ids:
            return
        with self.conn.pipeline():
            # only tallied values have a tally row to take them from
            self.conn.execute(
                "UPDATE text_tallies t SET n = t.n - c.k FROM (SELECT d.entity_type, f.facet, f.value, count(*) AS k "
                "FROM text_documents d JOIN text_facets f ON f.entity_id = d.entity_id WHERE d.entity_id = ANY(%s) "
                "GROUP BY 1, 2, 3) AS c WHERE t.entity_type = c.entity_type AND t.facet = c.facet AND t.value = c.value",
                (ids,))
            self.conn.execute("DELETE FROM text_facets WHERE entity_id = ANY(%s)", (ids,))
            self.conn.execute("DELETE FROM text_documents WHERE entity_id = ANY(%s)", (ids,))

    def text_tallies(self, entity_type: str, facet: str, prefix: str = "") -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT value, n FROM text_tallies WHERE entity_type = %s AND facet = %s AND left(value, %s) = %s "
            "AND n > 0", (_text(entity_type), _text(facet), len(prefix), _text(prefix)))
        return dict(rows.fetchall())

    def text_search(self, search: TextSearch) -> TextSearchResult:
        check_search(search)
        params: list[Any] = []
        # The matches carry their facet values, counted without a look-up per match.
        if search.text is None:
            matching = "0 AS rank, d.facet_names, d.facet_values FROM text_documents d WHERE d.entity_type = %s"
        else:
            words, params = tsquery(parse_query(search.text, prefix=search.prefix))
            # The filters in the tsquery (tokens are letters and digits: no tsquery syntax): the
            # GIN index intersects them with the words, so nothing else has to check them (their
            # look-ups in text_facets as well doubled the time of a search matching many records).
            # The rank reads the words alone: facet tokens weigh nothing, and cost a third more.
            query, params = words, [*params, *params]
            for facet, values in search.filters.items():
                query += " && to_tsquery('simple', %s)"
                params.append(" | ".join(facet_token(_text(facet), _text(value)) for value in values))
            # OFFSET 0 keeps the queries a row of their own, made once: pulled up into the outer
            # query, they would be made again for each match ranked (two thirds of the rank's cost).
            matching = (f"-ts_rank(d.document, s.r) AS rank, d.facet_names, d.facet_values FROM text_documents d, "
                        f"(SELECT {words} AS r, {query} AS q OFFSET 0) AS s WHERE d.entity_type = %s "
                        "AND d.document @@ s.q")
        params.append(_text(search.entity_type))
        filtered = replace(search, facets=tuple(map(_text, search.facets)), filters={
            _text(facet): tuple(map(_text, values)) for facet, values in search.filters.items()})
        sql, args = search_statement(filtered, matching, params, key="entity_id", mark="%s", collate=' COLLATE "C"',
                                     counted=_COUNTED,
                                     filtered=search.text is not None)
        result = read_result(filtered, self.conn.execute(sql, args).fetchall())
        # Facets are reported under the names they were asked by.
        result.facets = {facet: result.facets.get(_text(facet), {}) for facet in search.facets}
        return result
