"""Analysis result pages, exports and permissions: the paper's figures built from stored results,
full-resolution CSV/JSON, the owner requests, a share token only reads."""
import csv
import io
import re

import pytest
from django.test import Client
from django.urls import reverse

from dashboard import executor
from dashboard.analyses import request_analysis
from dashboard.worker.analysis import execute_analysis
from dashboard.models import Analysis, ShareLink, Status
from tests.exact import bokeh_nodes
from tests.dashboard.test_analyses import _runs, analysis_queue, finished  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def _done(exp, kind, params, *runs):
    analysis = request_analysis(exp, kind, params, *runs)
    assert execute_analysis(analysis.pk) == Status.DONE, Analysis.objects.get(pk=analysis.pk).error
    analysis.refresh_from_db()
    return analysis


def _lines(item) -> list[dict]:
    """Each Line renderer of a json_item: its source name, data, whether dashed, and y range."""
    lines = []
    for node in bokeh_nodes(item["doc"]):
        attrs = node.get("attributes", {})
        if node.get("name") == "GlyphRenderer" and attrs.get("glyph", {}).get("name") == "Line":
            source = attrs["data_source"]["attributes"]
            lines.append({"name": source["name"], "data": dict(source["data"]["entries"]),
                          "dashed": attrs["glyph"]["attributes"].get("line_dash", []) not in ([], "solid"),
                          "y_range": attrs.get("y_range_name", "default"),
                          "color": attrs["glyph"]["attributes"].get("line_color")})
    return lines


def test_it_draws_the_parametric_plot_with_loss_left_and_accuracy_right(client, alice, finished, analysis_queue):
    sb, lb = _runs(finished)
    analysis = _done(finished, "interpolation", {"points": 9}, sb, lb)
    client.force_login(alice)
    response = client.get(reverse("analysis-detail", args=[analysis.pk]))
    assert response.status_code == 200
    item = response.context["figure"]
    figure = next(n for n in bokeh_nodes(item["doc"]) if n.get("name") == "Figure")
    assert [name for name, _ in figure["attributes"]["extra_y_ranges"]["entries"]] == ["accuracy"]  # + the default
    lines = {line["name"]: line for line in _lines(item)}
    assert set(lines) == {"train_loss", "test_loss", "train_acc", "test_acc"}
    for name, line in lines.items():
        assert len(line["data"]["x"]) == len(line["data"]["y"]) == 9
        assert line["dashed"] == name.startswith("test")
        assert line["y_range"] == ("accuracy" if name.endswith("acc") else "default")
    assert lines["train_loss"]["data"]["y"] == analysis.result["train_loss"]
    # blue and red mean SB and LB on every page: the two quantities take other colours
    from dashboard.figures.style import ROLE_COLORS

    assert {line["color"] for line in lines.values()}.isdisjoint(ROLE_COLORS.values())
    assert lines["train_loss"]["color"] != lines["train_acc"]["color"]
    assert b"Keskar et al. Fig. 3" in response.content and b"/static/bokeh/js/bokeh.min." in response.content

    rows = list(csv.reader(io.StringIO(client.get(reverse("analysis-export-csv", args=[analysis.pk])).content.decode())))
    assert rows[0] == ["alpha", "train_loss", "train_acc", "test_loss", "test_acc"] and len(rows) == 10
    assert float(rows[1][1]) == analysis.result["train_loss"][0]  # repr: full precision
    data = client.get(reverse("analysis-export-json", args=[analysis.pk])).json()
    assert data["result"]["alphas"] == analysis.result["alphas"] and data["kind"] == "interpolation"


