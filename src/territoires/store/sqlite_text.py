"""French full-text search and facets in a tenant's SQLite file (the storage contract's text
index methods).

- ``text_documents(rid, entity_id, entity_type)``: one row per indexed entity.
- ``text_search``: an FTS5 table (rowid = rid) over the text stemmed in Python
  (``text_common.stemmed``: folded, Snowball French stems, no stop words) in three columns,
  title, summary and the rest, weighted by bm25. FTS5 has no French stemmer of its own, and a
  tokenizer written in Python cannot be registered through the standard ``sqlite3`` module:
  the words reach it already stemmed, and queries are stemmed the same way. A fourth column,
  ``facets``, holds one token per facet value (``facet_token``): the filters are part of the
  MATCH, so FTS5 intersects them with the words in its own posting lists rather than the
  query looking up each match's values.
- ``text_facets(facet, value, rid)``: the facet values, indexed by document for the counts.
- ``text_tallies(entity_type, facet, value, n)``: the kept counts of the tallied facets' values,
  moved at each write from a document's old values (its ``text_facets`` rows) to its new ones.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from territoires.store.port import TextDocument, TextSearch, TextSearchResult, chunks
from territoires.store.text_common import (
    BM25_WEIGHTS,
    SUMMARY_FIELD,
    TITLE_FIELD,
    body_text,
    check_search,
    facet_rows,
    facet_token,
    fts5_query,
    parse_query,
    read_result,
    search_statement,
    stemmed,
    tally_rows,
)

TEXT_SCHEMA = """
CREATE TABLE IF NOT EXISTS text_documents(
    rid INTEGER PRIMARY KEY,
    entity_id TEXT NOT NULL UNIQUE,
    entity_type TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS text_documents_by_type ON text_documents(entity_type, entity_id);
CREATE VIRTUAL TABLE IF NOT EXISTS text_search USING fts5(title, summary, body, facets, tokenize = 'unicode61');
CREATE TABLE IF NOT EXISTS text_facets(
    facet TEXT NOT NULL,
    value TEXT NOT NULL,
    rid INTEGER NOT NULL,
    PRIMARY KEY (facet, value, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS text_facets_by_document ON text_facets(rid, facet, value);
CREATE TABLE IF NOT EXISTS text_tallies(
    entity_type TEXT NOT NULL,
    facet TEXT NOT NULL,
    value TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (entity_type, facet, value)
) WITHOUT ROWID;
"""
# The ranking: bm25 with the fields' weights (facet tokens do not rank), set as the table's own
# ``rank``, which FTS5 computes in its scan: twice as fast as calling bm25() on each match.
_BM25 = "bm25({}, {}, {}, 0.0)".format(*BM25_WEIGHTS)


def set_ranking(conn: sqlite3.Connection) -> None:
    """Set the index's ranking in a tenant's file, unless it is set already (no write then)."""
    if conn.execute("SELECT v FROM text_search_config WHERE k = 'rank'").fetchone() != (_BM25,):
        conn.execute("INSERT INTO text_search(text_search, rank) VALUES ('rank', ?)", (_BM25,))
        conn.commit()

_BIND_CHUNK = 500  # ids bound per statement (SQLite binds at most 32766 parameters)


class SqliteText:
    """Mixed into ``SqliteSession``: ``conn`` is the tenant's connection, in its transaction."""

    conn: sqlite3.Connection

    def index_documents(self, documents: Sequence[TextDocument]) -> None:
        latest = list({document.entity_id: document for document in documents}.values())  # the last one wins
        self.unindex([document.entity_id for document in latest])
        rid = self.conn.execute("SELECT coalesce(max(rid), 0) FROM text_documents").fetchone()[0]
        rows, texts, facets = [], [], []
        for document in latest:
            rid += 1
            rows.append((rid, document.entity_id, document.entity_type))
            pairs = facet_rows(document)
            texts.append((rid, stemmed(document.text_fields.get(TITLE_FIELD, "")),
                          stemmed(document.text_fields.get(SUMMARY_FIELD, "")), stemmed(body_text(document)),
                          " ".join(facet_token(facet, value) for facet, value in pairs)))
            facets.extend((facet, value, rid) for facet, value in pairs)
        self.conn.executemany("INSERT INTO text_documents(rid, entity_id, entity_type) VALUES (?, ?, ?)", rows)
        self.conn.executemany("INSERT INTO text_search(rowid, title, summary, body, facets) VALUES (?, ?, ?, ?, ?)",
                              texts)
        self.conn.executemany("INSERT INTO text_facets(facet, value, rid) VALUES (?, ?, ?)", facets)
        self.conn.executemany(
            "INSERT INTO text_tallies(entity_type, facet, value, n) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(entity_type, facet, value) DO UPDATE SET n = n + excluded.n",
            tally_rows(latest))

    def unindex(self, entity_ids: Sequence[str]) -> None:
        for part in chunks(list(entity_ids), _BIND_CHUNK):
            marks = ", ".join("?" * len(part))
            rids = [(rid,) for (rid,) in self.conn.execute(
                f"SELECT rid FROM text_documents WHERE entity_id IN ({marks})", tuple(part))]
            if rids:  # only tallied values have a tally row to take them from
                self.conn.execute(
                    "UPDATE text_tallies SET n = n - c.k FROM (SELECT d.entity_type AS t, f.facet AS facet, "
                    "f.value AS value, count(*) AS k FROM text_documents d JOIN text_facets f ON f.rid = d.rid "
                    f"WHERE d.entity_id IN ({marks}) GROUP BY 1, 2, 3) AS c WHERE text_tallies.entity_type = c.t "
                    "AND text_tallies.facet = c.facet AND text_tallies.value = c.value", tuple(part))
            self.conn.executemany("DELETE FROM text_search WHERE rowid = ?", rids)
            self.conn.executemany("DELETE FROM text_facets WHERE rid = ?", rids)
            self.conn.executemany("DELETE FROM text_documents WHERE rid = ?", rids)

    def text_tallies(self, entity_type: str, facet: str, prefix: str = "") -> dict[str, int]:
        return dict(self.conn.execute(
            "SELECT value, n FROM text_tallies WHERE entity_type = ? AND facet = ? AND substr(value, 1, ?) = ? "
            "AND n > 0", (entity_type, facet, len(prefix), prefix)))

    def text_search(self, search: TextSearch) -> TextSearchResult:
        check_search(search)
        match = []
        if search.text is not None:
            match.append(f"{{title summary body}} : ({fts5_query(parse_query(search.text, prefix=search.prefix))})")
        for facet, values in search.filters.items():
            match.append("facets : (" + " OR ".join(f'"{facet_token(facet, value)}"' for value in values) + ")")
        if not match:
            matching = "0 AS rank FROM text_documents d WHERE d.entity_type = ?"
            params = [search.entity_type]
        else:
            # The full-text index first (CROSS JOIN keeps this order), then each match's document.
            matching = (f"{'text_search.rank' if search.text is not None else 0} AS rank FROM text_search CROSS JOIN "
                        "text_documents d WHERE text_search MATCH ? AND d.rid = text_search.rowid AND d.entity_type = ?")
            params = [" AND ".join(match), search.entity_type]
        sql, args = search_statement(search, matching, params, key="rid", mark="?", filtered=True)
        return read_result(search, self.conn.execute(sql, args))
