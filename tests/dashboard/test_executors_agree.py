"""One plan, two executors: the same experiment run by the CLI's process pool (trainer.executor)
and by the web's Celery worker (dashboard.executor, a real worker on the real broker) gives
identical tables, number for number, because both follow the kind's plan and the tables
are built once, from the same plain records (fixed seeds, one thread)."""
import pytest
import torch
from celery.contrib.testing.worker import start_worker
from django.urls import reverse

from dashboard import executor
from dashboard.celery import app as celery_app
from dashboard.models import Experiment, Status
from dashboard.results import Results
from tests.dashboard.workers import wait_until
from trainer.executor import run_experiment
from trainer.kinds import KINDS
from trainer.kinds.spec import ExperimentSpec

pytestmark = pytest.mark.django_db(transaction=True)
SPEC = ExperimentSpec(epochs=3, seeds=2, subset=256, sb_batch=32, lb_batch=128)


EOS = ExperimentSpec(net="relu-mlp", epochs=20, seeds=1, subset=256)  # 20 full-batch steps, λ_max every 5


@pytest.mark.parametrize("kind, spec, options", [
    ("sharpness", SPEC, {}), ("warmstart", SPEC, {"every": 1, "lb_epochs": 1}),
    ("eos", EOS, {"learning_rates": [0.2], "adam_lr": 0.01, "every": 5, "width": 16, "depth": 1}),
    ("reparam", SPEC, {"alphas": [1, 8], "width": 16, "depth": 2, "n_samples": 64}),
])
def test_the_cli_and_the_page_give_identical_tables(kind, spec, options, alice, client, lab_settings, tmp_path):
    torch.set_num_threads(1)
    k = KINDS[kind]
    opts = k.options(options)
    local = run_experiment(k, spec, opts, workers=1, store=tmp_path)
    if kind == "eos":  # the curvature series reached the table through both executors
        assert [row["lambda_max"] is not None for row in local.tables()[0].rows] == [True, True]

    exp = executor.start(alice, kind, k, spec, opts, kind)
    worker = start_worker(celery_app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=120,
                          queues=[lab_settings["train_queue"], lab_settings["analysis_queue"]])
    with worker:
        wait_until(lambda: Results(Experiment.objects.get(pk=exp.pk)).complete(), 300, f"the {kind} experiment")
    exp.refresh_from_db()
    assert exp.status == Status.DONE and not exp.analyses.exclude(status=Status.DONE).exists()

    cli_tables = [t.to_dict() for t in local.tables()]
    assert [t.to_dict() for t in Results(exp).tables] == cli_tables
    assert len(local.records.runs) == exp.runs.count() and len(local.records.analyses) == exp.analyses.count()
    # and the page shows those tables, cell for cell
    client.force_login(alice)
    page = client.get(reverse("experiment-detail", args=[exp.pk]))
    assert [t.cells() for t in page.context["tables"]] == [t.cells() for t in local.tables()]
    assert page.context["summary"] == local.summary()
