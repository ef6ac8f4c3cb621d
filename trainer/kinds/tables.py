"""Result tables as plain data: a page, a CSV, a JSON export and the CLI all read the same Table.

Means are over seeds with the sample standard deviation (n - 1), which is None for a
single value. Accuracies are in percent, as in the paper.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float | None
    n: int

    @classmethod
    def of(cls, values: Iterable) -> "Stat | None":
        values = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if not values:
            return None
        return cls(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values))

    @classmethod
    def paper(cls, pair) -> "Stat":
        """A (mean, std) the paper reports over its 5 trials."""
        return cls(pair[0], pair[1], 5)

    def __str__(self):
        digits = _digits(self.mean)
        return f"{self.mean:.{digits}f}" + (f" ± {self.std:.{digits}f}" if self.std is not None else "")

    def to_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "n": self.n}


def _digits(value: float) -> int:
    return 2 if abs(value) >= 0.1 else 4


def cell(value) -> str:
    """A table cell as the page and the CLI print it: floats as Stat prints means; exports keep full precision."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{_digits(value)}f}"
    return str(value)


def pct(value) -> float | None:
    return None if value is None else 100 * value


def rounded_pct(fraction) -> float | None:
    """A fraction as a percentage to two decimals, as a table of single values shows it."""
    return None if fraction is None else round(100 * fraction, 2)


def value_of(v):
    """A cell's number: a Stat's mean, or the value itself."""
    return v.mean if isinstance(v, Stat) else v


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    columns: list[tuple[str, str]]  # (key, label)
    rows: list[dict[str, Any]]
    note: str = ""
    links: dict[int, int] = field(default_factory=dict)  # row index -> the id of the analysis it shows

    def cells(self) -> list[list[str]]:
        return [[cell(row.get(k)) for k, _ in self.columns] for row in self.rows]

    def column(self, key: str) -> list:
        return [row.get(key) for row in self.rows]

    def to_dict(self) -> dict:
        def plain(v):
            return v.to_dict() if isinstance(v, Stat) else v
        return {"key": self.key, "title": self.title, "columns": [label for _, label in self.columns],
                "keys": [k for k, _ in self.columns], "note": self.note,
                "rows": [{k: plain(row.get(k)) for k, _ in self.columns} for row in self.rows]}

    def csv_rows(self) -> list[list]:
        stat_columns = {k for k, _ in self.columns if any(isinstance(r.get(k), Stat) for r in self.rows)}
        header: list = []
        for k, label in self.columns:
            header += [label, f"{label} std"] if k in stat_columns else [label]
        lines = []
        for row in self.rows:
            line: list = []
            for k, _ in self.columns:
                v = row.get(k)
                if k in stat_columns:
                    line += [v.mean, v.std] if isinstance(v, Stat) else ["", ""]
                else:
                    line.append("" if v is None else v)
            lines.append(line)
        return [header] + lines

    def text(self) -> str:
        """The table as aligned text, for a terminal."""
        labels = [label for _, label in self.columns]
        rows = self.cells()
        widths = [max(len(label), *(len(r[i]) for r in rows)) if rows else len(label) for i, label in enumerate(labels)]
        lines = [self.title, "  ".join(label.ljust(w) for label, w in zip(labels, widths)).rstrip()]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
        if not rows:
            lines.append("(no finished runs)")
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)
