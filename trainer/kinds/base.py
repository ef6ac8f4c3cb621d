"""What an experiment kind is: a pure planner that both executors (the CLI's process pool
and the web's Celery workers) follow.

A kind says which runs an experiment starts with (`runs`), what each run unlocks when it
finishes (`unlocked`: dependent runs such as warm starts, and analyses), and how its
result tables are built from plain records of the finished runs and analyses (`tables`).
It also has its own settings (`Options`), its presets, the "how to read it" text and, in
its module, the paper's numbers it compares with. Planned runs and analyses refer to runs
by the ids the executor gives them; a warm start names the snapshot it starts from, and
the executor finds the file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from trainer.analysis.by_name import validate_params
from trainer.catalog import NETS
from trainer.config import TrainConfig
from trainer.fields import Checked, from_dict, to_dict
from trainer.kinds.records import AnalysisRecord, Records, RunRecord
from trainer.kinds.spec import ExperimentSpec
from trainer.kinds.tables import Table

PAPER_NETS = ("F1", "F2", "C1", "C2", "C3", "C4")
# The paper's protocol (paper.md section 2): SB 256, LB 10% of the training set, 100 epochs.
PAPER_SB, PAPER_LB, PAPER_EPOCHS = 256, 0.1, 100


@dataclass(frozen=True)
class Snapshot:
    """The weights a run kept at an epoch (trainer.snapshots)."""

    run: int
    epoch: int


@dataclass(frozen=True)
class PlannedRun:
    role: str
    seed: int
    config: TrainConfig
    # the kind's labels, stored with the run: {"batch": 128}, {"snapshot_every": 10}, {"sb_epoch": 20, "depends_on": 7}
    tags: dict[str, Any] = field(default_factory=dict)
    start_from: Snapshot | None = None  # warm start: begin from these weights (config.init_from, once found)

    @property
    def snapshot_every(self) -> int:
        return int(self.tags.get("snapshot_every") or 0)


@dataclass(frozen=True)
class PlannedAnalysis:
    kind: str
    params: dict[str, Any]  # canonical: trainer.analysis.by_name.validate_params
    run: int
    run_b: int | None = None
    epoch: int | None = None


def analysis(kind: str, run: int, params: dict | None = None, *, run_b: int | None = None,
             epoch: int | None = None) -> PlannedAnalysis:
    return PlannedAnalysis(kind, validate_params(kind, params), run, run_b, epoch)


@dataclass(frozen=True)
class Unlocked:
    runs: list[PlannedRun] = field(default_factory=list)
    analyses: list[PlannedAnalysis] = field(default_factory=list)


@dataclass(frozen=True)
class NoOptions(Checked):
    """A kind with no settings of its own."""


@dataclass(frozen=True)
class Preset:
    kind: str
    name: str  # within the kind, as the CLI's --preset names it: "mnist1d", "F1", ...
    title: str
    spec: ExperimentSpec
    options: Any
    description: str

    @property
    def key(self) -> str:
        """The preset's name across kinds, as the web form and stored experiments name it."""
        if self.name == "mnist1d":
            return self.kind
        return self.name.lower() if self.kind == "gap" else f"{self.kind}-{self.name.lower()}"

    @property
    def scale(self) -> str:
        return "paper" if self.spec.net in PAPER_NETS else "cpu"


class Kind:
    name: ClassVar[str]
    label: ClassVar[str]  # short, for labels: "Warm start"
    title: ClassVar[str]  # what it runs: "LB runs warm-started from SB snapshots"
    source: ClassVar[str]  # the part of the paper it regenerates: "Fig. 5"
    how_to_read: ClassVar[str]
    Options: ClassVar[type] = NoOptions
    history: ClassVar[tuple[str, ...]] = ()  # the per-epoch metrics its tables read from the runs' records
    # the experiment's settings its plan does not read (the form hides them for this kind)
    ignores: ClassVar[tuple[str, ...]] = ()
    from_paper: ClassVar[bool] = True  # a part of Keskar et al. (with paper-scale presets), or research since

    # -- settings -------------------------------------------------------------------------
    def options(self, d: dict | None = None):
        """The kind's settings from JSON; ConfigError names the field."""
        return from_dict(self.Options, dict(d or {}), f"{self.name} setting")

    def options_dict(self, options) -> dict[str, Any]:
        return to_dict(options)

    def validate(self, spec: ExperimentSpec, options, data_dir: str | None = None) -> None:
        """Every check, data included, before anything runs."""
        spec.validate(data_dir)

    # -- the plan -------------------------------------------------------------------------
    def runs(self, spec: ExperimentSpec, options) -> list[PlannedRun]:
        raise NotImplementedError

    def unlocked(self, spec: ExperimentSpec, options, run: RunRecord, records: Records) -> Unlocked:
        """What `run`, just finished and done, unlocks; records hold every run and analysis so far."""
        return Unlocked()

    # -- results --------------------------------------------------------------------------
    def tables(self, spec: ExperimentSpec, options, records: Records) -> list[Table]:
        raise NotImplementedError

    def summary(self, spec: ExperimentSpec, options, records: Records) -> list[str]:
        """Sentences that state the result, when there is one to state."""
        return []

    def presets(self) -> list[Preset]:
        raise NotImplementedError

    def preset(self, name: str, title: str, spec: ExperimentSpec, description: str, **options) -> Preset:
        return Preset(self.name, name, title, spec, self.Options(**options), description)

    def paper_presets(self, title: str, description: str, seeds: int = 5, **options) -> list[Preset]:
        """One preset per paper network, on its own data, with the paper's batches and epochs."""
        presets = []
        for net in PAPER_NETS:
            dataset = NETS[net].paper_dataset
            spec = ExperimentSpec(dataset=dataset, net=net, sb_batch=PAPER_SB, lb_batch=PAPER_LB,
                                  epochs=PAPER_EPOCHS, seeds=seeds)
            where = f"needs the {dataset} data in the data directory; a GPU worker is advised"
            presets.append(self.preset(net, f"{net} {title}", spec, f"{net}: {description}: {where}.", **options))
        return presets


def simulate(kind: Kind, spec: ExperimentSpec, options) -> tuple[list[PlannedRun], list[PlannedAnalysis]]:
    """Every run and analysis the plan makes when every run finishes: the plan followed on
    records with no results, as an executor would follow it. Its counts are what an
    experiment of this kind has when complete, and what its estimate adds up."""
    records = Records()
    queue = list(kind.runs(spec, options))
    runs: list[PlannedRun] = []
    analyses: list[PlannedAnalysis] = []
    while queue:
        planned = queue.pop(0)
        runs.append(planned)
        record = RunRecord(len(runs), planned.role, planned.seed, planned.config.to_dict(), dict(planned.tags))
        records.add(record)
        unlocked = kind.unlocked(spec, options, record, records)
        queue += unlocked.runs
        analyses += unlocked.analyses
        for a in unlocked.analyses:
            records.add(AnalysisRecord(len(records.analyses) + 1, a.kind, a.run, a.params, a.run_b, a.epoch))
    return runs, analyses


def complete(kind: Kind, spec: ExperimentSpec, options, records: Records) -> bool:
    """Nothing more will come: every run and analysis finished, and either all that the plan
    makes is there or a run did not finish as done (so what it would unlock never comes)."""
    if not records.runs or any(not r.finished for r in records.runs):
        return False
    if any(not a.finished for a in records.analyses):
        return False
    if len(records.done) < len(records.runs):
        return True
    runs, analyses = simulate(kind, spec, options)
    return len(records.runs) >= len(runs) and len(records.analyses) >= len(analyses)

