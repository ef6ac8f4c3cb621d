"""Analyses requested and computed: dedup by the weights' identity, params validation, real Celery
execution with live progress, failures kept."""

import pytest
import torch
from celery.contrib.testing.worker import start_worker

from dashboard import executor
from dashboard.analyses import request_analysis
from dashboard.celery import app as celery_app
from dashboard.models import Analysis, Experiment, Status
from dashboard.worker.training import execute_run
from trainer.analysis.by_name import validate_params
from tests.dashboard.conftest import TINY
from tests.dashboard.listening import Collecting, settle
from tests.dashboard.workers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finished(alice):
    """alice's experiment with an SB and an LB run trained to the end (in this process: real trainer code)."""
    torch.set_num_threads(1)
    exp = Experiment.objects.create(owner=alice, name="gap", config=TINY.to_dict())
    for run in executor.create_runs(exp):
        assert execute_run(run.pk, task_id="test") == Status.DONE
    exp.refresh_from_db()
    return exp


def _runs(exp):
    runs = {run.role: run for run in exp.runs.all()}
    return runs["SB"], runs["LB"]


def _model_and_data(run):
    from trainer.checkpoint import load_checkpoint
    from trainer.config import TrainConfig
    from trainer.train import Trainer

    trainer = Trainer(TrainConfig.from_dict(run.config))
    trainer.model.load_state_dict(load_checkpoint(run.checkpoint_path)["model"])
    return trainer.model, trainer.data, trainer.config


def _worker(lab_settings):
    return start_worker(celery_app, pool="solo", concurrency=1, perform_ping_check=False,
                        queues=[lab_settings["analysis_queue"]], shutdown_timeout=120)



# -- requesting ---------------------------------------------------------------------------

@pytest.fixture
def analysis_queue(lab_settings):
    """The analysis queue's length on the broker (kombu keeps a queue as a Redis list); emptied afterwards."""
    import redis

    client, name = redis.Redis.from_url(lab_settings["redis_url"]), lab_settings["analysis_queue"]
    client.delete(name)
    yield lambda: client.llen(name)
    client.delete(name)


def test_it_serves_the_same_analysis_of_the_same_checkpoint_from_the_database(finished, alice, analysis_queue):
    sb, _ = _runs(finished)
    first = request_analysis(finished, "sharpness", {"epsilons": [1e-3]}, sb, user=alice)
    again = request_analysis(finished, "sharpness", {"epsilons": "0.001", "max_iter": "10"}, sb, user=alice)
    other = request_analysis(finished, "sharpness", {"epsilons": [5e-4]}, sb, user=alice)
    assert again.pk == first.pk and other.pk != first.pk
    assert analysis_queue() == 2  # one task per distinct analysis, none for the repeat
    assert first.params == {"epsilons": [1e-3], "subspace_dim": None, "max_iter": 10, "restarts": 0,
                            "converged": False, "converged_iter": 200}
    assert len(first.weights) == 64 and first.requested_by == alice

    Analysis.objects.filter(pk=first.pk).update(status=Status.FAILED)
    retried = request_analysis(finished, "sharpness", {"epsilons": [1e-3]}, sb)
    assert retried.pk not in (first.pk, other.pk) and analysis_queue() == 3  # a failure is computed again


def test_it_tells_new_weights_apart_by_their_content(finished, analysis_queue):
    sb, lb = _runs(finished)
    a = request_analysis(finished, "hessian", {}, sb)
    b = request_analysis(finished, "hessian", {}, lb)
    assert a.pk != b.pk and a.weights != b.weights


@pytest.mark.parametrize("kind, params, message", [
    ("sharpness", {"epsilons": []}, "epsilons is empty"),
    ("sharpness", {"epsilons": "1e-3, -2"}, "each of epsilons must be a positive"),
    ("sharpness", {"max_iter": "ten"}, "max_iter must be a whole number"),
    ("sharpness", {"subspace_dim": 0}, "subspace_dim must be >= 1"),
    ("sharpness", {"eps": 1e-3}, "unknown parameter 'eps' for sharpness"),
    ("interpolation", {"path": "straight"}, "path must be one of linear, curved"),
    ("interpolation", {"alpha_min": 2, "alpha_max": 1}, "alpha_min must be below alpha_max"),
    ("hessian", {"k": 0}, "k must be between 1 and 20"),
    ("landscape", {"resolution": 101}, "resolution must be between 2 and 51"),
    ("landscape", {"span": "0"}, "span must be a positive"),
    ("curvature", {}, "kind must be one of sharpness, interpolation, hessian, landscape"),
])
def test_it_names_the_field_of_a_bad_param(kind, params, message):
    with pytest.raises(ValueError, match=message):
        validate_params(kind, params)


