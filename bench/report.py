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


def table(rows: list[Row]) -> str:
    """The rows as an aligned text table."""
    header = ("benchmark", "figure", "unit", "limit", "ratio", "target", "met?")
    met_text = {True: "yes", False: "NO", None: "-"}
    lines = [
        (r.name, _number(r.figure, r.unit), r.unit, _number(r.limit, r.unit), _ratio(r), _target(r), met_text[r.met])
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in [header, *lines]) for i in range(len(header))]
    # Names and units read left-aligned, numbers right-aligned.
    left = {0, 2, 5, 6}

    def render(cells: tuple[str, ...]) -> str:
        padded = (c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([render(header), rule, *(render(line) for line in lines)])
