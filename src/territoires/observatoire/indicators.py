"""The observatory's indicator vocabulary: the key performance indicators a project's outcomes
and a diagnostic's recommendations name.

The list is ``data/indicators.csv``, made from the international references in public use
(ITU U4SSC key performance indicators for smart sustainable cities, ISO 37120 and ISO 37122):
each row keeps its reference and whether that reference was checked against the source text
(``reference_status``). Domains are the codes of ``vocabularies.DOMAINS``; ``unit_code`` is the
UN/CEFACT code where one fits (P1: percent), empty otherwise.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Indicator:
    num: int
    domain: str              # a vocabularies.DOMAINS code
    name: str                # French, what pages show
    name_en: str
    unit: str                # French
    unit_en: str
    unit_code: str | None    # UN/CEFACT common code, when one fits
    reference: str           # U4SSC / ISO 37120 / ISO 37122 clauses
    reference_status: str    # "verified…" or "to verify"


def _load() -> tuple[Indicator, ...]:
    text = resources.files("territoires.observatoire").joinpath("data/indicators.csv").read_text("utf-8")
    return tuple(
        Indicator(int(row["num"]), row["domain"], row["indicateur"], row["indicator"], row["unite"], row["unit"],
                  row["unit_code"] or None, row["reference"], row["reference_status"])
        for row in csv.DictReader(text.splitlines()))


INDICATORS: tuple[Indicator, ...] = _load()
_BY_NUM = {item.num: item for item in INDICATORS}


def indicator(num: int) -> Indicator:
    """The indicator numbered ``num``; KeyError when there is none."""
    return _BY_NUM[num]


def for_domain(domain: str) -> tuple[Indicator, ...]:
    """The indicators of a domain (a vocabularies.DOMAINS code), in vocabulary order."""
    return tuple(item for item in INDICATORS if item.domain == domain)
