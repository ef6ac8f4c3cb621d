import json
import pathlib
import re

import pytest
from django.urls import reverse

from dashboard.models import Experiment, MetricPoint, Run, Status
from dashboard.staticfinders import bokehjs_dir
from tests.exact import bokeh_nodes, run_figure_sources

pytestmark = pytest.mark.django_db


def test_it_sends_anonymous_visitors_to_the_login_page(client, experiment):
    for url in (reverse("experiment-list"), reverse("experiment-new"), reverse("experiment-detail", args=[experiment.pk])):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_it_logs_in_with_the_login_form(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "alice-pass-123"})
    assert response.status_code == 302 and response.url == reverse("experiment-list")


def test_it_creates_an_experiment_and_queues_its_runs_on_commit(client, alice, django_capture_on_commit_callbacks):
    client.force_login(alice)
    data = {"name": "my gap", "preset": "gap", "dataset": "mnist1d", "net": "mlp", "optimizer": "adam",
            "lr": "0.001", "sb_batch": "32", "lb_batch": "0.1", "epochs": "3", "seeds": "2"}
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("experiment-new"), data)
    exp = Experiment.objects.get(name="my gap")
    assert response.status_code == 302 and response.url == reverse("experiment-detail", args=[exp.pk])
    assert exp.owner == alice and exp.preset == "gap" and exp.runs.count() == 4 and len(callbacks) == 4


def test_it_keeps_what_the_user_typed_when_the_form_has_errors(client, alice):
    client.force_login(alice)
    data = {"name": "typed name", "preset": "custom", "dataset": "mnist1d", "net": "mlp", "optimizer": "sgd",
            "lr": "0.05", "sb_batch": "64", "lb_batch": "48", "epochs": "7", "seeds": "2"}
    response = client.post(reverse("experiment-new"), data)
    assert response.status_code == 200 and not Experiment.objects.exists()
    html = response.content.decode()
    assert "must be larger than the small batch" in html
    for typed in ('value="typed name"', 'value="0.05"', 'value="64"', 'value="48"', 'value="7"'):
        assert typed in html
    assert '<option value="sgd" selected>' in html


def test_it_lists_only_the_users_own_experiments(client, experiment, bob):
    Experiment.objects.create(owner=bob, name="bobs own")
    client.force_login(bob)
    assert _listed(client) == ["bobs own"]  # alice's "gap" is not there


