"""Training through a real Celery worker on the real broker: points in the database, the
same points on the channel layer, cancelling with a checkpoint, resuming, and recovering a
run whose worker was killed."""
import pathlib
import signal
import time

import pytest
from celery.contrib.testing.worker import start_worker

from dashboard import executor
from dashboard.celery import app as celery_app
from dashboard.figures import series
from dashboard.models import Experiment, MetricPoint, Run, Status
from trainer.kinds.spec import ExperimentSpec
from tests.dashboard.conftest import TINY
from tests.dashboard.listening import Collecting, settle
from tests.dashboard.workers import kill_group, wait_until, worker_process

pytestmark = pytest.mark.django_db(transaction=True)



def _experiment(owner, spec) -> Experiment:
    exp = Experiment.objects.create(owner=owner, name="t", config=spec.to_dict())
    executor.create_runs(exp)
    return exp


def _steps(run, name="loss") -> list[int]:
    return list(MetricPoint.objects.filter(run=run, name=name).order_by("step").values_list("step", flat=True))


def _clock(run) -> list[tuple[int, float]]:
    return list(MetricPoint.objects.filter(run=run, name="wall").order_by("step").values_list("step", "value"))


def _worker(lab_settings):
    return start_worker(celery_app, pool="solo", concurrency=1, perform_ping_check=False,
                        queues=[lab_settings["train_queue"]], shutdown_timeout=120)


