"""Experiment kinds end to end with a real Celery worker on the train and analysis queues:
dependent runs appear when their parent finishes, analyses are requested, and the result
pages show one point per finished value."""
import csv
import io
import pathlib

import pytest
from celery.contrib.testing.worker import start_worker
from django.urls import reverse

from dashboard import executor
from dashboard.celery import app as celery_app
from dashboard.models import Experiment, Status
from dashboard.results import Results
from tests.dashboard.listening import Collecting
from tests.dashboard.workers import wait_until
from trainer.kinds import KINDS
from trainer.kinds.spec import ExperimentSpec
from trainer.snapshots import snapshot_path

pytestmark = pytest.mark.django_db(transaction=True)
TINY = ExperimentSpec(epochs=4, seeds=1, subset=256, sb_batch=32, lb_batch=128)


def _worker(lab_settings):
    return start_worker(celery_app, pool="solo", concurrency=1, perform_ping_check=False,
                        queues=[lab_settings["train_queue"], lab_settings["analysis_queue"]], shutdown_timeout=120)


def _start(owner, kind, spec=TINY, **options) -> Experiment:
    return executor.start(owner, kind, KINDS[kind], spec, KINDS[kind].options(options), kind)


def _wait_complete(exp, timeout=240):
    def complete():
        exp.refresh_from_db()
        return Results(exp).complete()
    wait_until(complete, timeout, f"the {exp.kind} experiment to complete", interval=0.5)
    failed = [a.error for a in exp.analyses.filter(status=Status.FAILED)]
    assert not failed, failed
    assert set(exp.runs.values_list("status", flat=True)) == {Status.DONE}


def _points(figure, name) -> int:
    """Number of points in the named data source of a Bokeh json_item."""
    stack = [figure["doc"]]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("name") == "ColumnDataSource" and node.get("attributes", {}).get("name") == name:
                x = dict(node["attributes"]["data"]["entries"])["x"]
                return len(x) if isinstance(x, list) else x["shape"][0]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise AssertionError(f"no data source {name}")


def _page(client, user, exp):
    client.force_login(user)
    response = client.get(reverse("experiment-detail", args=[exp.pk]))
    assert response.status_code == 200
    return response


def test_it_warm_starts_lb_runs_from_the_sb_snapshots_only_after_sb_finishes(client, alice, lab_settings):
    exp = _start(alice, "warmstart", every=2, lb_epochs=1)
    assert list(exp.runs.values_list("role", flat=True)) == ["SB"]  # the LB runs wait for SB's weights
    with Collecting(exp.pk) as messages, _worker(lab_settings):
        _wait_complete(exp)
    sb = exp.runs.get(tags__snapshot_every=2)
    lb = sorted(exp.runs.exclude(pk=sb.pk), key=lambda r: r.tags["sb_epoch"])
    assert [r.tags for r in lb] == [{"sb_epoch": e, "depends_on": sb.pk} for e in (0, 2, 4)]
    for run in lb:
        path = pathlib.Path(run.config["init_from"])
        assert path == snapshot_path(sb.run_dir, run.tags["sb_epoch"]) and path.exists()
        assert run.config["epochs"] == 1 and run.config["batch_size"] == 128 and run.started > sb.finished
    assert sorted(exp.analyses.values_list("run_id", flat=True)) == [r.pk for r in lb]
    figure = _page(client, alice, exp).context["design_figure"]
    assert _points(figure, "fig:warmstart:lb_test_acc") == 3
    assert _points(figure, "fig:warmstart:sb_test_acc") == 3  # epoch 0's iterate included
    assert _points(figure, "fig:warmstart:sharpness 0.001") == 3
    rows = list(csv.reader(io.StringIO(client.get(reverse("experiment-table", args=[exp.pk, "warmstart", "csv"]))
                                       .content.decode())))
    assert [row[0] for row in rows[1:]] == ["0", "2", "4"]
    # the SB iterates' accuracies are those of the kept weights, evaluated here independently
    for row in rows[1:]:
        assert float(row[1]) == pytest.approx(100 * _test_accuracy(sb, snapshot_path(sb.run_dir, int(row[0]))))
    # pages that are open learn of the LB runs when they are created
    added = [m for m in messages if m["type"] == "experiment.runs"]
    assert [sorted(m["runs"]) for m in added] == [sorted(r.pk for r in lb)]


def _test_accuracy(run, weights) -> float:
    from trainer.checkpoint import load_checkpoint
    from trainer.config import TrainConfig
    from trainer.evaluate import evaluate
    from trainer.train import Trainer

    trainer = Trainer(TrainConfig.from_dict(run.config))
    trainer.model.load_state_dict(load_checkpoint(weights))
    cfg = trainer.config
    return evaluate(trainer.model, trainer.data.x_test, trainer.data.y_test, bn_mode=cfg.bn_eval,
                    batch_size=cfg.eval_batch_size)[1]


def test_it_measures_the_sharpness_of_each_kept_iterate_along_the_trajectory(client, alice, lab_settings):
    exp = _start(alice, "trajectory", every=2)
    with _worker(lab_settings):
        _wait_complete(exp)
    assert sorted(exp.analyses.values_list("run__role", "epoch")) == [("LB", 2), ("LB", 4), ("SB", 2), ("SB", 4)]
    figure = _page(client, alice, exp).context["design_figure"]
    for role in ("SB", "LB"):
        assert _points(figure, f"fig:trajectory:{role} 0.001") == 2


def test_it_sweeps_batch_sizes_and_plots_accuracy_and_sharpness_per_batch(client, alice, lab_settings):
    exp = _start(alice, "sweep", batch_sizes=(16, 64, 256))
    with _worker(lab_settings):
        _wait_complete(exp)
    response = _page(client, alice, exp)
    figure = response.context["design_figure"]
    assert _points(figure, "fig:sweep:test_acc") == 3
    assert _points(figure, "fig:sweep:sharpness 0.001") == 3 and _points(figure, "fig:sweep:sharpness 0.0005") == 3
    assert response.context["results_complete"]


def test_it_interpolates_between_the_sb_and_lb_runs_once_both_finished(client, alice, lab_settings):
    exp = _start(alice, "parametric")
    with _worker(lab_settings):
        _wait_complete(exp)
    analyses = list(exp.analyses.order_by("pk"))
    assert [(a.kind, a.params["path"], a.run.role, a.run_b.role) for a in analyses] == [
        ("interpolation", "linear", "SB", "LB"), ("interpolation", "curved", "SB", "LB")]
    html = _page(client, alice, exp).content.decode()
    for a in analyses:
        assert reverse("analysis-detail", args=[a.pk]) in html


def test_it_tables_each_remedy_next_to_sb_and_lb_with_its_sharpness(client, alice, lab_settings):
    exp = _start(alice, "remedies", remedies=("SAM", "ghost BN"))
    with _worker(lab_settings):
        _wait_complete(exp)
    table = next(t for t in _page(client, alice, exp).context["tables"] if t.key == "remedies")
    assert [row["variant"] for row in table.rows] == ["SB", "LB", "LB + SAM", "LB + ghost BN"]
    assert all(row["full 0.001"].n == 1 and row["test_acc"].n == 1 for row in table.rows)
    assert exp.runs.get(role="LB + SAM").config["sam_rho"] == 0.05
