"""The likelihood × impact matrix: configurable size and labels (NL/EN), score bands, and the
heat map (how many risks sit in each cell, inherent beside residual)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from soc.core.settings import Settings

Band = Literal["low", "medium", "high", "critical"]
BANDS: tuple[Band, ...] = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Matrix:
    """`likelihood` and `impact`: labels per level (1 = lowest), each `{"en": .., "nl": ..}`;
    `bands`: the lowest score of medium, high and critical."""

    likelihood: tuple[dict[str, str], ...]
    impact: tuple[dict[str, str], ...]
    bands: tuple[int, int, int]

    def check(self, likelihood: int, impact: int) -> None:
        if not 1 <= likelihood <= len(self.likelihood):
            raise ValueError(f"likelihood must be 1..{len(self.likelihood)}")
        if not 1 <= impact <= len(self.impact):
            raise ValueError(f"impact must be 1..{len(self.impact)}")

    def score(self, likelihood: int, impact: int) -> int:
        self.check(likelihood, impact)
        return likelihood * impact

    def band(self, score: int) -> Band:
        medium, high, critical = self.bands
        if score >= critical:
            return "critical"
        if score >= high:
            return "high"
        return "medium" if score >= medium else "low"

    def label(self, axis: Literal["likelihood", "impact"], level: int, lang: str) -> str:
        labels = self.likelihood if axis == "likelihood" else self.impact
        entry = labels[level - 1]
        return entry.get(lang) or entry.get("en") or str(level)


@dataclass(frozen=True)
class Cell:
    likelihood: int
    impact: int
    score: int
    band: Band
    count: int


def heat_map(matrix: Matrix, points: Iterable[tuple[int, int]]) -> list[list[Cell]]:
    """Rows from the highest likelihood down, columns from the lowest impact up (as drawn)."""
    counts: dict[tuple[int, int], int] = {}
    for point in points:
        counts[point] = counts.get(point, 0) + 1
    return [
        [
            Cell(like, imp, like * imp, matrix.band(like * imp), counts.get((like, imp), 0))
            for imp in range(1, len(matrix.impact) + 1)
        ]
        for like in range(len(matrix.likelihood), 0, -1)
    ]


def matrix_from(settings: Settings) -> Matrix:
    medium, high, critical = settings.risk_matrix_bands
    return Matrix(
        likelihood=tuple(settings.risk_matrix_likelihood),
        impact=tuple(settings.risk_matrix_impact),
        bands=(medium, high, critical),
    )
