"""Python regular expressions (``re``, the syntax of ``~=`` and ``idPattern``) rewritten as
PostgreSQL advanced regular expressions (ARE) that find a match in exactly the same strings.

The SQLite backend runs Python ``re`` itself. PostgreSQL's ``~`` speaks another dialect, whose
character classes, case folding, anchors and word boundaries follow the server's locale. So
the pattern is parsed with Python's own parser and rewritten from its tree using only
locale-free constructs: every character class (``\\w``, ``[a-z]`` under ``(?i)``, ``.``…) is
spelled out as code point ranges computed by ``re`` itself, ``$`` and ``\\b`` become
lookarounds. Only whether a match exists matters (``re.search``), so lazy quantifiers become
greedy ones and groups need not capture.

Refused with ``BadRequestData``: what an ARE cannot express (back references, conditionals,
atomic groups, possessive quantifiers) and patterns that expand beyond what PostgreSQL
compiles (``MAX_POSITIONS``), so that PostgreSQL never rejects a pattern at run time.
PostgreSQL text holds no NUL character nor surrogate: classes leave them out.
"""

from __future__ import annotations

import _sre  # re's own case mapping
import functools
import re
from collections.abc import Iterable, Sequence
from re import _constants as sre  # the node codes of Python's own regular expression parser
from re import _parser  # type: ignore[attr-defined]
from typing import Any

from territoires.ngsild.errors import BadRequestData

# Positions (characters, classes, assertions) the ARE may have once repetitions are expanded.
# PostgreSQL refuses an ARE of about 40,000 ("regular expression is too complex").
MAX_POSITIONS = 20_000
_ARE_MAX_REPEAT = 255  # PostgreSQL's RE_DUP_MAX
_LAST = 0x10FFFF
_NEVER = "(?!)"  # matches nowhere

Intervals = list[tuple[int, int]]  # sorted, disjoint, non-adjacent code point ranges
_TEXT: Intervals = [(1, 0xD7FF), (0xE000, _LAST)]  # what PostgreSQL text can hold


def to_are(pattern: str, what: str) -> str:
    """The ARE matching the strings in which Python's ``re.search(pattern, …)`` finds a match.
    ``what`` names the pattern in error details (``idPattern``, ``q``)."""
    return _translated(pattern, what)


@functools.lru_cache(maxsize=512)
def _translated(pattern: str, what: str) -> str:
    try:
        re.compile(pattern)
        tree = _parser.parse(pattern)
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        raise BadRequestData(f"{what}: {pattern!r} is not a valid regular expression ({exc})") from None
    writer = _Writer(pattern, what)
    text, positions = writer.sequence(tree, tree.state.flags)
    if positions > MAX_POSITIONS:
        raise BadRequestData(
            f"{what}: regular expression {_short(pattern)} expands to {positions} positions once its repetitions "
            f"are counted, more than the {MAX_POSITIONS} this server can run: use smaller repetition counts"
        )
    return text


def _short(pattern: str) -> str:
    return repr(pattern if len(pattern) <= 80 else pattern[:80] + "…")


class _Writer:
    """Writes ARE text for a parsed tree, counting its positions."""

    def __init__(self, pattern: str, what: str) -> None:
        self.pattern = pattern
        self.what = what

    def refuse(self, feature: str) -> BadRequestData:
        return BadRequestData(
            f"{self.what}: regular expression {_short(self.pattern)} uses {feature}, which this server's "
            "PostgreSQL storage cannot evaluate; rewrite the pattern without it"
        )

    def sequence(self, items: Iterable[tuple[Any, Any]], flags: int) -> tuple[str, int]:
        parts: list[str] = []
        positions = 0
        for op, av in items:
            text, cost = self.node(op, av, flags)
            parts.append(text)
            positions += cost
        return "".join(parts), positions

    def node(self, op: Any, av: Any, flags: int) -> tuple[str, int]:
        if op is sre.LITERAL:
            return _char_class(_literal(av, flags)), 1
        if op is sre.NOT_LITERAL:
            return _char_class(_in_class([(sre.NEGATE, None), (sre.LITERAL, av)], flags)), 1
        if op is sre.IN:
            return _char_class(_in_class(av, flags)), 1
        if op is sre.ANY:
            dot = _TEXT if flags & re.DOTALL else _difference(_TEXT, [(10, 10)])
            return _char_class(dot), 1
        if op is sre.SUBPATTERN:
            _group, add, remove, body = av
            text, cost = self.sequence(body, (flags | add) & ~remove)
            return f"(?:{text})", cost
        if op is sre.BRANCH:
            branches = [self.sequence(branch, flags) for branch in av[1]]
            return "(?:" + "|".join(t for t, _ in branches) + ")", sum(c for _, c in branches)
        if op is sre.MAX_REPEAT or op is sre.MIN_REPEAT:  # laziness does not change whether a match exists
            low, high, body = av
            text, cost = self.sequence(body, flags)
            return _repeat(f"(?:{text})", low, high), cost * max(low + 1 if high is sre.MAXREPEAT else high, 1)
        if op is sre.AT:
            return _anchor(av, flags), 1
        if op is sre.ASSERT or op is sre.ASSERT_NOT:
            direction, body = av
            text, cost = self.sequence(body, flags)
            kind = ("=" if op is sre.ASSERT else "!") if direction > 0 else ("<=" if op is sre.ASSERT else "<!")
            return f"(?{kind}{text})", cost + 1
        if op is sre.GROUPREF:
            raise self.refuse("a back reference")
        if op is sre.GROUPREF_EXISTS:
            raise self.refuse("a conditional group (?(…)…|…)")
        if op is sre.ATOMIC_GROUP:
            raise self.refuse("an atomic group (?>…)")
        if op is sre.POSSESSIVE_REPEAT:
            raise self.refuse("a possessive quantifier (*+, ++, ?+, {m,n}+)")
        raise self.refuse(f"the construct {op}")