def test_it_trains_runs_end_to_end_storing_and_publishing_every_point(alice, lab_settings, monkeypatch):
    exp = _experiment(alice, TINY)
    with Collecting(exp.pk) as messages:
        with _worker(lab_settings):
            for run in exp.runs.all():
                run.enqueue()
            wait_until(lambda: all(r.is_finished for r in exp.runs.all()), 180, "both runs to finish")
        settle(messages)

    exp.refresh_from_db()
    assert exp.status == Status.DONE
    for run in exp.runs.all():
        assert run.status == Status.DONE, run.error
        assert run.progress == 1.0 and run.heartbeat and run.finished
        assert 0 <= run.final_metrics["test_acc"] <= 1 and run.final_metrics["epochs"] == 2
        total = 2 * (256 // run.final_metrics["batch_size"])  # 2 epochs, the remainder batch dropped
        assert _steps(run) == list(range(1, total + 1))
        assert _steps(run, "test_acc") == [1, 2]
        assert pathlib.Path(run.checkpoint_path).exists()
        clock = _clock(run)  # when it reached its steps: the wall-time axis
        assert clock[-1][0] == total and all(s1 > s0 and t1 >= t0 for (s0, t0), (s1, t1) in zip(clock, clock[1:]))
        assert 0 < clock[-1][1] <= (run.finished - run.started).total_seconds()

        flushes = [m for m in messages if m["type"] == "run.metrics" and m["run"] == run.pk]
        assert [m["seq"] for m in flushes] == list(range(1, run.last_seq + 1))  # one message per flush, in order
        published = {(name, step, value) for m in flushes for name, pts in m["points"].items() for step, value in pts}
        stored = set(MetricPoint.objects.filter(run=run).values_list("name", "step", "value"))
        assert published == stored
        statuses = [m["status"] for m in messages if m["type"] == "run.status" and m["run"] == run.pk]
        assert statuses == ["running", "done"]

    # the worker kept each run's reduced curves: the page's first view reads no point from the database
    def no_reduction_in_the_database(*args):
        raise AssertionError("reduced in the database on the first view")

    monkeypatch.setattr(series, "_read", no_reduction_in_the_database)
    for run in exp.runs.all():
        kept = series.load_series([run.pk], series.PLOTTED, {run.pk: series.series_version(run)})
        assert kept[(run.pk, "loss")][0].tolist() == _steps(run)
        assert kept[(run.pk, "test_acc")][0].tolist() == [1, 2]


def test_it_cancels_with_a_checkpoint_and_resumes_from_it(alice, lab_settings):
    spec = ExperimentSpec(epochs=40, seeds=1, subset=256, sb_batch=16, lb_batch=128)
    exp = _experiment(alice, spec)
    run = exp.runs.get(role="SB")
    exp.runs.get(role="LB").request_cancel()  # only SB matters here
    total = 40 * (256 // 16)
    with Collecting(exp.pk) as messages, _worker(lab_settings):
        run.enqueue()
        wait_until(lambda: Run.objects.get(pk=run.pk).progress > 0.2, 120, "the run to get going")
        run.request_cancel()
        wait_until(lambda: Run.objects.get(pk=run.pk).is_finished, 60, "the cancel to take effect")
        run.refresh_from_db()
        assert run.status == Status.CANCELLED and pathlib.Path(run.checkpoint_path).exists()
        stopped_at, seq_at_cancel = max(_steps(run)), run.last_seq
        assert 0 < stopped_at < total and _steps(run) == list(range(1, stopped_at + 1))
        trained_before = _clock(run)[-1][1]

        assert run.resume()
        wait_until(lambda: Run.objects.get(pk=run.pk).status == Status.DONE, 180, "the resumed run to finish")
    assert _steps(run) == list(range(1, total + 1))
    assert _steps(run, "train_loss") == list(range(1, 41))
    after = [step for m in messages if m["type"] == "run.metrics" and m["run"] == run.pk and m["seq"] > seq_at_cancel
             for step, _ in m["points"].get("loss", [])]
    assert min(after) == stopped_at + 1  # continued from the checkpoint, not from scratch
    clock = _clock(run)  # training time goes on from the first session's, not from zero
    assert all(t1 >= t0 for (_, t0), (_, t1) in zip(clock, clock[1:])) and clock[-1][1] > trained_before


def test_it_resumes_a_run_whose_worker_was_killed_without_losing_or_repeating_a_step(
        alice, lab_settings, tmp_path, settings):
    spec = ExperimentSpec(epochs=30, seeds=1, subset=512, sb_batch=16, lb_batch=256)
    exp = _experiment(alice, spec)
    run = exp.runs.get(role="SB")
    exp.runs.get(role="LB").request_cancel()
    total = 30 * (512 // 16)
    log = tmp_path / "workers.log"
    with worker_process(lab_settings, log) as first:
        run.enqueue()
        # past at least one epoch, so a checkpoint exists, then kill the whole worker without warning
        wait_until(lambda: len(_steps(run, "train_loss")) >= 2, 180, f"two epochs\n{log.read_text()[-3000:]}")
        kill_group(first)
    killed_at = Run.objects.get(pk=run.pk)
    epochs_done = len(_steps(run, "train_loss"))
    assert killed_at.status == Status.RUNNING and max(_steps(run)) < total
    time.sleep(2.5)  # the new worker below deems 2 s without a heartbeat lost
    # a new worker finds the lost run at start-up and resumes it
    with Collecting(exp.pk) as messages, worker_process(lab_settings, log, LBLAB_STALE_AFTER_S="2"):
        wait_until(lambda: Run.objects.get(pk=run.pk).status == Status.DONE, 240,
                   f"the recovered run to finish\n{log.read_text()[-3000:]}")
    assert _steps(run) == list(range(1, total + 1))
    assert _steps(run, "test_loss") == list(range(1, 31))
    # resumed from the last checkpoint (written after the last or the one before last epoch seen)
    replayed = [step for m in messages if m["type"] == "run.metrics"
                for step, _ in m["points"].get("loss", [])]
    steps_per_epoch = 512 // 16
    assert min(replayed) in (steps_per_epoch * (epochs_done - 1) + 1, steps_per_epoch * epochs_done + 1)


def test_it_stops_quietly_and_cleans_up_when_the_experiment_is_deleted_mid_run(alice, lab_settings, client):
    exp = _experiment(alice, ExperimentSpec(epochs=40, seeds=1, subset=256, sb_batch=16, lb_batch=128))
    run = exp.runs.get(role="SB")
    client.force_login(alice)
    with _worker(lab_settings):
        run.enqueue()
        wait_until(lambda: len(_steps(run, "train_loss")) >= 2, 120, "a checkpoint")
        folder = pathlib.Path(Run.objects.get(pk=run.pk).checkpoint_path).parent
        assert folder.exists()
        assert client.post(f"/experiments/{exp.pk}/delete/").status_code == 302
        wait_until(lambda: not folder.exists(), 60, "the worker to stop and remove the run's files")
        # the worker is free for the next experiment
        nxt = _experiment(alice, TINY)
        for r in nxt.runs.all():
            r.enqueue()
        wait_until(lambda: all(r.status == Status.DONE for r in nxt.runs.all()), 120, "the next experiment")
    assert not MetricPoint.objects.filter(run_id=run.pk).exists()


def test_it_hands_a_run_back_to_the_queue_when_its_worker_is_stopped(alice, lab_settings, tmp_path):
    """What Ctrl-C on `runlab` does to a training worker: SIGTERM to its process group."""
    exp = _experiment(alice, ExperimentSpec(epochs=30, seeds=1, subset=512, sb_batch=16, lb_batch=256))
    run = exp.runs.get(role="SB")
    exp.runs.get(role="LB").request_cancel()
    total = 30 * (512 // 16)
    log = tmp_path / "workers.log"
    with worker_process(lab_settings, log) as worker:
        run.enqueue()
        wait_until(lambda: Run.objects.get(pk=run.pk).progress > 0.1, 180, f"progress\n{log.read_text()[-3000:]}")
        kill_group(worker, signal.SIGTERM)
        assert worker.returncode == 0, log.read_text()[-3000:]
    stopped = Run.objects.get(pk=run.pk)
    assert stopped.status == Status.QUEUED and pathlib.Path(stopped.checkpoint_path).exists()
    assert 0 < max(_steps(run)) < total
    with worker_process(lab_settings, log):  # the next start picks the queued message up
        wait_until(lambda: Run.objects.get(pk=run.pk).status == Status.DONE, 240,
                   f"the run to finish\n{log.read_text()[-3000:]}")
    assert _steps(run) == list(range(1, total + 1))


def test_live_curvature_is_stored_and_published_once_per_measured_step(alice, lab_settings):
    import dataclasses

    spec = dataclasses.replace(TINY, curvature_every=3, sharpness_every=1)  # Adam: λ_max and its preconditioned one
    exp = _experiment(alice, spec)
    run = exp.runs.get(role="SB")
    exp.runs.get(role="LB").request_cancel()
    with Collecting(exp.pk) as messages:
        with _worker(lab_settings):
            run.enqueue()
            wait_until(lambda: Run.objects.get(pk=run.pk).is_finished, 180, "the run to finish")
        settle(messages)
    run.refresh_from_db()
    assert run.status == Status.DONE, run.error
    total = 2 * (256 // 32)
    for name in ("lambda_max", "lambda_max_pre"):
        assert _steps(run, name) == list(range(3, total + 1, 3))
        published = [step for m in messages if m["type"] == "run.metrics" and m["run"] == run.pk
                     for step, _ in m["points"].get(name, [])]
        assert published == _steps(run, name)  # each measured step once, in order, as stored
    assert _steps(run, "sharpness") == [1, 2]  # Keskar's, every epoch
