"""Faults with a real worker and a real broker: a worker that dies as it receives a run, one
killed in the middle of an analysis, and a Redis restart while a run trains and a page streams.
Nothing hangs, nothing runs twice, no step is lost."""
import asyncio
import time

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from dashboard import executor
from dashboard.analyses import request_analysis
from dashboard.celery import TRAIN_TASK
from dashboard.celery import app as celery_app
from dashboard.launch import embedded_redis
from dashboard.models import Analysis, Experiment, MetricPoint, Run, Status
from dashboard.worker.training import execute_run
from trainer.kinds.spec import ExperimentSpec
from tests.dashboard.conftest import TINY
from tests.dashboard.workers import CRASHING_ON_RECEIPT, kill_group, wait_until, worker_process

pytestmark = pytest.mark.django_db(transaction=True)


def _one_run(owner, spec=TINY) -> Run:
    exp = Experiment.objects.create(owner=owner, name="chaos", config=spec.to_dict())
    sb, lb = sorted(executor.create_runs(exp), key=lambda r: r.role != "SB")
    lb.request_cancel()
    return Run.objects.get(pk=sb.pk)


def _steps(run, name="loss") -> list[int]:
    return list(MetricPoint.objects.filter(run=run, name=name).order_by("step").values_list("step", flat=True))


def test_a_run_whose_worker_died_as_it_received_the_run_is_queued_again_and_trains_once(alice, lab_settings, tmp_path):
    run = _one_run(alice)
    log = tmp_path / "workers.log"
    with worker_process(lab_settings, log, program=CRASHING_ON_RECEIPT) as doomed:
        run.enqueue()
        wait_until(lambda: doomed.poll() is not None, 120, f"the worker to die on receipt\n{log.read_text()[-2000:]}")
    held = Run.objects.get(pk=run.pk)
    assert held.status == Status.QUEUED and held.received is not None and held.started is None
    lost_message = held.task_id  # still unacknowledged on the broker: it may come back
    time.sleep(1.2)
    with worker_process(lab_settings, log, LBLAB_CLAIM_TIMEOUT_S="1"):
        wait_until(lambda: Run.objects.get(pk=run.pk).status == Status.DONE, 180,
                   f"the run to be queued again and finish\n{log.read_text()[-3000:]}")
        done = Run.objects.get(pk=run.pk)
        assert done.task_id != lost_message
        # the lost message comes back after all: it is skipped, the run is not trained twice
        celery_app.send_task(TRAIN_TASK, args=[run.pk], task_id=lost_message, queue=lab_settings["train_queue"])
        wait_until(lambda: f"[{lost_message}] succeeded" in log.read_text(), 60,
                   f"the old message to be consumed\n{log.read_text()[-3000:]}")
    assert f"[{lost_message}] succeeded in" in log.read_text() and "'skipped'" in log.read_text()
    again = Run.objects.get(pk=run.pk)
    assert (again.status, again.started, again.finished) == (Status.DONE, done.started, done.finished)
    total = TINY.epochs * (TINY.subset // TINY.sb_batch)
    assert _steps(run) == list(range(1, total + 1))


def test_an_analysis_whose_worker_was_killed_mid_computation_is_computed_again(alice, lab_settings, tmp_path):
    run = _one_run(alice)
    assert execute_run(run.pk, task_id="") == Status.DONE
    run.refresh_from_db()
    # full-space sharpness with many restarts: long enough to be killed in the middle
    analysis = request_analysis(run.experiment, "sharpness", {"epsilons": [1e-3], "max_iter": 100, "restarts": 12}, run)
    log = tmp_path / "workers.log"
    with worker_process(lab_settings, log, queues=("analysis_queue",)) as first:
        wait_until(lambda: Analysis.objects.get(pk=analysis.pk).progress > 0, 120,
                   f"the analysis to be under way\n{log.read_text()[-2000:]}")
        kill_group(first)
    killed = Analysis.objects.get(pk=analysis.pk)
    assert killed.status == Status.RUNNING and killed.result == {}
    time.sleep(2.5)  # the next worker deems 2 s without a heartbeat lost
    with worker_process(lab_settings, log, queues=("analysis_queue",), LBLAB_STALE_AFTER_S="2"):
        wait_until(lambda: Analysis.objects.get(pk=analysis.pk).is_finished, 300,
                   f"the analysis to be computed again\n{log.read_text()[-3000:]}")
    done = Analysis.objects.get(pk=analysis.pk)
    assert done.status == Status.DONE, done.error
    assert done.task_id != killed.task_id and done.result


def _layer(redis_url: str, prefix: str) -> dict:
    from django.conf import settings

    host = dict(settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0], address=redis_url)
    return {"default": {"BACKEND": settings.CHANNEL_LAYERS["default"]["BACKEND"],
                        "CONFIG": {"hosts": [host], "prefix": f"{prefix}lblab"}}}