def _repeat(atom: str, low: int, high: int) -> str:
    """``atom`` repeated ``low`` to ``high`` times (``MAXREPEAT``: no bound) within ARE's limit
    of 255 per bound: larger counts nest, ``x{600}`` as ``(?:x{255}){2}x{90}``."""
    unbounded = high is sre.MAXREPEAT
    if low <= _ARE_MAX_REPEAT and (unbounded or high <= _ARE_MAX_REPEAT):
        if unbounded:
            return atom + {0: "*", 1: "+"}.get(low, f"{{{low},}}")
        if (low, high) == (0, 1):
            return atom + "?"
        return atom + (f"{{{low}}}" if low == high else f"{{{low},{high}}}")
    exact = _exactly(atom, low)
    if unbounded:
        return exact + atom + "*"
    return exact + _up_to(atom, high - low)


def _exactly(atom: str, count: int) -> str:
    whole, rest = divmod(count, _ARE_MAX_REPEAT)
    text = f"(?:{atom}{{{_ARE_MAX_REPEAT}}}){{{whole}}}" if whole else ""
    return text + (f"{atom}{{{rest}}}" if rest else "")


def _up_to(atom: str, count: int) -> str:
    whole, rest = divmod(count, _ARE_MAX_REPEAT)
    text = f"(?:{atom}{{0,{_ARE_MAX_REPEAT}}}){{{whole}}}" if whole else ""
    return text + (f"{atom}{{0,{rest}}}" if rest else "")


def _anchor(code: Any, flags: int) -> str:
    newline = _char_class([(10, 10)])
    if code is sre.AT_BEGINNING_STRING:
        return r"\A"
    if code is sre.AT_END_STRING:
        return r"\Z"
    if code is sre.AT_BEGINNING:
        return rf"(?:\A|(?<={newline}))" if flags & re.MULTILINE else r"\A"
    if code is sre.AT_END:  # Python's $ also matches before a final newline
        return rf"(?={newline}|\Z)" if flags & re.MULTILINE else rf"(?={newline}?\Z)"
    word = _char_class(_category(sre.CATEGORY_WORD, bool(flags & re.ASCII)))
    if code is sre.AT_BOUNDARY:
        return rf"(?:(?<={word})(?!{word})|(?<!{word})(?={word}))"
    # \B: between two word or two non-word characters; Python finds none in an empty string.
    anything = _char_class(_TEXT)
    return rf"(?:(?<={word})(?={word})|(?<!{word})(?!{word})(?:(?={anything})|(?<={anything})))"


# ---- character sets ------------------------------------------------------------------------------


def _char_class(intervals: Intervals) -> str:
    """An ARE atom matching one character of ``intervals`` (NUL and surrogates left out)."""
    kept = _intersection(intervals, _TEXT)
    if not kept:
        return _NEVER
    if len(kept) == 1 and kept[0][0] == kept[0][1]:
        return _escaped(kept[0][0])
    return "[" + "".join(_escaped(a) if a == b else f"{_escaped(a)}-{_escaped(b)}" for a, b in kept) + "]"


def _escaped(code: int) -> str:
    if code < 128 and chr(code).isalnum():
        return chr(code)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _literal(code: int, flags: int) -> Intervals:
    if not flags & re.IGNORECASE:
        return [(code, code)]
    return _with_case_variants([(code, code)], re.escape(chr(code)), flags)