def test_it_tabulates_sharpness_per_epsilon(client, alice, finished, analysis_queue):
    _, lb = _runs(finished)
    analysis = _done(finished, "sharpness", {"epsilons": [1e-3, 5e-4], "max_iter": 2, "restarts": 1}, lb)
    client.force_login(alice)
    html = client.get(reverse("analysis-detail", args=[analysis.pk])).content.decode()
    assert html.count('<tr data-epsilon="') == 2 and "solver message" in html and "restarts: max" in html
    assert "subspace_seed: 0" in html  # every option the trainer recorded
    rows = list(csv.reader(io.StringIO(client.get(reverse("analysis-export-csv", args=[analysis.pk])).content.decode())))
    assert [float(r[0]) for r in rows[1:]] == [1e-3, 5e-4]


def test_it_shows_the_hessian_spectrum_and_the_landscape(client, alice, finished, analysis_queue):
    sb, _ = _runs(finished)
    hessian = _done(finished, "hessian", {"k": 2, "n_samples": 128}, sb)
    assert len(hessian.result["eigen"]["eigenvalues"]) == 2 and hessian.result["trace"]["samples"] >= 1
    landscape = _done(finished, "landscape", {"resolution": 5, "span": 0.5, "n_samples": 64}, sb)
    client.force_login(alice)

    page = client.get(reverse("analysis-detail", args=[hessian.pk]))
    table = page.content.decode().split('id="hessian-table"')[1].split("</table>")[0]
    cells = re.findall(r"<td>([^<]*)</td>", table)
    assert cells and not any(re.fullmatch(r"-?\d*\.\d{5,}(e[-+]\d+)?", c) for c in cells)  # 4 significant digits
    eigen = hessian.result["eigen"]["eigenvalues"][0]
    assert f"{eigen:.4g}" in cells
    item = page.context["figure"]
    density = next(n for n in bokeh_nodes(item["doc"]) if n.get("attributes", {}).get("name") == "density")
    assert any(n.get("name") == "LogScale" for n in bokeh_nodes(item["doc"]))  # the density's log y axis
    assert density["attributes"]["data"]["entries"]

    item = client.get(reverse("analysis-detail", args=[landscape.pk])).context["figure"]
    names = {n.get("name") for n in bokeh_nodes(item["doc"])}
    assert {"Image", "ContourRenderer"} <= names
    images = [n for n in bokeh_nodes(item["doc"]) if n.get("attributes", {}).get("name") in ("train_loss", "test_loss")]
    assert len(images) == 2  # train and test grids
    rows = list(csv.reader(io.StringIO(client.get(reverse("analysis-export-csv", args=[landscape.pk])).content.decode())))
    assert len(rows) == 1 + 5 * 5
    centre = next(r for r in rows[1:] if float(r[0]) == 0 and float(r[1]) == 0)
    assert float(centre[2]) == pytest.approx(landscape.result["train_loss"][2][2])


