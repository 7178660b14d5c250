"""JSON-LD @context processing for NGSI-LD: compiled active contexts, expansion and compaction of terms.

NGSI-LD names (entity types, attribute and sub-attribute names, vocabulary values) are short terms
on the wire and IRIs inside the broker (clause 5.5.7). This module turns an ``@context`` value into
an immutable :class:`Context` that maps one to the other, following the JSON-LD 1.1 context
processing and IRI expansion/compaction algorithms for the parts NGSI-LD uses.

The core context is always there: it is bundled with the package (never fetched) and compiled
first; user contexts are processed on top of it, but a user definition of a core term is ignored,
so core terms always win, as the core context's ``@protected`` asks. A user ``@vocab`` does
replace the default vocabulary, which only names what no context defines.

Pure code: remote context documents come through a ``Resolver`` callable supplied by the caller.
Property-scoped and type-scoped contexts (``@context`` inside a term definition) are refused, as
clause 5.5.7 says a user @context shall not contain them.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

import orjson

from .errors import BadRequestData, LdContextNotAvailable, NgsiLdError

__all__ = [
    "CORE_CONTEXT_URL",
    "CORE_CONTEXT_URLS",
    "DEFAULT_VOCAB",
    "Context",
    "Resolver",
    "clear_cache",
    "compile_context",
    "core_context_document",
    "forget",
]

CORE_CONTEXT_URL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
# Every published name of the core context resolves to the bundled one.
CORE_CONTEXT_URLS: frozenset[str] = frozenset(
    {f"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.{minor}.jsonld" for minor in range(3, 10)}
    | {"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"}
)
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"

# URL -> the document at that URL (a dict with "@context"); raises LdContextNotAvailable.
Resolver = Callable[[str], Any]

_CORE_FILE = "ngsi-ld-core-context-v1.8.jsonld"
MAX_URL_DEPTH = 16  # remote contexts nested inside remote contexts
MAX_URLS = 64  # distinct remote documents one compilation may load
MAX_TERM_DEPTH = 64  # term definitions depending on term definitions (prefixes, types)
CACHE_SIZE = 1024  # compiled contexts kept
_MEMO_LIMIT = 65536  # names remembered per Context; clients may send unbounded distinct names

KEYWORDS = frozenset(
    {
        "@base", "@container", "@context", "@default", "@direction", "@embed", "@explicit", "@graph", "@id",
        "@import", "@included", "@index", "@json", "@language", "@list", "@nest", "@none", "@omitDefault",
        "@prefix", "@preserve", "@propagate", "@protected", "@requireAll", "@reverse", "@set", "@type",
        "@value", "@version", "@vocab",
    }
)
_CONTEXT_MEMBERS = frozenset(
    {"@base", "@direction", "@import", "@language", "@propagate", "@protected", "@version", "@vocab"}
)
_TERM_MEMBERS = frozenset(
    {"@id", "@reverse", "@type", "@container", "@language", "@direction", "@context", "@nest", "@prefix",
     "@index", "@protected"}
)
_CONTAINERS = frozenset({"@list", "@set", "@index", "@language", "@id", "@graph", "@type"})
_TYPE_KEYWORDS = frozenset({"@id", "@vocab", "@json", "@none"})
_GEN_DELIMS = frozenset(":/?#[]@")
_KEYWORD_FORM = re.compile(r"@[A-Za-z]+\Z")
_ABSOLUTE_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


def _is_absolute(value: str) -> bool:
    return _ABSOLUTE_IRI.match(value) is not None


def _is_iri_or_blank(value: str) -> bool:
    return value.startswith("_:") or _is_absolute(value)


# The shape of a term given as a bare IRI: no @type, @container, @language...
_SIMPLE_SHAPE: tuple[Any, ...] = (None, (), ..., ..., False, None, None)


class _Term:
    """One term definition of an active context."""

    __slots__ = ("iri", "prefix", "protected", "shape")

    def __init__(self, iri: str, prefix: bool, protected: bool, shape: tuple[Any, ...]) -> None:
        self.iri = iri
        self.prefix = prefix  # usable as the prefix of a compact IRI
        self.protected = protected
        self.shape = shape  # everything else that makes two definitions the same (@type, @container...)

    def same_as(self, other: _Term) -> bool:
        return self.iri == other.iri and self.prefix == other.prefix and self.shape == other.shape


class Context:
    """An immutable compiled active context: the user's context(s) followed by the core context,
    whose terms are protected and win (clause 5.5.7 / JSON-LD 1.1 @protected).

    Expansion and compaction results are memoised, so after the first call for a name they are
    one dict lookup.
    """

    __slots__ = ("_inverse", "_language", "_memo", "_prefixes", "_source", "_terms", "_urls", "_vocab")

    def __init__(
        self, source: Any, terms: dict[str, _Term], vocab: str | None, language: str | None, urls: frozenset[str]
    ) -> None:
        self._source = source
        self._terms = terms
        self._vocab = vocab
        self._language = language
        self._urls = urls
        # expand, compact, expand_vocab, compact_vocab
        self._memo: tuple[dict[str, str], ...] = ({}, {}, {}, {})
        self._inverse: dict[str, str] | None = None
        self._prefixes: list[tuple[str, str]] = []

    @property
    def source(self) -> Any:
        """The @context value this was compiled from (what a response echoes back)."""
        return self._source

    @property
    def vocab(self) -> str | None:
        """The vocabulary mapping: the IRI prefix given to names no term defines."""
        return self._vocab

    @property
    def language(self) -> str | None:
        """The default language (``@language``), if a context set one."""
        return self._language

    @property
    def urls(self) -> frozenset[str]:
        """Every remote context URL this context was built from (core context URLs excluded)."""
        return self._urls

    def __repr__(self) -> str:
        return f"Context(source={self._source!r})"

    # -- expansion --------------------------------------------------------------------------

    def expand(self, term: str) -> str:
        """An attribute, type or sub-attribute name -> its IRI (JSON-LD IRI expansion, vocab=true).
        Keywords, and names that the context maps to keywords, give the keyword."""
        memo = self._memo[0]
        try:
            return memo[term]
        except KeyError:
            pass
        except TypeError:
            raise _not_a_name(term) from None
        if not isinstance(term, str):
            raise _not_a_name(term)
        return _remember(memo, term, self._expand(term, vocab_value=False))

    def expand_vocab(self, value: str) -> str:
        """A VocabProperty value (clause 4.5.19: a term or an IRI) -> its IRI, expanded like a type.
        Terms that alias keywords are not used: a vocabulary value is never a keyword."""
        memo = self._memo[2]
        try:
            return memo[value]
        except KeyError:
            pass
        except TypeError:
            raise _not_a_name(value) from None
        if not isinstance(value, str):
            raise _not_a_name(value)
        if value.startswith("@"):
            raise BadRequestData(f"The vocabulary value {value!r} is a JSON-LD keyword, not a term or an IRI")
        return _remember(memo, value, self._expand(value, vocab_value=True))

    def _expand(self, value: str, vocab_value: bool) -> str:
        if value in KEYWORDS or _KEYWORD_FORM.match(value):
            return value  # keywords, and names reserved as future keywords, stay
        term = self._terms.get(value)
        if term is not None and not (vocab_value and term.iri.startswith("@")):
            return term.iri
        return _expand_name(value, self._terms, self._vocab)

    # -- compaction -------------------------------------------------------------------------

    def compact(self, iri: str) -> str:
        """An IRI -> the shortest term for it, else the bare name under @vocab, else a compact IRI,
        else the IRI itself; always such that ``expand(compact(iri)) == iri`` when any string does."""
        memo = self._memo[1]
        try:
            return memo[iri]
        except KeyError:
            pass
        except TypeError:
            raise _not_a_name(iri) from None
        if not isinstance(iri, str):
            raise _not_a_name(iri)
        return _remember(memo, iri, self._compact(iri, self.expand))

    def compact_vocab(self, iri: str) -> str:
        """The inverse of :meth:`expand_vocab`."""
        memo = self._memo[3]
        try:
            return memo[iri]
        except KeyError:
            pass
        except TypeError:
            raise _not_a_name(iri) from None
        if not isinstance(iri, str):
            raise _not_a_name(iri)
        return _remember(memo, iri, self._compact(iri, self.expand_vocab))

    def _compact(self, iri: str, expand: Callable[[str], str]) -> str:
        def expands_back(candidate: str) -> bool:
            try:
                return expand(candidate) == iri
            except NgsiLdError:
                return False

        inverse = self._inverse if self._inverse is not None else self._build_inverse()
        term = inverse.get(iri)
        if term is not None and expands_back(term):
            return term
        vocab = self._vocab
        if vocab and len(iri) > len(vocab) and iri.startswith(vocab):
            suffix = iri[len(vocab):]
            if expands_back(suffix):
                return suffix
        best: str | None = None
        for prefix_iri, prefix in self._prefixes:
            if len(iri) > len(prefix_iri) and iri.startswith(prefix_iri):
                candidate = f"{prefix}:{iri[len(prefix_iri):]}"
                if (best is None or (len(candidate), candidate) < (len(best), best)) and expands_back(candidate):
                    best = candidate
        return best if best is not None else iri

    def _build_inverse(self) -> dict[str, str]:
        # JSON-LD term selection: among terms for one IRI, the shortest, then the least.
        inverse: dict[str, str] = {}
        for name in sorted(self._terms, key=lambda n: (len(n), n)):
            inverse.setdefault(self._terms[name].iri, name)
        self._prefixes = [(t.iri, name) for name, t in self._terms.items() if t.prefix]
        self._inverse = inverse
        return inverse


def _remember(memo: dict[str, str], key: str, value: str) -> str:
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[key] = value
    return value


def _not_a_name(value: Any) -> BadRequestData:
    return BadRequestData(f"Expected a name or an IRI (a string), got {type(value).__name__}: {value!r:.100}")


def _expand_name(value: str, terms: dict[str, _Term], vocab: str | None) -> str:
    """IRI expansion of a string that is not itself a defined term (JSON-LD 1.1 IRI expansion, steps 6-7)."""
    colon = value.find(":", 1)
    if colon > 0:
        prefix, suffix = value[:colon], value[colon + 1:]
        if prefix == "_" or suffix.startswith("//"):
            return value  # blank node, or an IRI with an authority
        term = terms.get(prefix)
        if term is not None and term.prefix:
            return term.iri + suffix
        if _is_absolute(value):
            return value
    if vocab is not None:
        return vocab + value
    return value


# -- context processing -------------------------------------------------------------------------


class _Processor:
    """Builds one active context from a @context value, on top of a starting active context."""

    def __init__(self, base: Context | None, resolve: Resolver | None) -> None:
        self.base = base
        self.terms: dict[str, _Term] = dict(base._terms) if base else {}
        self.vocab = base._vocab if base else None
        self.language: str | None = None
        self.resolve = resolve
        self.documents: dict[str, Any] = {}  # URL -> its @context value, loaded once per compilation
        self.core_names = frozenset(base._terms) if base else frozenset()
        self.term_depth = 0

    # Context processing, JSON-LD 1.1 section 4.1.

    def process(self, value: Any, chain: tuple[str, ...] = ()) -> None:
        for item in value if isinstance(value, list) else (value,):
            if item is None:
                self._nullify()
            elif isinstance(item, str):
                if item in CORE_CONTEXT_URLS:
                    continue  # the core context is already underneath
                self.process(self._load(item, chain), chain + (item,))
            elif isinstance(item, dict):
                self._process_object(item, chain)
            else:
                raise BadRequestData(
                    f"A @context must be a URL, an object, null or an array of those; found {_describe(item)}"
                    + _where(chain)
                )

    def _nullify(self) -> None:
        protected = sorted(n for n, t in self.terms.items() if t.protected and n not in self.core_names)
        if protected:
            raise BadRequestData(f"A null @context cannot clear the protected terms {protected[:5]}")
        self.terms = dict(self.base._terms) if self.base else {}
        self.vocab = self.base._vocab if self.base else None
        self.language = None

    def _load(self, url: str, chain: tuple[str, ...]) -> Any:
        """The @context value of the document at ``url``."""
        if not _is_absolute(url):
            raise BadRequestData(f"The @context URL {url!r} is not an absolute URL" + _where(chain))
        if url in chain:
            cycle = " -> ".join(chain[chain.index(url):] + (url,))
            raise BadRequestData(f"The @context includes itself: {cycle}")
        if len(chain) >= MAX_URL_DEPTH:
            raise BadRequestData(
                f"Remote @context documents are nested more than {MAX_URL_DEPTH} deep" + _where(chain + (url,))
            )
        if url in self.documents:
            return self.documents[url]
        if len(self.documents) >= MAX_URLS:
            raise BadRequestData(f"The @context refers to more than {MAX_URLS} remote documents")
        if self.resolve is None:
            raise LdContextNotAvailable(f"No resolver to retrieve the @context at {url}")
        try:
            document = self.resolve(url)
        except NgsiLdError:
            raise
        except Exception as exc:  # whatever made the resolver fail, the context is not available
            raise LdContextNotAvailable(f"The @context at {url} could not be retrieved: {exc}") from exc
        if not isinstance(document, dict) or "@context" not in document:
            raise BadRequestData(f"The document at {url} is not a JSON-LD context: it has no @context member")
        self.documents[url] = document["@context"]
        return document["@context"]

    def _process_object(self, local: dict[str, Any], chain: tuple[str, ...]) -> None:
        if "@import" in local:
            local = self._import(local, chain)
        if "@version" in local and local["@version"] != 1.1:
            raise BadRequestData(f"@version must be 1.1, not {local['@version']!r}" + _where(chain))
        for key in ("@propagate", "@protected"):
            if key in local and not isinstance(local[key], bool):
                raise BadRequestData(f"{key} must be true or false, not {_describe(local[key])}" + _where(chain))
        if "@base" in local and not (local["@base"] is None or isinstance(local["@base"], str)):
            raise BadRequestData(f"@base must be an IRI or null, not {_describe(local['@base'])}" + _where(chain))
        if "@direction" in local and local["@direction"] not in (None, "ltr", "rtl"):
            raise BadRequestData('@direction must be "ltr", "rtl" or null' + _where(chain))
        if "@vocab" in local:
            self._set_vocab(local["@vocab"], chain)
        if "@language" in local:
            language = local["@language"]
            if not (language is None or isinstance(language, str)):
                raise BadRequestData(f"@language must be a language tag or null, not {_describe(language)}")
            self.language = language
        definer = _Definer(self, local, local.get("@protected", False), chain)
        for term in local:
            definer.define(term)

    def _import(self, local: dict[str, Any], chain: tuple[str, ...]) -> dict[str, Any]:
        url = local["@import"]
        if not isinstance(url, str):
            raise BadRequestData(f"@import must be a URL, not {_describe(url)}" + _where(chain))
        if url in CORE_CONTEXT_URLS:
            imported = _core_body()
        else:
            imported = self._load(url, chain)
        if not isinstance(imported, dict):
            raise BadRequestData(f"The context imported from {url} must be an object, not {_describe(imported)}")
        if "@import" in imported:
            raise BadRequestData(f"The context imported from {url} must not itself contain @import")
        merged = dict(imported)
        merged.update((k, v) for k, v in local.items() if k != "@import")
        return merged

    def _set_vocab(self, value: Any, chain: tuple[str, ...]) -> None:
        if value is None:
            # NGSI-LD always has a vocabulary: back to the default one.
            self.vocab = self.base._vocab if self.base else None
            return
        if not isinstance(value, str):
            raise BadRequestData(f"@vocab must be an IRI or null, not {_describe(value)}" + _where(chain))
        iri = value if value.startswith("@") else self._expand_in(value, None, None)
        if not _is_iri_or_blank(iri):
            raise BadRequestData(f"@vocab {value!r} does not expand to an absolute IRI" + _where(chain))
        self.vocab = iri

    def _expand_in(self, value: str, definer: _Definer | None, skip: str | None) -> str:
        """IRI expansion (vocab=true) while a local context is being processed: terms of that
        local context are defined first when the value depends on them."""
        if value in KEYWORDS:
            return value
        if definer is not None and value != skip and value in definer.local:
            definer.define(value)
        if value != skip:
            term = self.terms.get(value)
            if term is not None:
                return term.iri
        colon = value.find(":", 1)
        if colon > 0 and definer is not None:
            prefix = value[:colon]
            if prefix in definer.local and not value[colon + 1:].startswith("//"):
                definer.define(prefix)
        return _expand_name(value, self.terms, self.vocab)

    def context(self, source: Any) -> Context:
        return Context(source, self.terms, self.vocab, self.language, frozenset(self.documents))


class _Definer:
    """Create Term Definition (JSON-LD 1.1 section 4.2) for the terms of one local context."""

    def __init__(self, processor: _Processor, local: dict[str, Any], protected: bool, chain: tuple[str, ...]):
        self.p = processor
        self.local = local
        self.protected = protected
        self.where = _where(chain)
        self.defined: dict[str, bool] = {}  # False while in progress: finding it again means a cycle

    def define(self, term: str) -> None:
        if term in _CONTEXT_MEMBERS:
            return  # @vocab, @version...: settings of the context, processed before its terms
        state = self.defined.get(term)
        if state is True:
            return
        if state is False:
            raise BadRequestData(f"The definition of term {term!r} depends on itself" + self.where)
        if self.p.term_depth >= MAX_TERM_DEPTH:
            raise BadRequestData(
                f"Term definitions depend on each other more than {MAX_TERM_DEPTH} levels deep, at {term!r}"
                + self.where
            )
        self.defined[term] = False
        self.p.term_depth += 1
        try:
            self._define(term, self.local[term])
        finally:
            self.p.term_depth -= 1
        self.defined[term] = True

    def _define(self, term: str, value: Any) -> None:
        p = self.p
        if term == "":
            raise BadRequestData("A @context cannot define the empty string as a term" + self.where)
        if term == "@type":
            self._check_type_keyword(value)
            return
        if term in KEYWORDS:
            raise BadRequestData(f"A @context cannot redefine the keyword {term}" + self.where)
        if _KEYWORD_FORM.match(term):
            return  # reserved for future keywords: ignored, as JSON-LD does
        if term in p.core_names:
            return  # core terms are protected and win
        if value is None:
            self._undefine(term)
            return
        if isinstance(value, str):  # the common case, kept short: most contexts are term -> IRI
            iri = self._iri_mapping(term, {"@id": value})
            if iri is None:
                self._undefine(term)
            else:
                prefix = ":" not in term and "/" not in term and iri[-1:] in _GEN_DELIMS
                self._store(term, _Term(iri, prefix, self.protected, _SIMPLE_SHAPE))
            return
        if not isinstance(value, dict):
            raise BadRequestData(
                f"The definition of term {term!r} must be an IRI, an object or null, not {_describe(value)}"
                + self.where
            )
        self._define_expanded(term, value)

    def _define_expanded(self, term: str, spec: dict[str, Any]) -> None:
        unknown = sorted(k for k in spec if k not in _TERM_MEMBERS)
        if unknown:
            raise BadRequestData(f"The definition of term {term!r} has unknown members {unknown}" + self.where)
        if "@context" in spec:  # NGSI-LD expands names one by one, outside any node a scoped context would apply to
            raise BadRequestData(f"The definition of term {term!r} holds a scoped @context, which an NGSI-LD "
                                 "@context shall not contain (clause 5.5.7)" + self.where)
        protected = spec.get("@protected", self.protected)
        if not isinstance(protected, bool):
            raise BadRequestData(f"@protected of term {term!r} must be true or false" + self.where)

        iri = self._iri_mapping(term, spec)
        if iri is None:
            self._undefine(term)
            return
        type_mapping = self._type_mapping(term, spec)
        container = self._container(term, spec)
        for key, allowed in (("@language", (str, type(None))), ("@nest", str), ("@index", str)):
            if key in spec and not isinstance(spec[key], allowed):
                raise BadRequestData(f"{key} of term {term!r} has a wrong type: {_describe(spec[key])}" + self.where)
        if "@direction" in spec and spec["@direction"] not in (None, "ltr", "rtl"):
            raise BadRequestData(f'@direction of term {term!r} must be "ltr", "rtl" or null' + self.where)

        if "@prefix" in spec:
            prefix = spec["@prefix"]
            if not isinstance(prefix, bool):
                raise BadRequestData(f"@prefix of term {term!r} must be true or false" + self.where)
            if ":" in term or "/" in term:
                raise BadRequestData(f"Term {term!r} contains ':' or '/' and cannot be a prefix" + self.where)
            if prefix and iri.startswith("@"):
                raise BadRequestData(f"Term {term!r} aliases a keyword and cannot be a prefix" + self.where)
        else:
            prefix = False  # only simple terms become prefixes implicitly

        shape = (type_mapping, container, spec.get("@language", ...), spec.get("@direction", ...),
                 "@reverse" in spec, spec.get("@nest"), spec.get("@index"))
        self._store(term, _Term(iri, prefix, protected, shape))

    def _store(self, term: str, new: _Term) -> None:
        previous = self.p.terms.get(term)
        if previous is not None and previous.protected and not previous.same_as(new):
            raise BadRequestData(f"The protected term {term!r} cannot be redefined" + self.where)
        self.p.terms[term] = new

    def _undefine(self, term: str) -> None:
        # A term mapped to null names nothing: the name falls back to the vocabulary again.
        previous = self.p.terms.get(term)
        if previous is not None and previous.protected:
            raise BadRequestData(f"The protected term {term!r} cannot be cleared" + self.where)
        self.p.terms.pop(term, None)

    def _check_type_keyword(self, value: Any) -> None:
        # JSON-LD 1.1 lets a context say only that @type values are sets.
        if not (isinstance(value, dict) and value and set(value) <= {"@container", "@protected"}
                and value.get("@container", "@set") == "@set"):
            raise BadRequestData('The keyword @type can only be given {"@container": "@set"}' + self.where)

    def _iri_mapping(self, term: str, spec: dict[str, Any]) -> str | None:
        """The IRI the term stands for; None when the term names nothing."""
        p = self.p
        if "@reverse" in spec:
            if "@id" in spec or "@nest" in spec:
                raise BadRequestData(f"Term {term!r} cannot have @reverse with @id or @nest" + self.where)
            target = spec["@reverse"]
            if not isinstance(target, str):
                raise BadRequestData(f"@reverse of term {term!r} must be an IRI, not {_describe(target)}" + self.where)
            iri = p._expand_in(target, self, None)
            if not _is_iri_or_blank(iri):
                raise BadRequestData(f"@reverse of term {term!r} is not an IRI: {target!r}" + self.where)
            return iri
        if "@id" in spec and spec["@id"] != term:
            target = spec["@id"]
            if target is None:
                return None
            if not isinstance(target, str):
                raise BadRequestData(f"@id of term {term!r} must be an IRI, not {_describe(target)}" + self.where)
            if target in KEYWORDS:
                if target == "@context":
                    raise BadRequestData(f"Term {term!r} cannot alias @context" + self.where)
                return target
            if _KEYWORD_FORM.match(target):
                return None  # a reserved keyword form: ignored, as JSON-LD does
            iri = p._expand_in(target, self, None)
            if not (iri in KEYWORDS or _is_iri_or_blank(iri)):
                raise BadRequestData(f"Term {term!r} maps to {target!r}, which is not an IRI" + self.where)
            if (":" in term[1:-1] or "/" in term) and p._expand_in(term, self, term) != iri:
                # A term that looks like an IRI must mean that IRI, or expansion would be ambiguous.
                raise BadRequestData(
                    f"Term {term!r} looks like an IRI but maps to another IRI, {iri!r}" + self.where
                )
            return iri
        if ":" in term[1:]:
            iri = p._expand_in(term, self, term)
        elif "/" in term or p.vocab is not None:
            iri = _expand_name(term, {}, p.vocab)
        else:
            raise BadRequestData(f"Term {term!r} has no IRI and there is no @vocab to give it one" + self.where)
        if not _is_iri_or_blank(iri):
            raise BadRequestData(f"Term {term!r} does not expand to an absolute IRI" + self.where)
        return iri

    def _type_mapping(self, term: str, spec: dict[str, Any]) -> str | None:
        if "@type" not in spec:
            return None
        value = spec["@type"]
        if not isinstance(value, str):
            raise BadRequestData(f"@type of term {term!r} must be a string, not {_describe(value)}" + self.where)
        mapping = value if value.startswith("@") else self.p._expand_in(value, self, None)
        if mapping not in _TYPE_KEYWORDS and not _is_absolute(mapping):
            raise BadRequestData(
                f"@type of term {term!r} must be @id, @vocab, @json, @none or an IRI, not {value!r}" + self.where
            )
        return mapping

    def _container(self, term: str, spec: dict[str, Any]) -> tuple[str, ...]:
        if "@container" not in spec:
            return ()
        value = spec["@container"]
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) and v in _CONTAINERS for v in values):
            raise BadRequestData(
                f"@container of term {term!r} must be among {sorted(_CONTAINERS)}, not {value!r}" + self.where
            )
        return tuple(sorted(values))


def _describe(value: Any) -> str:
    kind = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kind.get(type(value), "a number") + f" ({orjson.dumps(value, default=repr)[:60].decode(errors='replace')})"


def _where(chain: Iterable[str]) -> str:
    chain = tuple(chain)
    return f" (in the @context at {chain[-1]})" if chain else ""


# -- the core context ---------------------------------------------------------------------------

_core_bytes: bytes | None = None
_core: Context | None = None


def _core_raw() -> bytes:
    global _core_bytes
    if _core_bytes is None:
        _core_bytes = (resources.files(__package__) / "contexts" / _CORE_FILE).read_bytes()
    return _core_bytes


def _core_body() -> dict[str, Any]:
    return orjson.loads(_core_raw())["@context"]


def core_context_document() -> dict[str, Any]:
    """The bundled core context document, ``{"@context": {...}}`` (read once; each call gets its own copy)."""
    return orjson.loads(_core_raw())


def _core_context() -> Context:
    global _core
    if _core is None:
        processor = _Processor(None, None)
        processor.process(_core_body())
        _core = processor.context(None)
    return _core


# -- compilation and its cache ------------------------------------------------------------------

_cache: OrderedDict[bytes, Context] = OrderedDict()
_lock = threading.Lock()
_generation = 0  # bumped by forget() and clear_cache(): a compilation begun before is not cached


def compile_context(value: Any, resolve: Resolver, *, scope: str = "") -> Context:
    """Compile a @context value (a URL, an object, an array of those, or None/[] for the core
    context alone) into a :class:`Context`. Compiling an equal value again is a cache lookup.

    ``scope`` partitions the cache: documents behind one URL may differ between scopes (the
    broker passes the tenant, whose stored contexts only it may resolve).

    Raises BadRequestData for a malformed context, LdContextNotAvailable when a remote
    document cannot be retrieved.
    """
    if value is None:
        return _core_context()
    try:
        key = scope.encode() + b"\0" + orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:
        raise BadRequestData(f"The @context is not a JSON value: {exc}") from None
    with _lock:
        context = _cache.get(key)
        if context is not None:
            _cache.move_to_end(key)
            return context
        generation = _generation
    source = orjson.loads(orjson.dumps(value))  # our own copy: the caller may reuse theirs
    processor = _Processor(_core_context(), resolve)
    processor.process(source)
    context = processor.context(source)
    with _lock:
        if generation == _generation:
            _cache[key] = context
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return context


def forget(url: str) -> None:
    """Drop every cached compiled context that used the document at ``url`` (it changed or is gone)."""
    global _generation
    with _lock:
        _generation += 1
        for key in [key for key, context in _cache.items() if url in context._urls]:
            del _cache[key]


def clear_cache() -> None:
    """Drop every cached compiled context."""
    global _generation
    with _lock:
        _generation += 1
        _cache.clear()
