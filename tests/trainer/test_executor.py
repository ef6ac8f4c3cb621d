"""The local executor (trainer.executor) following each kind's plan on tiny settings: the runs it
trains are those one would train by hand, and the tables read them."""
import json

import pytest

from trainer.executor import run_experiment
from trainer.kinds import KINDS
from trainer.kinds.spec import ExperimentSpec
from trainer.train import Trainer

SPEC = ExperimentSpec(subset=400, epochs=2, seeds=1, sb_batch=20, lb_batch=0.5)


def _table(outcome, key):
    return next(t for t in outcome.tables() if t.key == key)


def test_the_gap_runs_sb_and_lb_for_every_seed_in_worker_processes():
    spec = SPEC.replace(seeds=2, lb_batch=0.25)
    ticks = []
    outcome = run_experiment(KINDS["gap"], spec, KINDS["gap"].Options(), workers=2,
                             progress=lambda done, total: ticks.append((done, total)))
    runs = outcome.records.runs
    assert [(r.role, r.seed) for r in runs] == [("SB", 0), ("LB", 0), ("SB", 1), ("LB", 1)]
    assert ticks[-1] == (8, 8) and outcome.workers == 2
    # each run is the same as running it here, alone
    alone = Trainer(spec.train_config("LB", 1)).run()
    assert runs[3].final["test_acc"] == alone.final["test_acc"]
    rows = {row["role"]: row for row in _table(outcome, "gap").rows}
    sb_test = [100 * r.final["test_acc"] for r in runs if r.role == "SB"]
    assert rows["SB"]["test_acc"].mean == pytest.approx(sum(sb_test) / 2)
    assert rows["SB"]["test_acc"].std == pytest.approx(abs(sb_test[0] - sb_test[1]) / 2 ** 0.5)
    json.dumps(outcome.to_dict(), default=str)


def test_runs_are_numbered_in_plan_order_and_trained_longest_first(monkeypatch):
    import trainer.executor

    trained = []
    train = trainer.executor._train

    def recording(planned, folder, events):
        trained.append((planned.role, planned.seed))
        return train(planned, folder, events)

    monkeypatch.setattr(trainer.executor, "_train", recording)
    outcome = run_experiment(KINDS["gap"], SPEC.replace(seeds=2, epochs=1), KINDS["gap"].Options(), workers=1)
    assert trained == [("SB", 0), ("SB", 1), ("LB", 0), ("LB", 1)]  # 20 steps an epoch, then 2
    assert [(r.role, r.seed) for r in outcome.records.runs] == [("SB", 0), ("LB", 0), ("SB", 1), ("LB", 1)]


def test_the_sweep_reports_accuracy_and_sharpness_per_batch_size():
    spec = SPEC.replace(lb_batch=200)
    k = KINDS["sweep"]
    outcome = run_experiment(k, spec, k.options({"batch_sizes": [20, 0.5]}), workers=1)
    rows = _table(outcome, "sweep").rows
    assert [r["batch"] for r in rows] == [20, 200]
    assert all(r["full 0.001"].mean > 0 for r in rows)
    alone = Trainer(spec.train_config("SB", 0).replace(batch_size=200)).run()
    assert rows[1]["test_acc"].mean == pytest.approx(100 * alone.final["test_acc"])


def test_a_warm_start_from_epoch_zero_is_the_plain_lb_run_and_snapshots_are_reused(tmp_path):
    k = KINDS["warmstart"]
    options = k.options({"every": 1, "lb_epochs": 1})
    ticks = []
    outcome = run_experiment(k, SPEC, options, workers=1, store=tmp_path, progress=lambda d, t: ticks.append((d, t)))
    rows = _table(outcome, "warmstart").rows
    assert [r["sb_epoch"] for r in rows] == [0, 1, 2]
    assert ticks[-1][0] == ticks[-1][1]
    plain_lb = Trainer(SPEC.train_config("LB", 0).replace(epochs=1)).run()
    assert rows[0]["lb_test_acc"] == round(100 * plain_lb.final["test_acc"], 2)
    # the SB iterate at the last epoch is the SB run's final model
    sb = next(r for r in outcome.records.runs if r.role == "SB")
    assert rows[-1]["sb_test_acc"] == round(100 * sb.final["test_acc"], 2)

    snapshot = next(tmp_path.glob("sb-*/epoch-0002.pt"))
    stamp = snapshot.stat().st_mtime_ns
    again = run_experiment(k, SPEC, options, workers=1, store=tmp_path)
    assert snapshot.stat().st_mtime_ns == stamp  # not retrained
    assert [t.to_dict() for t in again.tables()] == [t.to_dict() for t in outcome.tables()]


def test_the_trajectory_measures_each_stored_iterate(tmp_path):
    k = KINDS["trajectory"]
    outcome = run_experiment(k, SPEC, k.options({"every": 1}), workers=2, store=tmp_path)
    rows = _table(outcome, "trajectory").rows
    assert [(r["role"], r["epoch"]) for r in rows] == [("SB", 1), ("SB", 2), ("LB", 1), ("LB", 2)]
    # an iterate's loss is the loss its run logged at that epoch: the snapshots are the right weights
    sb = next(r for r in outcome.records.runs if r.role == "SB")
    assert rows[1]["train_loss"] == sb.history["train_loss"][2] == pytest.approx(sb.final["train_loss"])
    assert all(r["full 0.001"] > 0 for r in rows)


def test_remedies_run_each_remedy_next_to_sb_and_lb():
    k = KINDS["remedies"]
    outcome = run_experiment(k, SPEC, k.options({"remedies": ["SAM", "ghost BN", "regime adaptation"]}), workers=2)
    rows = {r["variant"]: r for r in _table(outcome, "remedies").rows}
    assert list(rows) == ["SB", "LB", "LB + SAM", "LB + ghost BN", "LB + regime adaptation"]
    regime = next(r for r in outcome.records.runs if r.role == "LB + regime adaptation")
    assert regime.config["regime_batch_size"] == 20 and regime.final["steps"] == 2 * (400 // 20)
    assert rows["LB + SAM"]["train_acc"] != rows["LB"]["train_acc"] or rows["LB + SAM"]["test_acc"] != rows["LB"]["test_acc"]
    assert all(row["full 0.001"].n == 1 for row in rows.values())


def test_the_parametric_plot_interpolates_from_the_sb_to_the_lb_solution():
    import copy

    from trainer.analysis import recompute_bn_statistics
    from trainer.evaluate import evaluate

    outcome = run_experiment(KINDS["parametric"], SPEC, KINDS["parametric"].Options(), workers=1)
    table = _table(outcome, "parametric")
    assert [(row["path"], row["status"]) for row in table.rows] == [("linear", "done"), ("curved", "done")]
    linear = next(a for a in outcome.records.analyses if a.params["path"] == "linear")
    sb, lb = outcome.records.runs
    assert (linear.run, linear.run_b) == (sb.id, lb.id)
    alpha_one = linear.result["alphas"].index(1.0)
    trainer = Trainer(SPEC.train_config("LB", 0))
    model = copy.deepcopy(trainer.run().model)  # the LB solution, its BatchNorm statistics recomputed
    recompute_bn_statistics(model, trainer.data.x_train)
    loss, _ = evaluate(model, trainer.data.x_train, trainer.data.y_train)
    assert linear.result["train_loss"][alpha_one] == pytest.approx(loss, rel=1e-5)