def test_it_lets_only_the_owner_request_and_a_share_token_read(client, alice, bob, finished, analysis_queue):
    sb, lb = _runs(finished)
    url = reverse("analysis-request", args=[finished.pk])
    client.force_login(bob)
    assert client.post(url, {"kind": "sharpness", "run": sb.pk}).status_code == 404
    assert not Analysis.objects.exists()

    client.force_login(alice)
    response = client.post(url, {"kind": "sharpness", "run": sb.pk, "epsilons": "1e-3", "max_iter": "2"}, follow=True)
    analysis = Analysis.objects.get()
    assert analysis.params["epsilons"] == [1e-3] and b"Queued the sharpness analysis" in response.content
    response = client.post(url, {"kind": "sharpness", "run": sb.pk, "epsilons": "0.001", "max_iter": "2"}, follow=True)
    assert Analysis.objects.count() == 1 and b"served from the database" in response.content
    response = client.post(url, {"kind": "interpolation", "run": sb.pk, "run_b": lb.pk, "points": "1"}, follow=True)
    assert b"points must be between 2 and 401" in response.content and Analysis.objects.count() == 1
    page = client.get(reverse("experiment-detail", args=[finished.pk])).content.decode()
    assert 'id="analysis-form-sharpness"' in page and f'data-analysis="{analysis.pk}"' in page
    execute_analysis(analysis.pk)

    client.force_login(bob)
    for name in ("analysis-detail", "analysis-export-json", "analysis-export-csv", "analysis-status"):
        assert client.get(reverse(name, args=[analysis.pk])).status_code == 404

    client.logout()
    token = ShareLink.objects.create(experiment=finished).token
    for name in ("analysis-detail", "analysis-export-json", "analysis-export-csv", "analysis-status"):
        assert client.get(reverse(name, args=[analysis.pk]) + f"?token={token}").status_code == 200
    page = client.get(reverse("shared-experiment", args=[token])).content.decode()
    assert f'data-analysis="{analysis.pk}"' in page and "analysis-form-" not in page
    assert f'/analyses/{analysis.pk}/?token={token}' in page
    response = client.post(url + f"?token={token}", {"kind": "sharpness", "run": sb.pk, "epsilons": "5e-4"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert Analysis.objects.count() == 1


# -- interpolation across experiments -------------------------------------------------------

def _finished_experiment(owner, name, **spec):
    import dataclasses

    from dashboard.models import Experiment
    from dashboard.worker.training import execute_run
    from tests.dashboard.conftest import TINY

    exp = Experiment.objects.create(owner=owner, name=name, config=dataclasses.replace(TINY, **spec).to_dict())
    for run in executor.create_runs(exp):
        assert execute_run(run.pk, task_id="test") == Status.DONE
    return exp


def test_it_interpolates_towards_a_run_of_another_of_the_users_experiments(client, alice, finished, analysis_queue):
    from trainer.evaluate import evaluate
    from tests.dashboard.test_analyses import _model_and_data

    other = _finished_experiment(alice, "faster lr", lr=3e-3)
    far = other.runs.get(role="LB")
    sb, _ = _runs(finished)
    client.force_login(alice)
    page = client.get(reverse("experiment-detail", args=[finished.pk])).content.decode()
    assert f'<optgroup label="faster lr (#{other.pk})">' in page and f'<option value="{far.pk}">' in page

    response = client.post(reverse("analysis-request", args=[finished.pk]),
                           {"kind": "interpolation", "run": sb.pk, "run_b": far.pk, "points": "3",
                            "alpha_min": "0", "alpha_max": "1", "bn": "batch"}, follow=True)
    analysis = Analysis.objects.get(experiment=finished)
    assert analysis.run_b == far and b"Queued the interpolation analysis" in response.content
    assert f"LB seed 0 of faster lr (#{other.pk})" in response.content.decode()
    assert execute_analysis(analysis.pk) == Status.DONE, Analysis.objects.get(pk=analysis.pk).error
    analysis.refresh_from_db()
    # alpha = 1 is the other experiment's LB model, evaluated here on this run's data
    model, _, config = _model_and_data(far)
    _, data, _ = _model_and_data(sb)
    loss, acc = evaluate(model, data.x_test, data.y_test, bn_mode="batch", batch_size=config.eval_batch_size)
    assert analysis.result["test_loss"][2] == pytest.approx(loss, rel=1e-5)
    assert analysis.result["test_acc"][2] == pytest.approx(acc)

    # a share link of this experiment reveals nothing of the other one: not its name, not its run's id
    token = ShareLink.objects.create(experiment=finished).token
    stranger = Client()
    for url in (reverse("analysis-detail", args=[analysis.pk]), reverse("experiment-detail", args=[finished.pk]),
                reverse("experiment-sections", args=[finished.pk])):
        response = stranger.get(url, {"token": token})
        shown = response.content.decode() if "html" in response["Content-Type"] else str(response.json())
        assert "faster lr" not in shown and "→ a run of another experiment" in shown, url
    for name in ("analysis-export-json", "analysis-status"):
        exported = stranger.get(reverse(name, args=[analysis.pk]), {"token": token}).json()
        assert exported["run_b"] is None and "+" not in exported["weights"], name
    assert client.get(reverse("analysis-export-json", args=[analysis.pk])).json()["run_b"] == far.pk  # the owner's

    other.remove()  # the far end's experiment goes; the stored result stays
    analysis.refresh_from_db()
    assert analysis.run_b is None and analysis.status == Status.DONE
    page = client.get(reverse("analysis-detail", args=[analysis.pk])).content.decode()
    assert "→ a deleted run" in page


def test_it_refuses_a_far_end_of_someone_elses_or_of_another_network(client, alice, bob, finished, analysis_queue):
    from dashboard.models import Run

    bobs = _finished_experiment(bob, "bob's").runs.get(role="LB")
    sb, lb = _runs(finished)
    wide = Run.objects.create(experiment=lb.experiment, role="LB", seed=7, status=Status.DONE,
                              config={**lb.config, "width": 64})
    client.force_login(alice)
    page = client.get(reverse("experiment-detail", args=[finished.pk])).content.decode()
    assert "bob&#x27;s" not in page and f'value="{bobs.pk}"' not in page
    url = reverse("analysis-request", args=[finished.pk])
    response = client.post(url, {"kind": "interpolation", "run": sb.pk, "run_b": bobs.pk}, follow=True)
    assert b"run_b: interpolation needs a second run" in response.content
    response = client.post(url, {"kind": "interpolation", "run": sb.pk, "run_b": wide.pk}, follow=True)
    assert f"run_b: run #{wide.pk} has width 64 but run #{sb.pk} has width default".encode() in response.content
    assert not Analysis.objects.exists()


def test_it_maps_the_hessian_and_the_landscape_of_a_kept_snapshot(client, alice, analysis_queue):
    from dashboard.analyses import weights_identity
    from dashboard.models import Experiment
    from dashboard.worker.training import execute_run
    from tests.dashboard.conftest import TINY

    exp = Experiment.objects.create(owner=alice, name="snapshots", config=TINY.to_dict())
    sb = executor.create_runs(exp)[0]
    sb.tags = {"snapshot_every": 1}
    sb.save()
    assert execute_run(sb.pk, task_id="test") == Status.DONE
    sb.refresh_from_db()
    client.force_login(alice)
    page = client.get(reverse("experiment-detail", args=[exp.pk])).content.decode()
    for kind in ("sharpness", "hessian", "landscape"):
        form = page[page.index(f'id="analysis-form-{kind}"'):]
        assert '<input name="epoch"' in form[:form.index("</form>")], kind
    url = reverse("analysis-request", args=[exp.pk])
    client.post(url, {"kind": "hessian", "run": sb.pk, "k": "1", "trace": "on", "n_samples": "32", "epoch": "1"})
    client.post(url, {"kind": "landscape", "run": sb.pk, "resolution": "3", "epoch": "1"})
    analyses = {a.kind: a for a in Analysis.objects.filter(experiment=exp)}
    assert {a.epoch for a in analyses.values()} == {1}
    assert analyses["hessian"].weights == weights_identity(sb, 1) != weights_identity(sb, None)


def test_one_action_asks_for_the_sharpness_of_every_finished_run_and_the_section_tabulates_it(client, alice, experiment):
    """"every finished run" queues one analysis per run (existing ones kept); the analyses section
    lists each run's values and per role the mean ± std, computed here with numpy."""
    import dataclasses

    import numpy as np

    from dashboard.models import Experiment
    from tests.dashboard.conftest import TINY

    experiment = Experiment.objects.create(owner=alice, name="two seeds", config=dataclasses.replace(TINY, seeds=2).to_dict())
    runs = executor.create_runs(experiment)
    assert len(runs) == 4
    from dashboard.analyses import weights_path

    for run in runs:
        run.claim("t")
        run.finish(Status.DONE, {"test_acc": 0.5})
        path = weights_path(run, None)  # the weights are not read until an analysis runs
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"weights of run %d" % run.pk)
    client.force_login(alice)
    url = reverse("analysis-request", args=[experiment.pk])
    post = {"kind": "sharpness", "run": "all", "epsilons": "0.001", "max_iter": "2", "restarts": "0"}
    response = client.post(url, post, follow=True)
    assert f"Queued the sharpness analysis of {len(runs)} runs." in response.content.decode(), [str(m) for m in response.context["messages"]]
    assert sorted(Analysis.objects.filter(kind="sharpness").values_list("run_id", flat=True)) == [r.pk for r in runs]
    again = client.post(url, post, follow=True).content.decode()
    assert f"Queued the sharpness analysis of 0 runs; {len(runs)} already computed or under way, kept." in again
    assert Analysis.objects.filter(kind="sharpness").count() == len(runs)

    values = {}
    for i, analysis in enumerate(Analysis.objects.filter(kind="sharpness").select_related("run").order_by("pk")):
        value = 1.5 + 10 * i
        values.setdefault(analysis.run.role, []).append(value)
        Analysis.objects.filter(pk=analysis.pk).update(status=Status.DONE, result={
            "entries": [{"epsilon": 0.001, "value": value}], "options": {}})
    html = client.get(reverse("experiment-detail", args=[experiment.pk])).content.decode()
    table = html.split('id="sharpness-by-run"')[1].split("</table>")[0]
    for role, vs in values.items():
        cell = f"{np.mean(vs):.4g}" + (f" ± {np.std(vs, ddof=1):.2g}" if len(vs) > 1 else "")
        assert f"{role} mean ± std (n = {len(vs)})</th>\n      <td>{cell}</td>" in table, (role, cell, table)
    if "SB" in values and "LB" in values:
        assert f"LB is {np.mean(values['LB']) / np.mean(values['SB']):.3g}× as sharp as SB" in html


def test_every_run_refuses_a_snapshot_epoch_and_an_experiment_without_finished_runs(client, alice, experiment):
    client.force_login(alice)
    url = reverse("analysis-request", args=[experiment.pk])
    html = client.post(url, {"kind": "sharpness", "run": "all"}, follow=True).content.decode()
    assert "run: no run has finished yet" in html


def test_a_converged_solve_stands_beside_the_papers_protocol(client, alice, finished, analysis_queue):
    _, lb = _runs(finished)
    analysis = _done(finished, "sharpness", {"epsilons": [1e-3], "converged": True, "converged_iter": 30}, lb)
    paper, converged = analysis.result["entries"][0], analysis.result["converged"]["entries"][0]
    assert analysis.result["options"]["max_iter"] == 10 and analysis.result["converged"]["options"]["max_iter"] == 30
    assert converged["value_max"] >= paper["value"] * (1 - 1e-9)  # more iterations and starts find at least as much
    client.force_login(alice)
    html = client.get(reverse("analysis-detail", args=[analysis.pk])).content.decode()
    assert 'id="sharpness-converged"' in html and "against a converged solve" in html
    gap = 100 * (converged["value_max"] / paper["value"] - 1)
    assert f"+{gap:.1f}%" in html


def test_the_measures_page_lists_every_measure_with_which_way_it_reads(client, alice, finished, analysis_queue):
    sb, _ = _runs(finished)
    analysis = _done(finished, "measures", {"n_samples": 64, "subspace_dim": 5, "alpha": 4}, sb)
    values = analysis.result["values"]
    assert analysis.result["batchnorm"] and analysis.result["alpha"] == 4.0  # the lab's mlp has BatchNorm: said
    assert all(values[k] is not None for k in ("keskar_full", "keskar_full_small", "keskar_p100", "keskar_p100_small",
                                               "lambda_max", "trace", "adaptive", "pac_bayes_sigma", "dist_init"))
    client.force_login(alice)
    html = client.get(reverse("analysis-detail", args=[analysis.pk])).content.decode()
    assert html.count("higher is sharper") == 7 and "higher is flatter" in html
    assert "the net has BatchNorm" in html and "Jiang et al. (2019)" in html
    rows = list(csv.reader(io.StringIO(client.get(reverse("analysis-export-csv", args=[analysis.pk])).content.decode())))
    assert rows[0] == ["measure", "value", "reads", "note"] and len(rows) == 10
