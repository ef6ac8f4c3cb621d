"""The gap table: final metrics per role as mean and sample standard deviation over seeds."""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from dashboard.models import Status

GAP_METRICS = (("train_acc", "train accuracy"), ("test_acc", "test accuracy"),
               ("train_loss", "train loss"), ("test_loss", "test loss"))


@dataclass(frozen=True)
class Cell:
    mean: float | None
    std: float | None
    n: int

    def __str__(self):
        if self.mean is None:
            return "-"
        return f"{self.mean:.4f} ± {self.std:.4f}" if self.std is not None else f"{self.mean:.4f}"


def _cell(values: list[float]) -> Cell:
    if not values:
        return Cell(None, None, 0)
    return Cell(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values))


def gap_table(runs) -> list[dict]:
    """One row per role over its finished runs: {"role", "n", metric: Cell, ...}."""
    by_role: dict[str, list] = {}
    for run in runs:
        if run.status == Status.DONE:
            by_role.setdefault(run.role, []).append(run.final_metrics)
    rows = []
    for role in sorted(by_role, key=lambda r: (r not in ("SB", "LB"), r != "SB", r)):
        finals = by_role[role]
        row = {"role": role, "n": len(finals)}
        for key, _ in GAP_METRICS:
            row[key] = _cell([f[key] for f in finals if isinstance(f.get(key), (int, float))])
        rows.append(row)
    return rows