def test_it_shows_the_owner_plots_runs_and_config(client, experiment, alice):
    client.force_login(alice)
    response = client.get(reverse("experiment-detail", args=[experiment.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'"/static/bokeh/js/bokeh\.min(\.[0-9a-f]+)?\.js"', html) and "cdn.bokeh.org" not in html
    names = set(run_figure_sources(response.context["figure"]))
    for run in experiment.runs.all():
        assert f"r{run.pk}:loss" in names and f"r{run.pk}:test_acc" in names
    assert "mean:SB:loss" in names and "mean:LB:test_loss" in names
    live = response.context["live"]
    assert live["wsPath"] == f"/ws/experiments/{experiment.pk}/"
    assert set(live["runs"]) == set(experiment.runs.values_list("pk", flat=True))
    assert html.count('class="cancel"') == 2 and "Create share link" in html


def test_it_draws_each_warm_start_and_each_remedy_as_its_own_coloured_group(client, experiment, alice):
    """Warm-started LB runs start from different SB iterates: no mean over them; other roles get colours."""
    from dashboard.models import Run

    sb = experiment.runs.get(role="SB")
    for epoch in (10, 2, 0):
        Run.objects.create(experiment=experiment, role="LB", seed=0, tags={"sb_epoch": epoch, "depends_on": sb.pk})
    Run.objects.create(experiment=experiment, role="LB + SAM", seed=0)
    client.force_login(alice)
    response = client.get(reverse("experiment-detail", args=[experiment.pk]))
    nodes = list(bokeh_nodes(response.context["figure"]["item"]["doc"]))
    labels = [n["attributes"]["label"]["value"] for n in nodes if n.get("name") == "LegendItem"]
    legend = list(dict.fromkeys(labels))  # one entry per group, the same in every panel
    assert legend == ["LB", "SB", "LB + SAM", "LB from SB epoch 0", "LB from SB epoch 2", "LB from SB epoch 10"]
    assert len(labels) == 4 * len(legend)
    colours = {n["attributes"]["line_color"] for n in nodes
               if n.get("name") == "Line" and "line_color" in n["attributes"]}
    assert len(colours) == 6  # SB blue, LB vermillion and one each for the four other groups
    roles = {run["role"] for run in response.context["live"]["runs"].values()}
    assert "LB from SB epoch 2" in roles and "LB + SAM" in roles
    html = response.content.decode()
    assert html.count("from SB epoch") >= 3


def test_it_plots_stored_points_downsampled_to_at_most_1600_per_line(client, experiment, alice):
    run = experiment.runs.first()
    MetricPoint.objects.bulk_create([MetricPoint(run=run, name="loss", step=s, value=1 / s) for s in range(1, 20001)])
    client.force_login(alice)
    figure = client.get(reverse("experiment-detail", args=[experiment.pk])).context["figure"]
    x = run_figure_sources(figure)[f"r{run.pk}:loss"]["x"]
    # a falling curve: each of 400 buckets keeps its first point (its maximum) and its last (its minimum)
    assert 750 < len(x) <= 1600 and x[0] == 1 and x[-1] == 20000


def test_it_shows_the_gap_table_with_mean_and_std(client, experiment, alice):
    sb = experiment.runs.get(role="SB")
    sb.claim("t")
    sb.finish(Status.DONE, {"train_acc": 1.0, "test_acc": 0.9, "train_loss": 0.01, "test_loss": 0.4})
    client.force_login(alice)
    html = client.get(reverse("experiment-detail", args=[experiment.pk])).content.decode()
    # accuracy in percent in the runs table as in the result tables; losses with four decimals
    assert '<td data-final="test_acc">90.00%</td>' in html and '<td data-final="train_acc">100.00%</td>' in html
    assert '<td data-final="test_loss">0.4000</td>' in html


def test_it_serves_bokehjs_from_the_installed_package(client):
    response = client.get("/static/bokeh/js/bokeh.min.js")
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body == pathlib.Path(bokehjs_dir() / "bokeh.min.js").read_bytes()
    assert client.get("/static/bokeh/js/../../lib/anything.js").status_code == 404


def test_it_cancels_and_resumes_a_run_for_its_owner(client, experiment, alice, django_capture_on_commit_callbacks):
    run = experiment.runs.first()
    client.force_login(alice)
    assert client.post(reverse("run-cancel", args=[run.pk])).status_code == 302
    assert Run.objects.get(pk=run.pk).status == Status.CANCELLED
    with django_capture_on_commit_callbacks() as callbacks:
        assert client.post(reverse("run-resume", args=[run.pk])).status_code == 302
    assert Run.objects.get(pk=run.pk).status == Status.QUEUED and len(callbacks) == 1


def test_it_refuses_a_post_without_a_csrf_token(experiment, alice):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    run = experiment.runs.first()
    assert client.post(reverse("run-cancel", args=[run.pk])).status_code == 403
    assert Run.objects.get(pk=run.pk).status == Status.QUEUED


def test_it_deletes_an_experiment_for_its_owner(client, experiment, alice):
    client.force_login(alice)
    assert client.post(reverse("experiment-delete", args=[experiment.pk])).status_code == 302
    assert not Experiment.objects.exists() and not Run.objects.exists()


def _listed(client, **params) -> list[str]:
    import re

    html = client.get(reverse("experiment-list"), params).content.decode()
    return re.findall(r'<tr data-experiment="\d+">\s*<td><a href="[^"]+">([^<]+)</a>', html)


def test_the_list_searches_filters_and_sorts(client, alice):
    import dataclasses

    from dashboard import executor
    from tests.dashboard.conftest import TINY
    from trainer.kinds import KINDS

    for name, kind, epochs in (("Gap A", "gap", 3), ("Gap B", "gap", 7), ("Sweep", "sweep", 3)):
        executor.create(alice, name, KINDS[kind], dataclasses.replace(TINY, epochs=epochs))
    Experiment.objects.filter(name="Gap B").update(status=Status.DONE)
    client.force_login(alice)
    assert _listed(client) == ["Sweep", "Gap B", "Gap A"]  # newest first
    assert _listed(client, q="gap") == ["Gap B", "Gap A"]
    assert _listed(client, kind="sweep") == ["Sweep"]
    assert _listed(client, status="done") == ["Gap B"]
    assert _listed(client, sort="name") == ["Gap A", "Gap B", "Sweep"]
    assert _listed(client, sort="-name", q="gap") == ["Gap B", "Gap A"]
    assert _listed(client, sort="bogus") == ["Sweep", "Gap B", "Gap A"]
    html = client.get(reverse("experiment-list"), {"q": "nothing"}).content.decode()
    assert "No experiment matches" in html
    # same-named experiments differ at a glance: their key settings are on the row
    html = client.get(reverse("experiment-list"), {"q": "gap"}).content.decode()
    assert "mnist1d · mlp · adam lr 0.001 · SB 32 / LB 128 · 7 epochs · 1 seed · subset 256" in html


def test_a_plot_without_points_has_axes_and_says_it_waits(client, experiment, alice):
    """Before the first point each panel has a placeholder (so BokehJS can set its ranges) and a
    "waiting" label, which the page hides when a line gets a point."""
    client.force_login(alice)
    figure = client.get(reverse("experiment-detail", args=[experiment.pk])).context["figure"]
    nodes = list(bokeh_nodes(figure["item"]["doc"]))
    labels = [n["attributes"] for n in nodes if n.get("name") == "Label"]
    assert len(labels) == 4 and all(a["text"] == "waiting for the first point" for a in labels)
    placeholders = [n["attributes"] for n in nodes if n.get("name") == "ColumnDataSource"
                    and str(n["attributes"].get("name", "")).startswith("waiting:")]
    assert len(placeholders) == 4 and all(p["data"]["entries"] for p in placeholders)


def test_the_owner_tags_and_annotates_an_experiment_and_the_list_finds_it_by_them(client, experiment, alice, bob):
    client.force_login(alice)
    url = reverse("experiment-notes", args=[experiment.pk])
    response = client.post(url, {"tags": " adam, baseline ,adam,, ", "notes": "SB 32 vs LB 10%\r\nrerun after the fix"})
    assert response.status_code == 302
    experiment.refresh_from_db()
    assert experiment.tag_list == ["adam", "baseline"] and experiment.notes == "SB 32 vs LB 10%\nrerun after the fix"
    page = client.get(reverse("experiment-detail", args=[experiment.pk])).content.decode()
    assert 'value="adam, baseline"' in page and "rerun after the fix" in page
    listed = lambda **query: [row[0].pk for row in client.get(reverse("experiment-list"), query).context["rows"]]  # noqa: E731
    assert listed(tag="baseline") == [experiment.pk] and listed(tag="base") == []
    assert listed(q="rerun") == [experiment.pk] and listed(q="adam") == [experiment.pk]
    client.force_login(bob)
    assert client.post(url, {"tags": "mine"}).status_code == 404
    experiment.refresh_from_db()
    assert experiment.tag_list == ["adam", "baseline"]


@pytest.mark.parametrize("tags, notes, message", [
    (", ".join(f"t{i}" for i in range(21)), "", "tags: at most 20 tags (got 21); remove some"),
    ("x" * 41, "", "is longer than 40 characters; shorten it"),
    ("ok", "n" * 20001, "notes: at most 20000 characters (got 20001); shorten them"),
])
def test_bad_tags_or_notes_are_refused_on_the_field_and_what_was_typed_is_kept(client, experiment, alice, tags, notes, message):
    client.force_login(alice)
    response = client.post(reverse("experiment-notes", args=[experiment.pk]), {"tags": tags, "notes": notes})
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert f'value="{tags}"' in html and (notes[:50] in html)
    experiment.refresh_from_db()
    assert experiment.tags == "" and experiment.notes == ""


def test_runs_that_measure_curvature_get_a_curvature_plot_with_each_groups_stability_threshold(alice):
    import dataclasses
    from dashboard import executor
    from dashboard.figures.runs import experiment_figure
    from trainer.kinds import KINDS
    from tests.dashboard.conftest import TINY

    plain = executor.create(alice, "plain", KINDS["gap"], TINY)
    executor.create_runs(plain)
    assert "panel:curv" not in json.dumps(experiment_figure(plain.runs.all()))
    spec = dataclasses.replace(TINY, optimizer="sgd", lr=0.05, curvature_every=5)
    exp = executor.create(alice, "curvature", KINDS["gap"], spec)
    executor.create_runs(exp)
    sb = exp.runs.get(role="SB")
    MetricPoint.objects.bulk_create([MetricPoint(run=sb, name="lambda_max", step=s, value=s / 10) for s in (5, 10, 15)])
    figure = json.dumps(experiment_figure(exp.runs.all()))
    assert "panel:curv" in figure
    sources = run_figure_sources(json.loads(figure))
    threshold = sources["threshold:SB"]
    momentum = TINY.train_config("SB", 0).momentum  # torch SGD's heavy ball: (2 + 2 beta) / eta
    assert threshold["y"] == [pytest.approx((2 + 2 * momentum) / 0.05)] and "(2 + 2β)/η" in threshold["text"][0]
    assert sources[f"r{sb.pk}:lambda_max"]["x"] == [5, 10, 15]  # the measured points are in the figure


def _sources(node):
    return (n for n in bokeh_nodes(node) if n.get("name") == "ColumnDataSource")


def test_the_new_kinds_figures_draw_each_row_of_their_tables():
    from dashboard.figures.kinds import kind_figure
    from trainer.kinds import KINDS
    from trainer.kinds.records import AnalysisRecord, Records, RunRecord

    def names(item):
        return {s["attributes"]["name"]: dict(s["attributes"]["data"]["entries"]) for s in _sources(item["doc"])
                if str(s["attributes"].get("name", "")).startswith("fig:")}

    eos = Records([RunRecord(1, "GD η=0.2", 0, {"optimizer": "sgd", "lr": 0.2},
                             history={"lambda_max": {5: 5.0, 10: 10.0}, "train_loss": {1: 2.0, 2: 1.0}})])
    drawn = names(kind_figure("eos", KINDS["eos"].tables(None, None, eos)))
    assert drawn["fig:eos:GD η=0.2 edge"]["y"] == [0.5, 1.0] and drawn["fig:eos:GD η=0.2 loss"]["x"] == [1.0, 2.0]

    runs = [RunRecord(1, "SB", 0, {})]
    results = [AnalysisRecord(10 + i, "measures", 1, {"alpha": a}, result={"values": {"lambda_max": 2.0 * a * a},
                                                                             "output_change": 0.0})
               for i, a in enumerate((1.0, 8.0))]
    drawn = names(kind_figure("reparam", KINDS["reparam"].tables(None, KINDS["reparam"].Options(),
                                                                 Records(runs, results))))
    assert drawn["fig:reparam:lambda_max"] == {"x": [1.0, 8.0], "y": [1.0, 64.0]}

    grid = [RunRecord(i, f"B={b}", 0, {"lr": 1e-3}, final={"train_acc": 1.0, "test_acc": t, "batch_size": b,
                                                            "n_train": 4000})
            for i, (b, t) in enumerate(((32, 0.7), (512, 0.6)), 1)]
    measured = [AnalysisRecord(10 + r.id, "measures", r.id, {"alpha": 1.0}, result={"values": {"adaptive": float(r.id)}})
                for r in grid]
    drawn = names(kind_figure("measures", KINDS["measures"].tables(None, None, Records(grid, measured))))
    assert drawn["fig:measures:adaptive:32"] == {"x": [30.0], "y": [1.0]}
    assert drawn["fig:measures:adaptive:512"] == {"x": [40.0], "y": [2.0]}

    options = KINDS["scaling"].Options(batch_sizes=(16, 64), learning_rates=(0.1,))
    steps = [RunRecord(i, f"B={b}", 0, {"lr": 0.1}, final={"batch_size": b, "steps": e * (4000 // b), "epochs": e},
                       history={"train_loss": {e: 0.2}, "b_simple": {1: 300.0}})
             for i, (b, e) in enumerate(((16, 4), (64, 2)), 1)]
    item = kind_figure("scaling", KINDS["scaling"].tables(None, options, Records(steps)))
    drawn = names(item)
    assert drawn["fig:scaling:steps"]["y"] == [1000.0, 124.0] and drawn["fig:scaling:perfect"]["y"] == [1000.0, 250.0]
    assert '"location":300.0' in json.dumps(item, separators=(",", ":"))  # B_simple drawn where measured
