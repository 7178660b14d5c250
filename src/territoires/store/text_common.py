"""French full-text search, the pure parts both backends share: folding, stemming, the query.

Folding lowers the case, drops the accents (NFKD, combining marks removed) and spells the
ligatures out (œ → oe), so "Éclairage" and "eclairage" are one word. Words are runs of letters
and digits: apostrophes, hyphens and every other sign separate them ("d'eau" → "d", "eau").

SQLite indexes and searches text stemmed here by the Snowball French stemmer (PyPI
``snowballstemmer``, the standard pure-Python Snowball), folded *before* stemming, and
without French stop words. PostgreSQL does the same in the database with
``to_tsvector('french', unaccent(…))``: the accents go first there too, so a query typed with or
without accents finds the same records on both backends.

A query (``parse_query``) is a list of terms, all required (AND): a word, or a "quoted phrase"
(double quotes or « guillemets ») whose words must follow each other. With type-ahead
(``TextSearch.prefix``) the last word also matches any word it begins. Nothing else in the text
has a meaning: operators of FTS5 or tsquery (NEAR, OR, *, ^, column:), parentheses and SQL
metacharacters are separators like any punctuation, so they can only ever be searched as words.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import snowballstemmer

from territoires.ngsild.errors import BadRequestData
from territoires.store.port import TextDocument, TextSearch, TextSearchResult

# Longest search text and most terms accepted (a person's query, not a document).
MAX_QUERY_CHARS = 500
MAX_TERMS = 32
# Largest page of a search; most facets filtered or counted, most values accepted by a filter.
MAX_LIMIT = 1000
MAX_FACETS = 20
MAX_VALUES = 100

# Field weights: a word of the title counts more than one of the summary, which counts more
# than one of the other fields. SQLite's bm25 weights and PostgreSQL's setweight labels.
TITLE_FIELD, SUMMARY_FIELD = "title", "summary"
BM25_WEIGHTS = (10.0, 4.0, 1.0)  # title, summary, the rest

# Common French words that carry no meaning in a search (folded). PostgreSQL's ``french``
# configuration has its own, longer list; a query made of these alone is refused.
STOP_WORDS = frozenset((
    "a", "au", "aux", "avec", "c", "ce", "ces", "cet", "cette", "d", "dans", "de", "des", "du", "elle",
    "elles", "en", "et", "eux", "il", "ils", "j", "je", "l", "la", "le", "les", "leur", "leurs", "lui", "m",
    "ma", "mais", "me", "mes", "moi", "mon", "n", "ne", "nos", "notre", "nous", "on", "ou", "par", "pas",
    "pour", "qu", "que", "qui", "s", "sa", "se", "ses", "si", "son", "sur", "t", "ta", "te", "tes", "toi",
    "ton", "tu", "un", "une", "vos", "votre", "vous", "y", "est", "sont",
))

_WORD = re.compile(r"[^\W_]+")
_ENDS_IN_WORD = re.compile(r"[^\W_]$")  # the text ends inside a word: the one being typed
# The combining marks NFKD leaves after the letters they accent.
_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
_QUOTES = str.maketrans({"«": '"', "»": '"', "“": '"', "”": '"'})
_stemmer = snowballstemmer.stemmer("french")


def fold(text: str) -> str:
    """Lower case, no accents, ligatures spelled out."""
    text = text.casefold()
    if text.isascii():
        return text
    if "œ" in text or "æ" in text:
        text = text.replace("œ", "oe").replace("æ", "ae")
    return _MARKS.sub("", unicodedata.normalize("NFKD", text))


def words(text: str) -> list[str]:
    """The folded words of ``text``, in order."""
    return _WORD.findall(fold(text))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball French stem of a folded word."""
    return _stemmer.stemWord(word)


def stemmed(text: str) -> str:
    """``text`` as SQLite indexes it: its stemmed words but the stop words, separated by spaces."""
    return " ".join(stem(word) for word in words(text) if word not in STOP_WORDS)