async def _first_metrics(path, headers, timeout: float):
    """Open a stream as a page does and wait for a run.metrics message; None if none came in time."""
    from dashboard.asgi import application

    communicator = WebsocketCommunicator(application, path, headers=headers)
    try:
        connected, _ = await communicator.connect(timeout=timeout)
        if not connected:
            return None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = await communicator.receive_json_from(timeout=max(0.01, deadline - time.monotonic()))
            if message.get("type") == "run.metrics":
                return message
    except (asyncio.TimeoutError, AssertionError, OSError):
        return None
    finally:
        try:
            await communicator.disconnect(timeout=1)
        except Exception:
            pass
    return None


def test_a_run_and_its_live_stream_come_through_a_redis_restart(alice, lab_settings, tmp_path):
    from channels.layers import channel_layers

    from tests.dashboard.test_consumers import _headers

    server = embedded_redis.start(tmp_path / "redis", persistent=True)
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    own = dict(lab_settings, redis_url=server.url)
    spec = ExperimentSpec(epochs=40, seeds=1, subset=512, sb_batch=16, lb_batch=256)
    run = _one_run(alice, spec)
    path, headers = f"/ws/experiments/{run.experiment_id}/", _headers(alice)
    log = tmp_path / "workers.log"
    try:
        with override_settings(CHANNEL_LAYERS=_layer(server.url, lab_settings["queue_prefix"])), \
                worker_process(own, log):
            channel_layers.backends = {}
            Run.objects.filter(pk=run.pk).update(task_id="through-a-restart")
            with celery_app.connection_for_write(server.url) as connection:
                celery_app.send_task(TRAIN_TASK, args=[run.pk], task_id="through-a-restart",
                                     queue=lab_settings["train_queue"], connection=connection)

            async def through_a_restart():
                """In one event loop, as in the web server: the layer's pooled connections die with
                Redis, and the next page's stream must not fail on them."""
                nonlocal server
                assert await _first_metrics(path, headers, 120), log.read_text()[-3000:]
                await asyncio.to_thread(server.stop)
                await asyncio.sleep(1.0)  # the broker is down for a second
                server = await asyncio.to_thread(embedded_redis.start, tmp_path / "redis", True, 15.0, port)
                restarted = time.monotonic()
                while await _first_metrics(path, headers, 1.0) is None:
                    assert time.monotonic() - restarted < 30, "the stream did not come back"
                return time.monotonic() - restarted

            recovery_s = async_to_sync(through_a_restart)()
            wait_until(lambda: Run.objects.get(pk=run.pk).is_finished, 240,
                       f"the run to finish\n{log.read_text()[-3000:]}")
    finally:
        channel_layers.backends = {}
        server.stop()
    finished = Run.objects.get(pk=run.pk)
    assert finished.status == Status.DONE, finished.error
    assert _steps(run) == list(range(1, spec.epochs * (spec.subset // spec.sb_batch) + 1))  # no step lost
    assert recovery_s < 5, f"a page's stream came back {recovery_s:.1f} s after the restart"
    print(f"stream back {recovery_s:.2f} s after the Redis restart")


def test_recovery_runs_while_every_training_slot_is_busy(alice, lab_settings, tmp_path):
    """The lost-work check goes to the control queue, which its own worker takes: it never waits
    behind training."""
    from dashboard.celery import RECOVER_TASK

    busy = _one_run(alice, ExperimentSpec(epochs=40, seeds=1, subset=512, sb_batch=16, lb_batch=256))
    log = tmp_path / "workers.log"
    with worker_process(lab_settings, log), worker_process(lab_settings, log, queues=("control_queue",)):
        busy.enqueue()
        wait_until(lambda: Run.objects.get(pk=busy.pk).status == Status.RUNNING, 120, "the training slot to be taken")
        result = celery_app.send_task(RECOVER_TASK)  # routed as beat sends it
        wait_until(lambda: f"[{result.id}] succeeded" in log.read_text(), 60,
                   f"the recovery task to run beside training\n{log.read_text()[-3000:]}")
        assert Run.objects.get(pk=busy.pk).status == Status.RUNNING  # training still has the only slot
        Run.objects.get(pk=busy.pk).request_cancel()