def test_it_refuses_unfinished_runs_and_bad_pairs(experiment, finished, analysis_queue):
    queued_run = experiment.runs.first()
    with pytest.raises(ValueError, match="is queued: analyse a finished run"):
        request_analysis(experiment, "sharpness", {}, queued_run)
    sb, _ = _runs(finished)
    with pytest.raises(ValueError, match="run_b: interpolation needs a second run"):
        request_analysis(finished, "interpolation", {}, sb)
    with pytest.raises(ValueError, match="run_b: choose a run other than run"):
        request_analysis(finished, "interpolation", {}, sb, sb)
    with pytest.raises(ValueError, match="epoch: run .* has no snapshot of epoch 1"):
        request_analysis(finished, "sharpness", {}, sb, epoch=1)


# -- executing through a real worker --------------------------------------------------------

def test_it_computes_sharpness_and_interpolation_on_a_real_worker_with_live_progress(finished, lab_settings):
    sb, lb = _runs(finished)
    with Collecting(finished.pk) as gathered:
        sharp = request_analysis(finished, "sharpness", {"epsilons": [1e-3, 5e-4], "max_iter": 3}, lb)
        interp = request_analysis(finished, "interpolation", {"bn": "batch", "points": 7}, sb, lb)
        with _worker(lab_settings):
            wait_until(lambda: all(a.is_finished for a in Analysis.objects.all()), 180, "both analyses to finish")
        settle(gathered)
    messages = [m for m in gathered if m["type"] == "analysis.status"]

    sharp.refresh_from_db()
    interp.refresh_from_db()
    assert sharp.status == Status.DONE, sharp.error
    assert interp.status == Status.DONE, interp.error
    assert sharp.progress == 1.0 and sharp.finished and sharp.started
    for analysis in (sharp, interp):
        statuses = [m["status"] for m in messages if m["analysis"] == analysis.pk]
        assert statuses[0] == "running" and statuses[-1] == "done"

    # f(x) is the training loss the trainer reported for the final weights (same data, BN mode)
    entries = sharp.result["entries"]
    assert [e["epsilon"] for e in entries] == [1e-3, 5e-4]
    for e in entries:
        assert e["f_x"] == pytest.approx(lb.final_metrics["train_loss"], rel=1e-4)
        assert e["f_max"] >= e["f_x"] and e["value"] == pytest.approx(100 * (e["f_max"] - e["f_x"]) / (1 + e["f_x"]))
        assert e["iterations"] <= 3
    assert sharp.result["options"]["bn_mode"] == "running"

    # alpha = 0 is the SB model, alpha = 1 the LB model: evaluated here independently
    from trainer.evaluate import evaluate

    r = interp.result
    assert r["alphas"] == pytest.approx([-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0])
    for run, index in ((sb, 2), (lb, 4)):
        model, data, config = _model_and_data(run)
        loss, acc = evaluate(model, data.x_test, data.y_test, bn_mode="batch", batch_size=config.eval_batch_size)
        assert r["test_loss"][index] == pytest.approx(loss, rel=1e-5) and r["test_acc"][index] == pytest.approx(acc)


def test_it_keeps_the_error_of_a_failed_analysis(finished, lab_settings):
    import pathlib

    sb, _ = _runs(finished)
    analysis = request_analysis(finished, "hessian", {"k": 1, "trace": False, "density": False}, sb)
    pathlib.Path(sb.checkpoint_path).write_bytes(b"not a checkpoint")  # corrupted after the request
    with _worker(lab_settings):
        wait_until(lambda: Analysis.objects.get(pk=analysis.pk).is_finished, 120, "the analysis to finish")
    analysis.refresh_from_db()
    assert analysis.status == Status.FAILED and analysis.result == {}
    # a sentence with the file and the fix; the traceback stays in the worker's log
    assert "Traceback" not in analysis.error and "is not a readable checkpoint" in analysis.error
    assert sb.checkpoint_path in analysis.error and "train the run again" in analysis.error


def test_it_bounds_the_sizes_an_analysis_may_ask_for(finished, settings):
    sb, _ = _runs(finished)
    with pytest.raises(ValueError, match=r"n_samples = 1000000, more than this lab allows \(60000; setting "
                                         r"LBLAB_MAX_ANALYSIS_SAMPLES\)"):
        request_analysis(finished, "hessian", {"n_samples": 10 ** 6}, sb)
    settings.LIMITS = {**settings.LIMITS, "max_subspace_dim": 50}
    with pytest.raises(ValueError, match="subspace_dim = 100, more than"):
        request_analysis(finished, "sharpness", {"subspace_dim": 100}, sb)
    assert not Analysis.objects.exists()