@dataclass(frozen=True)
class Term:
    """One required term of a query: its folded words (several: a phrase, in this order, stop
    words included), and whether its last word may also be the beginning of a word (type-ahead)."""

    words: tuple[str, ...]
    prefix: bool = False


def parse_query(text: str, *, prefix: bool = False) -> list[Term]:
    """The terms of a search text (see the module). Refused (``BadRequestData``) when it is too
    long or has no word to search."""
    if len(text) > MAX_QUERY_CHARS:
        raise BadRequestData(f"the search text has {len(text)} characters; at most {MAX_QUERY_CHARS} are accepted")
    terms: list[Term] = []
    # Even pieces are outside quotes, odd ones inside (an unclosed quote runs to the end).
    for n, piece in enumerate(text.translate(_QUOTES).split('"')):
        found = words(piece)
        if n % 2:
            # A phrase keeps its stop words: PostgreSQL counts them in the distance of its words.
            if any(word not in STOP_WORDS for word in found):
                terms.append(Term(tuple(found)))
        else:
            terms.extend(Term((word,)) for word in found if word not in STOP_WORDS)
    if prefix and _ENDS_IN_WORD.search(fold(text)):
        last = words(text)[-1]
        if terms and terms[-1].words[-1] == last:
            terms[-1] = Term(terms[-1].words, prefix=True)
        else:  # a word typed so far counts even if it looks like a stop word ("l" of "lampadaire")
            terms.append(Term((last,), prefix=True))
    if len(terms) > MAX_TERMS:
        raise BadRequestData(f"the search text has {len(terms)} terms; at most {MAX_TERMS} are accepted")
    if not terms:
        raise BadRequestData(
            f"the search text {text!r} has no word to search (only punctuation or common words such as 'de', 'la')"
        )
    return terms


def check_search(search: TextSearch) -> None:
    """Refuse a search whose page or filters make no sense (``BadRequestData``)."""
    if search.offset < 0:
        raise BadRequestData(f"offset must be 0 or more, not {search.offset}")
    if not 0 <= search.limit <= MAX_LIMIT:
        raise BadRequestData(f"limit must be between 0 and {MAX_LIMIT}, not {search.limit}")
    if len(search.filters) > MAX_FACETS or len(search.facets) > MAX_FACETS:
        raise BadRequestData(f"a search filters on and counts at most {MAX_FACETS} facets")
    for facet, values in search.filters.items():
        if not values:
            raise BadRequestData(f"the filter on facet {facet!r} accepts no value: give at least one")
        if len(values) > MAX_VALUES:
            raise BadRequestData(f"the filter on facet {facet!r} accepts {len(values)} values; at most {MAX_VALUES}")


def fts5_query(terms: list[Term]) -> str:
    """The FTS5 MATCH expression of ``terms``: each word stemmed and quoted as an FTS5 string,
    so none can be read as an operator; a type-ahead word also matches as a prefix."""

    def quoted(text: str) -> str:
        return '"' + text.replace('"', '""') + '"'

    def stems(words: Sequence[str]) -> list[str]:  # the index has no stop word
        return [stem(word) for word in words if word not in STOP_WORDS]

    parts = []
    for term in terms:
        phrase = quoted(" ".join(stems(term.words)))
        if term.prefix:
            start = quoted(" ".join((*stems(term.words[:-1]), term.words[-1]))) + "*"
            parts.append(f"({phrase} OR {start})" if stems(term.words) else start)
        else:
            parts.append(phrase)
    return " AND ".join(parts)


def body_text(document: TextDocument) -> str:
    """The text of every field but the title and the summary, one after the other."""
    return "\n".join(text for name, text in document.text_fields.items() if name not in (TITLE_FIELD, SUMMARY_FIELD))


def tally_rows(documents: Iterable[TextDocument]) -> list[tuple[str, str, str, int]]:
    """(entity type, facet, value, how many) that these documents add to the tallies."""
    counts = Counter((document.entity_type, facet, value) for document in documents
                     for facet, value in facet_rows(document) if facet in document.tallied)
    return [(*key, n) for key, n in counts.items()]


