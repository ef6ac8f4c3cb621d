from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from dashboard import executor
from dashboard.models import Experiment, MetricPoint, Run, ShareLink, Status
from dashboard.worker.tasks import recover_stale_runs
from trainer.kinds import KINDS
from tests.dashboard.conftest import TINY

pytestmark = pytest.mark.django_db


def test_it_creates_one_sb_and_one_lb_run_per_seed_sharing_the_seed(alice):
    exp = Experiment.objects.create(owner=alice, name="x", config=dict(TINY.to_dict(), seeds=3))
    runs = executor.create_runs(exp)
    assert sorted((r.role, r.seed) for r in runs) == [("LB", 0), ("LB", 1), ("LB", 2), ("SB", 0), ("SB", 1), ("SB", 2)]
    sb0 = next(r for r in runs if r.role == "SB" and r.seed == 0)
    lb0 = next(r for r in runs if r.role == "LB" and r.seed == 0)
    assert sb0.config["batch_size"] == 32 and lb0.config["batch_size"] == 128
    assert sb0.config["seed"] == lb0.config["seed"] == 0
    assert sb0.config["subset"] == 256 and sb0.config["epochs"] == 2


def test_it_queues_runs_only_after_the_transaction_commits(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        exp = executor.start(alice, "gap", KINDS["gap"], TINY)
    assert exp.runs.count() == 2 and len(callbacks) == 2


def test_it_numbers_runs_in_plan_order_and_queues_the_longest_first(alice, django_capture_on_commit_callbacks,
                                                                     monkeypatch):
    sent = []
    monkeypatch.setattr("dashboard.dispatched.celery_app.send_task", lambda name, args, **kw: sent.append(args[0]))
    with django_capture_on_commit_callbacks(execute=True):
        exp = executor.start(alice, "gap", KINDS["gap"], TINY.replace(seeds=2))
    by_pk = {r.pk: (r.role, r.seed) for r in exp.runs.all()}
    assert [by_pk[pk] for pk in sorted(by_pk)] == [("SB", 0), ("LB", 0), ("SB", 1), ("LB", 1)]
    assert [by_pk[pk] for pk in sent] == [("SB", 0), ("SB", 1), ("LB", 0), ("LB", 1)]  # 8 steps an epoch, then 2


def test_it_stores_one_point_per_run_metric_and_step(experiment):
    run = experiment.runs.first()
    MetricPoint.objects.create(run=run, name="loss", step=1, value=2.0)
    MetricPoint.objects.bulk_create([MetricPoint(run=run, name="loss", step=1, value=9.0),
                                     MetricPoint(run=run, name="loss", step=2, value=1.5)], ignore_conflicts=True)
    assert list(run.points.order_by("step").values_list("step", "value")) == [(1, 2.0), (2, 1.5)]
    with pytest.raises(IntegrityError):
        MetricPoint.objects.create(run=run, name="loss", step=2, value=0.0)


def test_it_lets_one_task_claim_a_queued_run(experiment):
    run = experiment.runs.first()
    assert run.claim("task-a")
    run.refresh_from_db()
    assert run.status == Status.RUNNING and run.task_id == "task-a" and run.started is not None
    assert run.checkpoint_path.endswith(f"run-{run.pk}/checkpoint.pt")
    assert not Run.objects.get(pk=run.pk).claim("task-b")  # healthy: heartbeat is fresh
    assert not Run.objects.get(pk=run.pk).claim("task-a")  # nor its own message, redelivered while it trains
    experiment.refresh_from_db()
    assert experiment.status == Status.RUNNING


def test_a_first_claim_clears_files_left_from_another_databases_run_of_the_same_id(experiment):
    run = experiment.runs.first()
    leftover = run.run_dir / "checkpoint.pt"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"an old run's checkpoint")
    assert run.claim("task-a") and not leftover.exists()
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"this run's own checkpoint")
    Run.objects.filter(pk=run.pk).update(status=Status.QUEUED, task_id="task-b")  # handed back: it resumes
    assert Run.objects.get(pk=run.pk).claim("task-b") and leftover.read_bytes() == b"this run's own checkpoint"


def test_it_lets_another_task_take_a_run_with_a_stale_heartbeat(experiment, settings):
    run = experiment.runs.first()
    run.claim("task-a")
    Run.objects.filter(pk=run.pk).update(heartbeat=timezone.now() - timedelta(seconds=settings.LBLAB_STALE_AFTER_S + 5))
    assert Run.objects.get(pk=run.pk).claim("task-b")


