import csv
import io

import pytest
from django.urls import reverse

from dashboard.models import MetricPoint, Run, ShareLink

pytestmark = pytest.mark.django_db


@pytest.fixture
def points(experiment):
    run = experiment.runs.get(role="SB")
    MetricPoint.objects.bulk_create(
        [MetricPoint(run=run, name="loss", step=s, value=10.0 - s, seq=1 + (s > 2)) for s in (1, 2, 3, 4)]
        + [MetricPoint(run=run, name="test_acc", step=1, value=0.5, seq=2)])
    Run.objects.filter(pk=run.pk).update(last_seq=2)
    return run


def test_it_returns_points_after_a_sequence_number(client, alice, points):
    client.force_login(alice)
    url = reverse("api-run-metrics", args=[points.pk])
    everything = client.get(url).json()
    assert everything["last_seq"] == 2
    assert everything["points"] == {"loss": [[1, 9.0], [2, 8.0], [3, 7.0], [4, 6.0]], "test_acc": [[1, 0.5]]}
    later = client.get(url, {"after_seq": 1}).json()
    assert later["points"] == {"loss": [[3, 7.0], [4, 6.0]], "test_acc": [[1, 0.5]]}
    assert client.get(url, {"after_seq": 2}).json()["points"] == {}
    assert client.get(url, {"after_seq": 0, "name": "test_acc"}).json()["points"] == {"test_acc": [[1, 0.5]]}
    assert client.get(url, {"after_seq": "x"}).status_code == 400


def test_it_lists_experiments_with_run_progress(client, alice, experiment):
    assert client.get(reverse("api-experiments")).status_code == 401
    client.force_login(alice)
    data = client.get(reverse("api-experiments")).json()["experiments"]
    assert [e["id"] for e in data] == [experiment.pk]
    assert {r["role"] for r in data[0]["runs"]} == {"SB", "LB"} and data[0]["progress"] == 0


def test_it_describes_an_experiment_and_a_run(client, alice, experiment):
    client.force_login(alice)
    data = client.get(reverse("api-experiment", args=[experiment.pk])).json()
    assert data["name"] == "gap" and data["owner"] == "alice" and len(data["runs"]) == 2
    run = experiment.runs.first()
    assert client.get(reverse("api-run", args=[run.pk])).json()["config"]["dataset"] == "mnist1d"


def test_it_exports_every_point_as_csv_and_json(client, points, experiment):
    token = ShareLink.objects.create(experiment=experiment).token
    response = client.get(reverse("export-csv", args=[experiment.pk]), {"token": token})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["run", "role", "seed", "metric", "step", "value"]
    assert rows[1:] == [[str(points.pk), "SB", "0", "loss", str(s), repr(10.0 - s)] for s in (1, 2, 3, 4)] + [
        [str(points.pk), "SB", "0", "test_acc", "1", "0.5"]]
    data = client.get(reverse("export-json", args=[experiment.pk]), {"token": token}).json()
    sb = next(r for r in data["runs"] if r["id"] == points.pk)
    assert sb["metrics"]["loss"] == [[1, 9.0], [2, 8.0], [3, 7.0], [4, 6.0]]


@pytest.mark.parametrize("path, status, words", [
    ("/api/nothing-here/", 404, "no such endpoint or object: /api/nothing-here/"),
    ("/api/experiments/{e}/", 404, "No such experiment"),  # another's: not disclosed, as a page
    ("/api/runs/999999/", 404, "No Run matches"),
    ("/api/runs/{r}/metrics/?after_seq=x", 400, "after_seq must be a sequence number"),
    ("/api/experiments/{e}/?token=a%00b", 400, "contains a NUL character"),
    ("/api/experiments/", 401, "log in"),
])
def test_the_api_answers_its_errors_as_json_with_a_message(client, experiment, alice, bob, path, status, words):
    if status != 401:
        client.force_login(bob if status == 404 else alice)
    response = client.get(path.format(e=experiment.pk, r=experiment.runs.first().pk))
    assert response.status_code == status and response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == status and words in body["error"]


def test_pages_keep_their_html_error_pages(client, bob, experiment):
    client.force_login(bob)
    response = client.get(f"/experiments/{experiment.pk}/")
    assert response.status_code == 404 and "text/html" in response["Content-Type"]