def facet_rows(document: TextDocument) -> set[tuple[str, str]]:
    """The distinct (facet, value) pairs of a document (an empty value is no value)."""
    return {(facet, value) for facet, values in document.facets.items() for value in values if value}


def facet_token(facet: str, value: str) -> str:
    """A facet value as one word of the text index: letters and digits only, one per (facet,
    value), so the filters join the words in the full-text index's own look-up."""
    return "f" + f"{facet}\x1f{value}".encode().hex()


def search_statement(search: TextSearch, matching: str, params: list[Any], *, key: str, mark: str,
                     collate: str = "", counted: str | None = None,
                     filtered: bool = False) -> tuple[str, list[Any]]:
    """One statement answering ``search``, the same in both backends. ``matching`` is the
    backend's ``FROM … WHERE …`` selecting the documents of the type that match the text, as
    ``d`` with a ``rank`` expression already in its select list (lower ranks first), and
    ``key`` the column documents and facets share (``collate``: the collation that orders ids
    by code point). The filters are added here; the matches are computed once (a materialized
    CTE ``m``) for the page, the total and the facet counts. ``counted``: the ``FROM … WHERE …``
    giving the facet values of the matches as ``v(facet, value)``; by default, from the matches
    to their rows of ``text_facets`` (SQLite keeps the order of a CROSS JOIN): a search matches
    few documents of the many that have a value of a facet. ``filtered``: ``matching`` applies
    the filters itself.

    Rows: ``('total', None, None, n)``, ``('id', entity_id, None, position)`` for the page and
    ``('facet', facet, value, count)``; ``read_result`` turns them into the result."""
    where, args = [], []
    for facet, values in sorted(() if filtered else search.filters.items()):
        accepted = f"f.facet = {mark} AND f.value IN ({', '.join([mark] * len(values))})"
        if search.text is None:  # from the facet's documents: they are all the candidates
            where.append(f"d.{key} IN (SELECT f.{key} FROM text_facets f WHERE {accepted})")
        else:  # a look-up per document the text matches: far fewer than those of a value
            where.append(f"EXISTS (SELECT 1 FROM text_facets f WHERE f.{key} = d.{key} AND {accepted})")
        args.extend((facet, *values))
    sql = (f"WITH m AS MATERIALIZED (SELECT d.{key} AS k, d.entity_id AS entity_id, {matching}"
           f"{''.join(' AND ' + condition for condition in where)}) "
           f"SELECT 'total', NULL, NULL, count(*) FROM m")
    args = [*params, *args]
    if search.limit > 0:
        sql += (f" UNION ALL SELECT 'id', p.entity_id, NULL, row_number() OVER (ORDER BY p.rank, p.entity_id{collate}) "
                f"FROM (SELECT m.entity_id, m.rank FROM m ORDER BY m.rank, m.entity_id{collate} "
                f"LIMIT {mark} OFFSET {mark}) AS p")
        args.extend((search.limit, search.offset))
    if search.facets:
        counted = counted or f"m CROSS JOIN text_facets v WHERE v.{key} = m.k"
        sql += (f" UNION ALL SELECT 'facet', v.facet, v.value, count(*) FROM {counted} "
                f"AND v.facet IN ({', '.join([mark] * len(search.facets))}) GROUP BY v.facet, v.value")
        args.extend(search.facets)
    return sql, args


def read_result(search: TextSearch, rows: Iterable[Sequence[Any]]) -> TextSearchResult:
    """The result of the rows of ``search_statement``."""
    total, page = 0, []
    facets: dict[str, dict[str, int]] = {facet: {} for facet in search.facets}
    for part, first, second, number in rows:
        if part == "total":
            total = number
        elif part == "id":
            page.append((number, first))
        else:
            facets.setdefault(first, {})[second] = number
    return TextSearchResult([entity_id for _, entity_id in sorted(page)], total, facets)
