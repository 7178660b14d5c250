"""What a listing, a search page or an export of project records selects.

A filter names codes of a controlled vocabulary (or région / département codes); several codes
of one filter are alternatives (OR), several filters must all hold (AND). Each filter is a facet
of the records' text index (``broker.text_index.PROJECTS``), so that selecting, counting and
paging happen in the database, with or without a text to search.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from territoires.ngsild.errors import BadRequestData
from territoires.observatoire import vocabularies as vocab
from territoires.observatoire.codes import valid_departement_code, valid_region_code


def _region(code: str, where: str) -> None:
    if not valid_region_code(code):
        raise BadRequestData(f"{where}: {code!r} is not a région code (2 digits, e.g. 53)")


def _departement(code: str, where: str) -> None:
    if not valid_departement_code(code):
        raise BadRequestData(f"{where}: {code!r} is not a département code (e.g. 35, 2A, 974)")


@dataclass(frozen=True)
class Filter:
    facet: str                               # the facet of the text index it selects on
    check: Callable[[str, str], object]      # (code, parameter): refuses a bad code with BadRequestData


# API parameter -> its facet. The names of the JSON API (singular, as its other parameters).
FILTERS: dict[str, Filter] = {
    "domain": Filter("domains", vocab.DOMAINS.check),
    "useCase": Filter("useCases", vocab.USE_CASES.check),
    "status": Filter("status", vocab.STATUSES.check),
    "carrierKind": Filter("carrierKind", vocab.CARRIER_KINDS.check),
    "typology": Filter("typology", vocab.TYPOLOGIES.check),
    "populationBand": Filter("populationBand", vocab.POPULATION_BAND_VOCABULARY.check),
    "region": Filter("region", _region),
    "departement": Filter("departement", _departement),
    "funding": Filter("fundingSources", vocab.FUNDING_SOURCES.check),
    "connectivity": Filter("connectivity", vocab.CONNECTIVITY.check),
    "standard": Filter("standards", vocab.STANDARDS.check),
    "procurement": Filter("procurement", vocab.PROCUREMENT.check),
    "label": Filter("labels", vocab.LABELS.check),
}
MAX_CODES = 100  # codes accepted by one filter (the text index's bound)


@dataclass(frozen=True)
class ProjectFilters:
    """``chosen``: API filter name -> accepted codes; ``moderation``: which records (published,
    or drafts for those who may see them); ``q``: French text to search."""

    chosen: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    moderation: str = "published"
    q: str | None = None

    @classmethod
    def of(cls, params: Any, *, ignore: tuple[str, ...] = ()) -> ProjectFilters:
        """From query parameters (a mapping, or a multi-mapping with ``getlist`` whose
        repeated parameters add codes; ``a,b`` also gives two). Unknown parameters and codes
        are BadRequestData naming them."""
        known = {*FILTERS, "moderation", "q"}
        unknown = sorted(set(params) - known - set(ignore))
        if unknown:
            raise BadRequestData(f"unknown parameter(s) {', '.join(unknown)}; filters are {', '.join(sorted(known))}")
        chosen: dict[str, tuple[str, ...]] = {}
        for name, how in FILTERS.items():
            given = params.getlist(name) if hasattr(params, "getlist") else [params[name]] if name in params else []
            codes = tuple(dict.fromkeys(code.strip() for item in given for code in item.split(",") if code.strip()))
            if given and not codes:
                raise BadRequestData(f"{name}: no code given")
            if len(codes) > MAX_CODES:
                raise BadRequestData(f"{name}: at most {MAX_CODES} codes, not {len(codes)}")
            for code in codes:
                how.check(code, name)
            if codes:
                chosen[name] = codes
        moderation = params.get("moderation", "published")
        vocab.MODERATION.check(moderation, "moderation")
        text = params.get("q")
        if text is not None and not text.strip():
            raise BadRequestData("q: the text to search is empty")
        return cls(chosen, moderation, text)

    def params(self) -> list[tuple[str, str]]:
        """These filters as the JSON API's query parameters (``of`` reads them back)."""
        items = [("q", self.q)] if self.q else []
        items += [(name, ",".join(codes)) for name, codes in self.chosen.items()]
        return items + ([("moderation", self.moderation)] if self.moderation != "published" else [])

    def facets(self) -> dict[str, tuple[str, ...]]:
        """The text index's facet filters of these filters (the moderation state included)."""
        return {**{FILTERS[name].facet: codes for name, codes in self.chosen.items()}, "moderation": (self.moderation,)}
