"""The registry of French territories: current communes, EPCI, départements and régions.

Read from ``data/territories.json.gz``, which ``scripts/build-territories`` derives from the
npm package @etalab/decoupage-administratif (INSEE, DGCL; Licence Ouverte 2.0), with
approximate coordinates from GeoNames (CC BY 4.0). Offline: nothing is fetched at run time.

Membership runs commune → EPCI → département → région. An EPCI may span several
départements and régions; a few island communes belong to no EPCI.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import gc
import gzip
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from importlib import resources

import orjson

from territoires.ngsild.errors import BadRequestData, InternalError, ResourceNotFound
from territoires.observatoire.codes import (
    valid_departement_code,
    valid_insee_commune,
    valid_region_code,
    valid_siren,
)
from territoires.observatoire.names import fold

# From the smallest to the largest.
KINDS: tuple[str, ...] = ("commune", "epci", "departement", "region")

# DGCL's legal forms of EPCI with their own taxation, as stored in ``Territory.epci_kind``.
EPCI_KIND_LABELS: dict[str, str] = {
    "CC": "Communauté de communes",
    "CA": "Communauté d'agglomération",
    "CU": "Communauté urbaine",
    "METRO": "Métropole",
    "MET69": "Métropole de Lyon",
}

_DATA_FORMAT = 1
_DEFAULT_CHILDREN = {"region": "departement", "departement": "commune", "epci": "commune"}
_CODE_SHAPES = {
    "commune": (valid_insee_commune, "an INSEE commune code: 5 characters, digits or 2A/2B then 3 digits"),
    "epci": (valid_siren, "an EPCI SIREN: 9 digits with a valid check digit"),
    "departement": (valid_departement_code, "a département code: 01 to 95, 2A, 2B, 971 to 978 or 984 to 989"),
    "region": (valid_region_code, "a région code: 2 digits, or 3 for an overseas collectivity"),
}


# Not slotted: see _territories.
@dataclass(frozen=True)
class Territory:
    kind: str  # one of KINDS
    code: str  # INSEE code; an EPCI's is its SIREN
    name: str
    siren: str | None  # communes and EPCI; départements and régions have none in the source
    population: int | None  # municipal population; None where INSEE publishes none (TAAF)
    population_year: int | None  # the millésime it is in force for (2017 for Mayotte's census)
    band: str | None  # code of its population band (territoires.observatoire.bands)
    epci: str | None  # communes: SIREN of their EPCI, if any
    departements: tuple[str, ...]  # communes and EPCI: the départements they lie in
    regions: tuple[str, ...]  # communes, EPCI and départements: their régions
    epci_kind: str | None  # EPCI: a key of EPCI_KIND_LABELS
    lat: float | None  # approximate (3 decimals, WGS 84); None where no source gives one
    lon: float | None

    @property
    def departement(self) -> str | None:
        """The one département of a commune (or of an EPCI within one); None otherwise."""
        return self.departements[0] if len(self.departements) == 1 else None

    @property
    def region(self) -> str | None:
        """The one région of a commune, département or EPCI within one; None otherwise."""
        return self.regions[0] if len(self.regions) == 1 else None


@dataclass(frozen=True, slots=True)
class Provenance:
    package: str  # the npm package the data comes from
    version: str
    millesime: int  # the year the package states for its data
    attribution: str  # French, to show wherever the data is shown
    coordinates_attribution: str | None  # French; None when the file holds no coordinates


def urn(territory: Territory) -> str:
    """The NGSI-LD identifier of a territory entity: ``urn:ngsi-ld:Territory:<kind>:<code>``."""
    return f"urn:ngsi-ld:Territory:{territory.kind}:{territory.code}"


class TerritoryRegistry:
    """Look-ups over the territories; immutable once built."""

    def __init__(self, territories: Iterable[Territory], provenance: Provenance) -> None:
        self.provenance = provenance
        self._by_kind: dict[str, list[Territory]] = {kind: [] for kind in KINDS}
        self._by_key: dict[tuple[str, str], Territory] = {}
        self._by_siren: dict[str, Territory] = {}
        for territory in territories:
            self._by_kind[territory.kind].append(territory)
            self._by_key[territory.kind, territory.code] = territory
            if territory.siren:
                self._by_siren[territory.siren] = territory

    @classmethod
    def load(cls) -> TerritoryRegistry:
        """The registry shipped in the package, read once per process."""
        return _shipped_registry()

    def get(self, kind: str, code: str) -> Territory:
        """The territory of that kind and code; BadRequestData for a malformed code, ResourceNotFound if none."""
        _check_kind(kind)
        code = code.strip().upper()
        is_valid, shape = _CODE_SHAPES[kind]
        if not is_valid(code):
            raise BadRequestData(f"'{code}' is not {shape}")
        territory = self._by_key.get((kind, code))
        if territory is None:
            raise ResourceNotFound(
                f"no {kind} has code {code} in the territory registry (millésime {self.provenance.millesime})")
        return territory

    def commune(self, code: str) -> Territory:
        return self.get("commune", code)

    def by_siren(self, siren: str) -> Territory:
        """The commune or EPCI with that SIREN."""
        siren = siren.strip().replace(" ", "")
        if len(siren) != 9 or not siren.isascii() or not siren.isdigit():
            raise BadRequestData(f"'{siren}' is not a SIREN: a SIREN is 9 digits")
        if not valid_siren(siren):
            raise BadRequestData(f"'{siren}' is not a SIREN: its check digit (Luhn) is wrong")
        territory = self._by_siren.get(siren)
        if territory is None:
            raise ResourceNotFound(
                f"no commune or EPCI has SIREN {siren} in the territory registry "
                f"(millésime {self.provenance.millesime})")
        return territory

    def territories(self, kind: str) -> list[Territory]:
        """Every territory of one kind, by code."""
        _check_kind(kind)
        return list(self._by_kind[kind])

    def children(self, territory: Territory, kind: str | None = None) -> list[Territory]:
        """The territories of ``kind`` within ``territory``, by code.

        By default a région's départements, a département's or an EPCI's communes; a commune
        has none. ``kind`` chooses another level below: a région's communes, a département's
        EPCI (those with at least one commune in it).
        """
        if kind is None:
            kind = _DEFAULT_CHILDREN.get(territory.kind)
            if kind is None:
                return []
        _check_kind(kind)
        if KINDS.index(kind) >= KINDS.index(territory.kind):
            raise BadRequestData(f"a {territory.kind} has no {kind} within it: choose a smaller kind")
        return list(self._members.get((territory.kind, territory.code, kind), ()))

    def ancestors(self, territory: Territory) -> list[Territory]:
        """From the nearest up: a commune's EPCI (if any), département and région; an EPCI's
        départements then régions; a département's région."""
        return [self._by_key[key] for key in _ancestor_keys(territory)]

    def search(self, text: str, limit: int = 10, kind: str | None = None) -> list[Territory]:
        """Territories whose name, or a word of it, starts with ``text``, ignoring accents, case
        and punctuation ("saint etienne" finds Saint-Étienne). Exact names first, then names
        that start with the text, then the rest; the most populous first within each."""
        if limit < 1:
            raise BadRequestData(f"limit must be at least 1, not {limit}")
        if kind is not None:
            _check_kind(kind)
        query = fold(text)
        if not query:
            return []
        keys, entries = self._search_index
        best: dict[int, tuple[bool, bool]] = {}
        position = bisect.bisect_left(keys, query)
        while position < len(keys) and keys[position].startswith(query):
            index, inner = entries[position]
            rank = (keys[position] != query or inner, inner)  # exact name, then name prefix
            if index not in best or rank < best[index]:
                best[index] = rank
            position += 1
        order = self._search_order
        found = [index for index in best if kind is None or order[index][0].kind == kind]
        found.sort(key=lambda index: (best[index], -(order[index][0].population or 0), order[index][1], index))
        return [order[index][0] for index in found[:limit]]

    def totals(self) -> dict[str, int]:
        return {kind: len(self._by_kind[kind]) for kind in KINDS}

    def __iter__(self) -> Iterator[Territory]:
        for kind in KINDS:
            yield from self._by_kind[kind]

    @functools.cached_property
    def _members(self) -> dict[tuple[str, str, str], tuple[Territory, ...]]:
        with _cyclic_gc_paused():
            members: dict[tuple[str, str, str], list[Territory]] = defaultdict(list)
            for territory in self:
                for ancestor_kind, ancestor_code in _ancestor_keys(territory):
                    members[ancestor_kind, ancestor_code, territory.kind].append(territory)
            return {key: tuple(sorted(found, key=lambda t: t.code)) for key, found in members.items()}

    @functools.cached_property
    def _search_order(self) -> list[tuple[Territory, str]]:
        """Every territory with its folded name; ties in a search fall back to this order."""
        return [(territory, fold(territory.name)) for territory in self]

    @functools.cached_property
    def _search_index(self) -> tuple[list[str], list[tuple[int, bool]]]:
        """Every word-start suffix of every folded name, sorted, for prefix look-ups by bisection."""
        with _cyclic_gc_paused():
            suffixes: list[str] = []
            entries: list[tuple[int, bool]] = []
            for index, (_, folded) in enumerate(self._search_order):
                start = 0
                while start >= 0:
                    suffixes.append(folded[start:])
                    entries.append((index, start > 0))
                    start = folded.find(" ", start)
                    start = start + 1 if start >= 0 else -1
            order = sorted(range(len(suffixes)), key=suffixes.__getitem__)
            return [suffixes[i] for i in order], [entries[i] for i in order]


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise BadRequestData(f"unknown territory kind '{kind}': expected one of {', '.join(KINDS)}")


