"""An experiment's results: its rows as the plan's plain records (trainer.kinds.records), and what
its kind builds from them (tables, summary, completeness), exactly as the CLI builds them."""
from __future__ import annotations

from dashboard.models import Analysis, MetricPoint, Run
from trainer.kinds.base import complete
from trainer.kinds.paper import compare
from trainer.kinds.records import AnalysisRecord, Records, RunRecord
from trainer.kinds.verdict import cards


def run_record(run: Run, history: dict | None = None) -> RunRecord:
    return RunRecord(run.pk, run.role, run.seed, run.config, run.tags, run.status, run.final_metrics, history or {})


def analysis_record(a: Analysis) -> AnalysisRecord:
    return AnalysisRecord(a.pk, a.kind, a.run_id, a.params, a.run_b_id, a.epoch, a.status, a.result)


def _histories(runs: list[Run], names) -> dict[int, dict[str, dict[int, float]]]:
    """{run id: {metric: {epoch: value}}} of the per-epoch metrics named."""
    histories: dict[int, dict[str, dict[int, float]]] = {run.pk: {} for run in runs}
    if names:
        rows = (MetricPoint.objects.filter(run__in=[r.pk for r in runs], name__in=names)
                .values_list("run_id", "name", "step", "value"))
        for run_id, name, step, value in rows:
            histories[run_id].setdefault(name, {})[step] = value
    return histories


def records_of(experiment, runs=None, history=()) -> Records:
    """The experiment's runs (with the per-epoch metrics named in `history`) and analyses, in id order."""
    runs = sorted(runs if runs is not None else experiment.runs.all(), key=lambda r: r.pk)
    histories = _histories(runs, history)
    analyses = experiment.analyses.order_by("pk")
    return Records([run_record(r, histories[r.pk]) for r in runs], [analysis_record(a) for a in analyses])


class Results:
    """Everything the result section of one experiment shows, built once per request."""

    def __init__(self, experiment, runs=None):
        self.experiment = experiment
        self.kind, self.spec, self.options = experiment.planner, experiment.spec, experiment.options
        self.records = records_of(experiment, runs, self.kind.history)
        self.tables = self.kind.tables(self.spec, self.options, self.records)
        self.comparison = compare(self.spec, self.records.n_train())

    def summary(self) -> list[str]:
        return self.kind.summary(self.spec, self.options, self.records)

    def cards(self):
        return cards(self.records)

    def complete(self) -> bool:
        return complete(self.kind, self.spec, self.options, self.records)

    def table(self, key: str):
        return next((t for t in self.tables if t.key == key), None)