def test_it_requeues_runs_whose_heartbeat_went_stale(experiment, settings, django_capture_on_commit_callbacks):
    stale, fresh = experiment.runs.all()
    stale.claim("a")
    fresh.claim("b")
    Run.objects.filter(pk=stale.pk).update(heartbeat=timezone.now() - timedelta(seconds=settings.LBLAB_STALE_AFTER_S + 5))
    with django_capture_on_commit_callbacks() as callbacks:
        assert recover_stale_runs() == {"run": [stale.pk], "analysis": []}
    assert len(callbacks) == 1
    assert Run.objects.get(pk=stale.pk).status == Status.QUEUED
    assert Run.objects.get(pk=fresh.pk).status == Status.RUNNING


def test_it_cancels_a_queued_run_at_once_and_flags_a_running_one(experiment):
    queued, running = experiment.runs.all()
    running.claim("t")
    queued.request_cancel()
    running.request_cancel()
    assert Run.objects.get(pk=queued.pk).status == Status.CANCELLED
    running.refresh_from_db()
    assert running.status == Status.RUNNING and running.cancel_requested and running.cancel_is_requested()
    assert not Run.objects.get(pk=queued.pk).claim("late-message")


def test_it_resumes_a_cancelled_run(experiment, django_capture_on_commit_callbacks):
    run = experiment.runs.first()
    run.request_cancel()
    with django_capture_on_commit_callbacks() as callbacks:
        assert run.resume()
    assert len(callbacks) == 1
    run.refresh_from_db()
    assert run.status == Status.QUEUED and not run.cancel_requested
    assert not Run.objects.get(pk=run.pk).resume()  # only cancelled or failed runs


def test_it_derives_the_experiment_status_from_its_runs(experiment):
    sb, lb = experiment.runs.all()
    sb.claim("t")
    assert experiment.refresh_status() == Status.RUNNING
    sb.finish(Status.DONE, {"test_acc": 0.9})
    assert experiment.refresh_status() == Status.RUNNING  # lb still queued
    lb.claim("u")
    lb.finish(Status.FAILED, error="boom")
    assert experiment.refresh_status() == Status.FAILED
    assert Run.objects.get(pk=sb.pk).progress == 1.0


def test_it_estimates_the_remaining_time_from_the_time_spent(experiment, settings):
    """SB is half done after 100 s and says 100 s more; LB, queued, costs what the model says,
    scaled as SB's measured time is to its modelled one; one training slot runs them in turn."""
    settings.LBLAB_TRAIN_SLOTS = 1
    sb, lb = experiment.runs.all()
    assert experiment.progress_and_eta() == (0.0, None)  # nothing measured yet
    Run.objects.filter(pk=sb.pk).update(status=Status.RUNNING, progress=0.5, eta_seconds=100.0,
                                        started=timezone.now() - timedelta(seconds=100))
    sb.refresh_from_db()
    progress, eta = experiment.progress_and_eta()
    assert progress == pytest.approx(0.25)
    scale = 200 / sb.eta_state().modelled_s  # 100 s for half: 200 s measured for the whole run
    assert eta == pytest.approx(100 + scale * lb.eta_state().modelled_s, rel=0.01)
    assert lb.eta_state().batch == 128 and sb.eta_state().batch == 32


def test_it_serialises_a_run_to_plain_json(experiment):
    import json

    d = experiment.runs.first().to_dict()
    assert json.loads(json.dumps(d))["role"] in ("SB", "LB")
    assert json.loads(json.dumps(experiment.to_dict()))["runs"]


def test_it_makes_unguessable_unique_share_tokens_that_can_be_revoked(experiment):
    a = ShareLink.objects.create(experiment=experiment)
    b = ShareLink.objects.create(experiment=experiment)
    assert a.token != b.token and len(a.token) >= 43  # 32 random bytes, urlsafe base64
    assert ShareLink.experiment_for(a.token) == experiment
    a.revoke()
    assert ShareLink.experiment_for(a.token) is None and not a.is_active
    assert ShareLink.experiment_for(b.token) == experiment
    assert ShareLink.experiment_for("") is None and ShareLink.experiment_for("nope") is None


def test_it_lets_the_owner_and_active_token_holders_view(experiment, alice, bob):
    from django.contrib.auth.models import AnonymousUser

    link = ShareLink.objects.create(experiment=experiment)
    assert experiment.can_view(alice) and experiment.can_edit(alice)
    assert not experiment.can_view(bob) and not experiment.can_edit(bob)
    assert experiment.can_view(AnonymousUser(), link.token) and not experiment.can_edit(AnonymousUser())
    link.revoke()
    assert not experiment.can_view(AnonymousUser(), link.token)
    assert list(Experiment.objects.visible_to(bob)) == []
