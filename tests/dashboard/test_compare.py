import pytest
from django.urls import reverse

from dashboard import executor
from dashboard.models import Experiment, MetricPoint
from tests.dashboard.conftest import TINY
from tests.exact import run_figure_sources

pytestmark = pytest.mark.django_db


def test_it_overlays_runs_from_different_experiments(client, alice, experiment):
    other = Experiment.objects.create(owner=alice, name="other", config=TINY.to_dict())
    a = experiment.runs.get(role="SB")
    b = executor.create_runs(other)[1]
    MetricPoint.objects.create(run=b, name="test_acc", step=1, value=0.75)
    client.force_login(alice)
    response = client.get(reverse("compare"), {"runs": f"{a.pk},{b.pk}"})
    assert response.status_code == 200
    names = run_figure_sources(response.context["figure"])
    assert f"r{a.pk}:loss" in names and f"r{b.pk}:test_acc" in names
    html = response.content.decode()
    assert "other" in html and "gap" in html


def test_it_refuses_runs_the_user_may_not_see(client, bob, experiment):
    client.force_login(bob)
    run = experiment.runs.first()
    assert client.get(reverse("compare"), {"runs": str(run.pk)}).status_code == 404
    assert client.get(reverse("compare"), {"runs": "x"}).status_code == 404
    assert client.get(reverse("compare")).status_code == 200  # the empty chooser


def test_its_table_gives_the_batch_a_run_trained_with_and_accuracy_in_percent(client, alice, experiment):
    from dashboard.models import Status

    import dataclasses

    tenth = Experiment.objects.create(owner=alice, name="lb 10%", config=dataclasses.replace(TINY, lb_batch=0.1).to_dict())
    lb = next(run for run in executor.create_runs(tenth) if run.role == "LB")
    assert lb.config["batch_size"] == 0.1  # 10% of the 256 training samples: the trainer's final metrics say 25
    lb.claim("t")
    lb.finish(Status.DONE, {"batch_size": 25, "test_acc": 0.7312, "train_acc": 1.0})
    client.force_login(alice)
    row = client.get(reverse("compare"), {"runs": str(lb.pk)}).content.decode().split('id="compared"')[1]
    assert "<td>25</td>" in row and ">73.12%</td>" in row and ">100.00%</td>" in row
