"""The lab uses the machine as the CLI does: one worker process per core by default, each on the
train and analysis queues, and a run or an analysis computing with the worker's torch threads,
which the run's stored config and final metrics then say."""
import json
import os
import subprocess
import sys

import pytest
import torch

from dashboard import executor
from dashboard.analyses import request_analysis
from dashboard.launch.launcher import Lab
from dashboard.models import Experiment, Run, Status
from dashboard.worker.analysis import execute_analysis
from dashboard.worker.training import execute_run
from tests.dashboard.conftest import TINY
from tests.dashboard.labprocess import ROOT

DEFAULTS = """
import json
from dashboard import settings
print(json.dumps([settings.LBLAB_WORKERS, settings.LBLAB_THREADS_PER_RUN, settings.LBLAB_TRAIN_SLOTS]))
"""


def _defaults(**env) -> list[int]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LBLAB_") or k == "LBLAB_VAR_DIR"}
    done = subprocess.run([sys.executable, "-c", DEFAULTS], cwd=ROOT, env={**base, **env}, capture_output=True,
                          text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_workers_threads_and_training_slots_follow_the_cores_unless_set():
    cores = len(os.sched_getaffinity(0))
    assert _defaults() == [cores, 1, cores]  # one single-threaded worker per core
    assert _defaults(LBLAB_WORKERS="1") == [1, cores, 1]  # one worker: every core for its run
    assert _defaults(LBLAB_WORKERS="3", LBLAB_THREADS_PER_RUN="2", LBLAB_TRAIN_SLOTS="5") == [3, 2, 5]


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_the_launcher_starts_one_worker_process_per_slot_each_on_both_queues_under_its_own_name(settings):
    settings.LBLAB_WORKERS = 3
    commands = Lab("127.0.0.1", 8000).commands()
    assert [name for name, _, _ in commands] == ["worker 1", "worker 2", "worker 3", "control worker"]
    workers = [args for name, args, _ in commands if name.startswith("worker ")]
    for args in workers:
        assert args[args.index("-m") + 1] == "celery"
        assert _option(args, "-Q") == f"{settings.TRAIN_QUEUE},{settings.ANALYSIS_QUEUE}"
        assert _option(args, "--concurrency") == "1" and _option(args, "--prefetch-multiplier") == "1"
    names = [_option(args, "--hostname") for args in workers]
    assert len(set(names)) == 3
    # a restarted worker has the name it had, so it finds again what it held
    assert names == [_option(args, "--hostname") for name, args, _ in Lab("127.0.0.1", 8000).commands()
                     if name.startswith("worker ")]
    control = commands[3][1]
    assert _option(control, "-Q") == settings.CONTROL_QUEUE and _option(control, "--hostname") not in names


@pytest.mark.django_db
def test_a_run_and_its_analysis_compute_with_the_workers_threads_and_the_run_says_so(alice, settings):
    threads_before = torch.get_num_threads()
    exp = Experiment.objects.create(owner=alice, name="threads", config=TINY.to_dict())
    run = executor.create_runs(exp)[0]
    assert run.config["threads"] == 1  # as the form makes every run
    try:
        settings.LBLAB_THREADS_PER_RUN = 2
        assert execute_run(run.pk, task_id="t") == Status.DONE
        run = Run.objects.get(pk=run.pk)
        assert run.config["threads"] == 2 and run.final_metrics["threads"] == 2

        settings.LBLAB_THREADS_PER_RUN = 1  # a worker of another host analyses it
        analysis = request_analysis(exp, "hessian", {"k": 1, "n_samples": 32}, run)
        assert torch.get_num_threads() == 2
        assert execute_analysis(analysis.pk, task_id=analysis.task_id) == Status.DONE
        assert torch.get_num_threads() == 1  # the worker's, not the 2 in the run's config
    finally:
        torch.set_num_threads(threads_before)
