"""Benchmark figures: one row each, printed as a table and saved as JSON."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Row:
    """One figure, the limit it is compared with (measured in the same run) and its target.

    ``ratio`` is figure / limit. For throughputs (higher is better) it is the share of the
    limit reached; for latencies and memory (lower is better) it is how many times the limit.
    """

    name: str
    figure: float
    unit: str
    limit: float | None = None
    higher_is_better: bool = True
    target: float | None = None
    # A second target on the ratio itself (e.g. at least 40 % of the raw insert rate).
    target_ratio: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.limit is None or self.limit == 0 or math.isnan(self.figure):
            return None
        return self.figure / self.limit

    @property
    def met(self) -> bool | None:
        """Whether every target holds; None when the row has no target."""
        if self.target is None and self.target_ratio is None:
            return None
        if math.isnan(self.figure):
            return False
        checks = []
        if self.target is not None:
            checks.append(self.figure >= self.target if self.higher_is_better else self.figure <= self.target)
        if self.target_ratio is not None:
            ratio = self.ratio
            checks.append(ratio is not None and ratio >= self.target_ratio)
        return all(checks)

    def to_json(self) -> dict[str, Any]:
        return dict(asdict(self), ratio=self.ratio, met=self.met)


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if math.isnan(value):
        return "n/a"
    if unit == "ms":
        return f"{value:.2f}" if value < 10 else f"{value:.1f}"
    if unit == "MB":
        return f"{value:.0f}"
    return f"{value:,.0f}"


def _ratio(row: Row) -> str:
    ratio = row.ratio
    if ratio is None:
        return "-"
    return f"{ratio:.0%}" if row.higher_is_better else f"x{ratio:.1f}"


def _target(row: Row) -> str:
    parts = []
    if row.target is not None:
        parts.append(("≥ " if row.higher_is_better else "≤ ") + _number(row.target, row.unit))
    if row.target_ratio is not None:
        parts.append(f"≥ {row.target_ratio:.0%} of limit")
    return " and ".join(parts) or "-"


_MET = {True: "yes", False: "NO", None: "-"}
_GROUP = ("figure", "limit", "ratio", "met?")


def _merged_names(groups: list[list[Row]]) -> list[str]:
    """Every row name once, in run order: a name only some groups have comes after the name
    it follows in them."""
    names: list[str] = []
    for rows in groups:
        previous = -1
        for row in rows:
            if row.name not in names:
                names.insert(previous + 1, row.name)
            previous = names.index(row.name)
    return names


def _group_cells(row: Row | None) -> tuple[str, ...]:
    if row is None:
        return ("-",) * len(_GROUP)
    return _number(row.figure, row.unit), _number(row.limit, row.unit), _ratio(row), _MET[row.met]


def _targets(titles: list[str], rows: list[Row | None]) -> str:
    """The row's target, or each group's where they differ."""
    found = [(title, _target(row)) for title, row in zip(titles, rows, strict=True) if row is not None]
    if len({text for _, text in found}) == 1:
        return found[0][1]
    return "; ".join(f"{title}: {text}" for title, text in found)


def table(groups: dict[str, list[Row]]) -> str:
    """The rows of each group (a backend) side by side, matched by name, as an aligned text table:
    the name and unit, then figure, limit, ratio and met? under each group's title, then the target."""
    names = _merged_names(list(groups.values()))
    if not names:
        return "no figures"
    titles = list(groups)
    indexes = [{row.name: row for row in rows} for rows in groups.values()]
    header = ("benchmark", "unit", *(_GROUP * len(titles)), "target")
    lines = []
    for name in names:
        rows = [index.get(name) for index in indexes]
        unit = next(row.unit for row in rows if row is not None)
        lines.append((name, unit, *(cell for row in rows for cell in _group_cells(row)), _targets(titles, rows)))
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    # Names, units, verdicts and targets read left-aligned, numbers right-aligned.
    left = {0, 1, len(header) - 1} | {2 + len(_GROUP) * g + 3 for g in range(len(titles))}

    def render(cells: tuple[str, ...]) -> str:
        padded = (c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded).rstrip()

    def title_line() -> str:
        spans = [" " * (widths[0] + 2 + widths[1])]
        for g, title in enumerate(titles):
            span = sum(widths[2 + len(_GROUP) * g: 2 + len(_GROUP) * (g + 1)]) + 2 * (len(_GROUP) - 1)
            spans.append(f" {title} ".center(span, "-"))
        return "  ".join(spans)

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([title_line(), render(header), rule, *(render(line) for line in lines)])
