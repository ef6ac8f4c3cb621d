"""An experiment's results as the paper prints them: one table per design, mean +- std over
seeds, with the paper's numbers alongside when the setting matches (dashboard.paper).

Tables are plain data (key, title, columns, rows) so a page, a CSV and a JSON export
all read the same thing. Accuracies are in percent, as in the paper.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from dashboard import paper
from dashboard.models import MetricPoint, Status

EPSILONS = (1e-3, 5e-4)


@dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation (n - 1) over seeds; std None for one value."""

    mean: float
    std: float | None
    n: int

    @classmethod
    def of(cls, values) -> "Stat | None":
        values = [v for v in values if isinstance(v, (int, float))]
        if not values:
            return None
        return cls(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values))

    @classmethod
    def paper(cls, pair) -> "Stat":
        return cls(pair[0], pair[1], 5)

    def __str__(self):
        digits = _digits(self.mean)
        return f"{self.mean:.{digits}f}" + (f" ± {self.std:.{digits}f}" if self.std is not None else "")

    def to_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "n": self.n}


def _digits(value: float) -> int:
    return 2 if abs(value) >= 0.1 else 4


def _cell(value) -> str:
    """A table cell as the page shows it: floats as Stat prints means; exports keep full precision."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{_digits(value)}f}"
    return str(value)


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    columns: list[tuple[str, str]]  # (key, label)
    rows: list[dict[str, Any]]
    note: str = ""
    links: dict[int, str] = field(default_factory=dict)  # row index -> URL

    def cells(self) -> list[list[str]]:
        return [[_cell(row.get(k)) for k, _ in self.columns] for row in self.rows]

    def to_dict(self) -> dict:
        def plain(v):
            return v.to_dict() if isinstance(v, Stat) else v
        return {"key": self.key, "title": self.title, "columns": [label for _, label in self.columns],
                "keys": [k for k, _ in self.columns], "note": self.note,
                "rows": [{k: plain(row.get(k)) for k, _ in self.columns} for row in self.rows]}

    def csv_rows(self) -> list[list]:
        header, lines = [], []
        for k, label in self.columns:
            header += [label, f"{label} std"] if any(isinstance(r.get(k), Stat) for r in self.rows) else [label]
        for row in self.rows:
            line = []
            for k, _ in self.columns:
                v = row.get(k)
                if any(isinstance(r.get(k), Stat) for r in self.rows):
                    line += [v.mean, v.std] if isinstance(v, Stat) else ["", ""]
                else:
                    line.append("" if v is None else v)
            lines.append(line)
        return [header] + lines


def pct(v):
    return None if v is None else 100 * v


def sharpness_values(analysis) -> dict[tuple[str, float], float]:
    """{("full" | "p100", eps): value} of a finished sharpness analysis."""
    dim = analysis.params.get("subspace_dim")
    space = f"p{dim}" if dim else "full"
    return {(space, float(e["epsilon"])): e["value"] for e in analysis.result.get("entries", [])}


class Results:
    """Everything the result tables and figures of one experiment read, loaded once."""

    def __init__(self, experiment, runs=None):
        self.experiment = experiment
        self.spec = experiment.spec
        self.design = experiment.design_options
        self.runs = list(runs if runs is not None else experiment.runs.all())
        self.done = [r for r in self.runs if r.status == Status.DONE]
        self.analyses = list(experiment.analyses.select_related("run"))
        sizes = {r.final_metrics.get("n_train") for r in self.done} - {None}
        self.comparison = paper.compare(self.spec, min(sizes) if sizes else None)
        self._sharp: dict[tuple[int, int | None], dict] = {}
        for a in self.analyses:
            if a.kind == "sharpness" and a.status == Status.DONE:
                self._sharp.setdefault((a.run_id, a.epoch), {}).update(sharpness_values(a))

    def sharpness(self, run, space: str, eps: float, epoch: int | None = None) -> float | None:
        return self._sharp.get((run.pk, epoch), {}).get((space, eps))

    def epoch_metric(self, runs, name: str) -> dict[tuple[int, int], float]:
        """{(run id, epoch): value} of a per-epoch metric."""
        rows = MetricPoint.objects.filter(run__in=[r.pk for r in runs], name=name).values_list("run_id", "step", "value")
        return {(run_id, step): value for run_id, step, value in rows}

    def version(self) -> str:
        """Changes whenever a run or an analysis finishes: the page reloads its results then."""
        runs = sum(r.is_finished for r in self.runs)
        analyses = sum(a.status in (Status.DONE, Status.FAILED) for a in self.analyses)
        return f"{len(self.runs)}.{runs}.{len(self.analyses)}.{analyses}"

    def complete(self) -> bool:
        from dashboard.designs import count_analyses

        if not self.runs or any(not r.is_finished for r in self.runs):
            return False
        if any(a.status in (Status.QUEUED, Status.RUNNING) for a in self.analyses):
            return False
        expected = count_analyses(self.spec, self.design, len(self.runs))
        if self.design.kind == "warmstart" and len(self.runs) == 1:
            return self.runs[0].status != Status.DONE  # the LB runs are still to come
        return len(self.analyses) >= expected or len(self.done) < len(self.runs)

    # -- per role over seeds ---------------------------------------------------------------
    def by(self, key) -> dict[Any, list]:
        groups: dict[Any, list] = {}
        for run in self.done:
            groups.setdefault(key(run), []).append(run)
        return groups

    def final(self, runs, metric: str, percent: bool = False) -> Stat | None:
        return Stat.of([(pct if percent else float)(r.final_metrics.get(metric)) for r in runs
                        if isinstance(r.final_metrics.get(metric), (int, float))])