def _ancestor_keys(territory: Territory) -> list[tuple[str, str]]:
    keys = [("epci", territory.epci)] if territory.epci else []
    return keys + [("departement", code) for code in territory.departements] + [
        ("region", code) for code in territory.regions]


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Building the registry or an index allocates hundreds of thousands of objects and no
    reference cycle: the cyclic collector, run again and again over them, would take half the time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@functools.cache
@_cyclic_gc_paused()
def _shipped_registry() -> TerritoryRegistry:
    packed = (resources.files(__package__) / "data" / "territories.json.gz").read_bytes()
    data = orjson.loads(gzip.decompress(packed))
    if data.get("format") != _DATA_FORMAT:
        raise InternalError(
            f"the territory data file has format {data.get('format')!r}, this code reads format {_DATA_FORMAT}: "
            "regenerate it with scripts/build-territories")
    source, coordinates = data["source"], data["coordinates"]
    provenance = Provenance(
        package=source["package"], version=source["version"], millesime=source["millesime"],
        attribution=source["attribution"],
        coordinates_attribution=coordinates["attribution"] if coordinates else None)
    return TerritoryRegistry(_territories(data["territories"]), provenance)


def _territories(columns_by_kind: dict[str, dict[str, list]]) -> Iterator[Territory]:
    # A frozen dataclass's __init__ sets each field through object.__setattr__: that took two
    # thirds of the load time for 36,359 territories. Filling each instance's dict directly
    # makes the same objects (equality, hashing and repr read the fields) three times faster.
    names = [field.name for field in fields(Territory)]
    tuples = ("departements", "regions")
    new = object.__new__
    for kind in KINDS:
        columns = columns_by_kind[kind]
        values = [[kind] * len(columns["code"])] + [
            [tuple(item) for item in columns[name]] if name in tuples else columns[name] for name in names[1:]]
        for row in zip(*values, strict=True):
            territory = new(Territory)
            territory.__dict__.update(zip(names, row))
            yield territory
