"""Population bands (strates de population): the one place they are defined.

The strata of French barometers of smart territories (the observatory's project record):
< 3.5k, 3.5–10k, 10–20k, 20–50k, 50–100k, 100–200k, > 200k inhabitants. Each band is a half-open
interval [low, high) of inhabitants; the last one has no upper bound. The build script
stores each territory's band with it, and the registry checks nothing else decides it.
"""

from __future__ import annotations

from dataclasses import dataclass

from territoires.ngsild.errors import BadRequestData


@dataclass(frozen=True, slots=True)
class PopulationBand:
    code: str
    low: int
    high: int | None  # exclusive; None for the open-ended top band
    label: str  # French, as a person reads it

    def contains(self, population: int) -> bool:
        return population >= self.low and (self.high is None or population < self.high)


POPULATION_BANDS: tuple[PopulationBand, ...] = (
    PopulationBand("0-3499", 0, 3_500, "moins de 3 500 habitants"),
    PopulationBand("3500-9999", 3_500, 10_000, "de 3 500 à 9 999 habitants"),
    PopulationBand("10000-19999", 10_000, 20_000, "de 10 000 à 19 999 habitants"),
    PopulationBand("20000-49999", 20_000, 50_000, "de 20 000 à 49 999 habitants"),
    PopulationBand("50000-99999", 50_000, 100_000, "de 50 000 à 99 999 habitants"),
    PopulationBand("100000-199999", 100_000, 200_000, "de 100 000 à 199 999 habitants"),
    PopulationBand("200000+", 200_000, None, "200 000 habitants et plus"),
)

BANDS_BY_CODE: dict[str, PopulationBand] = {band.code: band for band in POPULATION_BANDS}


def population_band(population: int | None) -> str | None:
    """The code of the band holding ``population``; None when the population is unknown."""
    if population is None:
        return None
    if population < 0:
        raise BadRequestData(f"a population cannot be negative: {population}")
    for band in POPULATION_BANDS:
        if band.contains(population):
            return band.code
    raise AssertionError("the bands cover every non-negative population")