def _in_class(items: Sequence[tuple[Any, Any]], flags: int) -> Intervals:
    """The characters a parsed class (the items of an ``IN`` node) matches under ``flags``."""
    negated = False
    found: Intervals = []
    for op, av in items:
        if op is sre.NEGATE:
            negated = True
        elif op is sre.LITERAL:
            found = _union(found, [(av, av)])
        elif op is sre.RANGE:
            found = _union(found, [av])
        else:  # CATEGORY
            found = _union(found, _category(av, bool(flags & re.ASCII)))
    if negated:
        found = _difference([(0, _LAST)], found)
    if not flags & re.IGNORECASE:
        return found
    return _with_case_variants(found, _class_source(items), flags)


def _class_source(items: Sequence[tuple[Any, Any]]) -> str:
    """The class back in Python syntax, for ``re`` to decide its case-insensitive members."""
    parts = []
    for op, av in items:
        if op is sre.NEGATE:
            parts.append("^")
        elif op is sre.LITERAL:
            parts.append(_python_escape(av))
        elif op is sre.RANGE:
            parts.append(f"{_python_escape(av[0])}-{_python_escape(av[1])}")
        else:
            parts.append(_CATEGORY_SOURCE[av])
    return "[" + "".join(parts) + "]"


def _python_escape(code: int) -> str:
    return f"\\U{code:08x}"


def _with_case_variants(case_sensitive: Intervals, source: str, flags: int) -> Intervals:
    """Under IGNORECASE only characters that have case mappings (or are one) can match
    differently: ask ``re`` about those, keep the case-sensitive answer for the others."""
    cased_text, cased = _cased()
    matcher = re.compile(source, re.IGNORECASE | (flags & re.ASCII))
    matched = [ord(m.group()) for m in matcher.finditer(cased_text)]
    return _union(_difference(case_sensitive, cased), _from_codes(matched))


@functools.lru_cache(maxsize=1)
def _cased() -> tuple[str, Intervals]:
    """Every character that a case-insensitive match may pair with another one: those whose
    lower case (as ``re`` computes it) or upper case differ, and those cases themselves."""
    codes: set[int] = set()
    for code in range(_LAST + 1):
        lower = _sre.unicode_tolower(code)
        upper = chr(code).upper()
        if lower != code:
            codes.update((code, lower))
        if len(upper) == 1 and upper != chr(code):
            codes.update((code, ord(upper)))
    ordered = sorted(codes)
    return "".join(map(chr, ordered)), _from_codes(ordered)


_CATEGORY_SOURCE = {
    sre.CATEGORY_DIGIT: r"\d", sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_SPACE: r"\s", sre.CATEGORY_NOT_SPACE: r"\S",
    sre.CATEGORY_WORD: r"\w", sre.CATEGORY_NOT_WORD: r"\W",
}


@functools.lru_cache(maxsize=16)
def _category(code: Any, ascii_only: bool) -> Intervals:
    """The characters of ``\\d``, ``\\w``… as ``re`` itself classifies every code point."""
    matcher = re.compile(_CATEGORY_SOURCE[code] + "+", re.ASCII if ascii_only else 0)
    intervals: Intervals = []
    for start, stop in ((0, 0xD800), (0xD800, 0xE000), (0xE000, _LAST + 1)):
        chunk = "".join(map(chr, range(start, stop)))
        intervals.extend((start + m.start(), start + m.end() - 1) for m in matcher.finditer(chunk))
    return _union(intervals, [])


# ---- interval sets --------------------------------------------------------------------------------


def _from_codes(codes: Iterable[int]) -> Intervals:
    return _union([(c, c) for c in codes], [])


def _union(a: Intervals, b: Intervals) -> Intervals:
    merged: Intervals = []
    for start, end in sorted(a + b):
        if merged and start <= merged[-1][1] + 1:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _difference(a: Intervals, b: Intervals) -> Intervals:
    """``a`` without ``b`` (both normalised)."""
    result: Intervals = []
    j = 0
    for start, end in a:
        while j < len(b) and b[j][1] < start:
            j += 1
        k = j
        while k < len(b) and b[k][0] <= end:
            if b[k][0] > start:
                result.append((start, b[k][0] - 1))
            start = max(start, b[k][1] + 1)
            k += 1
        if start <= end:
            result.append((start, end))
    return result


def _intersection(a: Intervals, b: Intervals) -> Intervals:
    return _difference(a, _difference(a, b))
