"""Every result page in headless Chromium, against the real lab (web server, Redis, its one
worker): small experiments of each kind and analyses of each kind are made once for the
module and finished by the lab's worker; each page's figure is read back from the Bokeh
documents BokehJS built in the browser, and its lines and points are compared with what
the database holds (runs, epochs, batch sizes, alphas, grid sizes)."""

import json
import re

import pytest

from tests.dashboard.labprocess import launch, log_in, needs_chromium
from tests.dashboard.pagecheck import EXTRA_Y_RANGES, build_results, by_source, lab_shell, renderers

pytestmark = needs_chromium
PER_EPOCH = ("train_loss", "test_loss", "train_acc", "test_acc", "dist_init")


@pytest.fixture(scope="module")
def lab(running_lab):
    """The shared lab, with this module's experiments and analyses made and finished in it."""
    running_lab.expected = build_results(running_lab)
    return running_lab


@pytest.fixture(scope="module")
def browser_context(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context()
        page = context.new_page()
        log_in(page, lab)
        page.wait_for_load_state()
        page.close()
        yield context
        browser.close()


@pytest.fixture
def page(browser_context):
    """A logged-in page; the test fails on any uncaught error in the page's scripts, and on any
    error logged to the console."""
    page = browser_context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    yield page
    page.close()
    assert errors == [], errors


def _open_experiment(page, lab, kind: str, documents: int):
    """The experiment page, once its live plots (and design figure, if any) are embedded."""
    page.goto(f"{lab.url}/experiments/{lab.expected[kind]['pk']}/")
    page.wait_for_function("window.labLive && window.labLive.state === 'live'", timeout=30000)
    page.wait_for_function(f"Bokeh.documents.length === {documents} && window.labLive.plotsReady", timeout=30000)
    assert page.locator("#plots canvas").first.is_visible()
    if documents == 2:
        assert page.locator("#design-figure canvas").first.is_visible()
    assert page.get_attribute("#design-results", "data-complete") == "1"  # every run and analysis finished
    assert page.locator("#results-pending").count() == 0


def _open_analysis(page, lab, kind: str):
    page.goto(f"{lab.url}/analyses/{lab.expected[kind]['pk']}/")
    page.wait_for_function("window.labAnalyses && window.labAnalyses.figure === 'embedded'", timeout=30000)
    assert page.locator("#analysis-plots canvas").first.is_visible()


def test_it_draws_each_runs_per_step_and_per_epoch_lines_with_every_stored_point(page, lab):
    expected = lab.expected["trajectory"]
    _open_experiment(page, lab, "trajectory", documents=2)
    lines = by_source(page)
    roles = {}
    for run_id, run in expected["runs"].items():
        roles[run["role"]] = run["points"]
        for metric, count in run["points"].items():
            assert count > 0, (run, metric)
            line = lines[f"r{run_id}:{metric}"]
            assert line["glyph"] == "Line" and line["n"] == count, (run_id, metric, line)
    assert set(roles) == {"SB", "LB"}
    assert roles["SB"]["loss"] > roles["LB"]["loss"]  # 256 examples: 8 steps of 32 per epoch, 2 of 128
    assert all(roles[r][m] == 5 for r in roles for m in PER_EPOCH)  # 4 epochs and the initial weights
    # the bold means, computed in the browser: one seed, so one point per point of the run
    for role, points in roles.items():
        for metric, count in points.items():
            assert lines[f"mean:{role}:{metric}"]["n"] == count, (role, metric)
    run_lines = [name for name in lines if name.startswith("r")]
    assert len(run_lines) == 2 * 6  # loss + 5 per-epoch metrics for each of the 2 runs


STORED = """
import json
from dashboard.models import MetricPoint
rows = MetricPoint.objects.filter(run_id={run}).order_by("name", "step").values_list("name", "step", "value")
print("STORED", json.dumps(list(rows)))
"""


def test_each_line_holds_the_stored_steps_exactly_and_values_to_16_significant_bits(page, lab):
    """The points travel packed (dashboard/figures/runs.py): what BokehJS draws is what is stored."""
    expected = lab.expected["trajectory"]
    _open_experiment(page, lab, "trajectory", documents=2)
    run_id = next(iter(expected["runs"]))
    out = lab_shell(lab, STORED.format(run=int(run_id)))
    stored = {}
    for name, step, value in json.loads(re.search(r"^STORED (.*)$", out, re.MULTILINE).group(1)):
        stored.setdefault(name, []).append((step, value))
    drawn = page.evaluate("""(run) => {
        const out = {};
        for (const d of Bokeh.documents) for (const m of d.all_models) {
          if (m.type === "ColumnDataSource" && (m.name || "").startsWith(`r${run}:`)) {
            out[m.name.slice(m.name.indexOf(":") + 1)] = [Array.from(m.data.x), Array.from(m.data.y)];
          }
        }
        return out;
    }""", run_id)
    assert set(drawn) == set(expected["runs"][run_id]["points"])
    for metric, (x, y) in drawn.items():
        points = stored[metric]
        assert x == [step for step, _ in points], metric
        scale = 100 if metric in ("train_acc", "test_acc", "acc") else 1
        for shown, (_, value) in zip(y, points):
            assert abs(shown - value * scale) <= abs(value * scale) * 2.0**-16 + 1e-6, (metric, shown, value)


def test_it_draws_the_trajectory_figure_with_one_point_per_kept_iterate(page, lab):
    expected = lab.expected["trajectory"]
    _open_experiment(page, lab, "trajectory", documents=2)
    lines = {name: r for name, r in by_source(page).items() if name.startswith("fig:trajectory:")}
    assert set(lines) == {f"fig:trajectory:{role} {e}" for role in ("SB", "LB") for e in ("0.001", "0.0005")}
    for name, line in lines.items():
        role = name.split(":")[2].split()[0]
        assert expected["iterates"][role] == 2  # epochs 2 and 4 of 4, every 2
        assert line["n"] == expected["iterates"][role], name
        assert line["dashed"] == name.endswith("0.0005")
    markers = [r for r in renderers(page) if r["source"] in lines and r["glyph"] == "Scatter"]
    assert len(markers) == 4 and all(m["n"] == 2 for m in markers)


def test_it_draws_the_sweep_figure_with_one_point_per_batch_size(page, lab):
    expected = lab.expected["sweep"]
    _open_experiment(page, lab, "sweep", documents=2)
    lines = {name: r for name, r in by_source(page).items() if name.startswith("fig:sweep:")}
    assert set(lines) == {"fig:sweep:test_acc", "fig:sweep:sharpness 0.001", "fig:sweep:sharpness 0.0005"}
    assert expected["batches"] == [16, 64, 256] and expected["sharpened"] == 3
    assert lines["fig:sweep:test_acc"]["n"] == len(expected["batches"])
    for e in ("0.001", "0.0005"):
        assert lines[f"fig:sweep:sharpness {e}"]["n"] == expected["sharpened"]
    assert sum(1 for name in by_source(page) if name.startswith("r") and name.endswith(":loss")) == 3  # a run each


def test_it_draws_the_warm_start_figure_with_one_point_per_sb_snapshot(page, lab):
    expected = lab.expected["warmstart"]
    _open_experiment(page, lab, "warmstart", documents=2)
    lines = {name: r for name, r in by_source(page).items() if name.startswith("fig:warmstart:")}
    assert expected["lb_runs"] == 3  # from SB epochs 0, 2 and 4
    assert lines["fig:warmstart:lb_test_acc"]["n"] == expected["lb_runs"]
    assert lines["fig:warmstart:sb_test_acc"]["n"] == expected["sb_points"] == 3  # epochs 0, 2 and 4
    for e in ("0.001", "0.0005"):
        assert lines[f"fig:warmstart:sharpness {e}"]["n"] == expected["sharpened"] == 3


def test_it_tables_sb_lb_and_each_remedy_with_a_sharpness_each(page, lab):
    expected = lab.expected["remedies"]
    _open_experiment(page, lab, "remedies", documents=1)  # a table, no design figure
    headers = page.locator("#table-remedies thead th").all_inner_texts()
    assert headers[0] == "variant" and "sharpness ε 0.001" in headers
    rows = [row.locator("td").all_inner_texts() for row in page.locator("#table-remedies tbody tr").all()]
    assert [row[0] for row in rows] == expected["roles"] == ["SB", "LB", "LB + ghost BN"]
    sharpness = headers.index("sharpness ε 0.001")
    assert expected["sharpened"] == 3
    assert all(float(row[sharpness].split(" ")[0]) > 0 for row in rows), rows
    assert all(row[headers.index("seeds")] == "1" for row in rows)
    loss_lines = [n for n in by_source(page) if n.startswith("r") and n.endswith(":loss")]
    assert len(loss_lines) == 3  # one per variant's run


def test_it_draws_the_parametric_plot_with_four_lines_of_every_alpha_on_two_y_ranges(page, lab):
    points = lab.expected["interpolation"]["points"]
    _open_analysis(page, lab, "interpolation")
    lines = by_source(page)
    assert set(lines) == {"train_loss", "test_loss", "train_acc", "test_acc"}
    for name, line in lines.items():
        assert line["glyph"] == "Line" and line["n"] == points, (name, line)
        assert line["y_range"] == ("accuracy" if name.endswith("acc") else "default")
        assert line["dashed"] == name.startswith("test")
    assert page.evaluate(EXTRA_Y_RANGES) == [["accuracy"]]  # the right axis, besides the default left one
    assert page.locator("#analysis-plots canvas").count() >= 1


def test_it_draws_the_hessian_eigenvalues_and_density(page, lab):
    expected = lab.expected["hessian"]
    _open_analysis(page, lab, "hessian")
    lines = by_source(page)
    assert set(lines) == {"eigenvalues", "density"}
    assert lines["eigenvalues"]["glyph"] == "Scatter" and lines["eigenvalues"]["n"] == expected["eigenvalues"] == 2
    assert lines["density"]["glyph"] == "Line" and lines["density"]["n"] == expected["density"] > 0
    assert page.locator("#hessian-table tbody tr").count() == expected["eigenvalues"] + 1  # and the trace


def test_it_draws_the_landscape_as_images_with_contours(page, lab):
    resolution = lab.expected["landscape"]["resolution"]
    _open_analysis(page, lab, "landscape")
    drawn = renderers(page)
    images = {r["source"]: r for r in drawn if r["glyph"] == "Image"}
    assert set(images) == {"train_loss", "test_loss"}
    assert all(r["image_shape"] == [resolution, resolution] for r in images.values())
    contours = [r for r in drawn if r["glyph"] == "MultiLine"]
    assert len(contours) == 2 and all(r["contour_lines"] > 0 for r in contours), contours
    centres = [r for r in drawn if r["glyph"] == "Scatter"]
    assert len(centres) == 2 and all(r["n"] == 1 for r in centres)  # the run's weights, at (0, 0)


def test_it_adds_the_warm_started_lb_runs_to_an_open_page_as_they_are_created(page, lab):
    """The SB run's end creates the LB runs: their rows, lines and points appear without a reload.
    SB trains for some seconds (40 epochs of 62 steps), so that it ends after the page has opened."""
    import re

    page.goto(f"{lab.url}/experiments/new/")
    page.select_option("#id_preset", "warmstart")
    for field, value in (("name", "live warm start"), ("epochs", "40"), ("every", "20"), ("lb_epochs", "2"),
                         ("subset", "1000"), ("sb_batch", "16"), ("lb_batch", "500")):
        page.fill(f"#id_{field}", value)
    page.click("#experiment-form button[type=submit]")
    page.wait_for_url(re.compile(r"/experiments/\d+/$"))
    page.wait_for_function("window.labLive && window.labLive.state === 'live'", timeout=30000)
    page.evaluate("window.sameDocument = true")
    assert page.locator("#runs tr[data-run]").count() == 1
    listing = page.context.new_page()  # the experiments list follows it to the end, without a reload
    listing.goto(f"{lab.url}/experiments/")
    row = listing.locator(f"tr[data-experiment='{page.url.rstrip('/').rsplit('/', 1)[1]}'] .status")
    listing.evaluate("window.sameDocument = true")

    page.wait_for_function("document.querySelectorAll('#runs tr[data-run]').length === 4", timeout=240000)
    assert page.evaluate("window.sameDocument === true && window.labLive.runsRefreshed >= 1")
    assert page.locator("#runs td.role small").all_inner_texts() == [f"from SB epoch {e}" for e in (0, 20, 40)]
    run_ids = page.evaluate("Array.from(document.querySelectorAll('#runs tr[data-run]')).map((tr) => tr.dataset.run)")
    # every run's lines are in the figure, and the points arrive on them live: the SB run's epochs 0 to 40
    # (epoch 0 is the initial iterate the first LB run starts from), each LB run's epochs 1 and 2
    page.wait_for_function(
        "(ids) => ids.every((id) => { const s = Bokeh.documents.map((d) => d.get_model_by_name(`r${id}:test_acc`))"
        ".find(Boolean); return s && s.data.x.length === (id === ids[0] ? 41 : 2); })", arg=run_ids, timeout=240000)
    listing.wait_for_function("(el) => el.textContent === 'done'", arg=row.element_handle(), timeout=240000)
    assert listing.evaluate("window.sameDocument === true && window.labList.refreshes >= 1")
    listing.close()
    page.wait_for_function("document.getElementById('experiment-status').textContent === 'done'", timeout=240000)
    assert page.evaluate("window.sameDocument === true")


def test_a_page_that_reconnects_adds_the_runs_created_while_it_was_away(page, lab):
    import re

    out = lab_shell(lab, """
from django.contrib.auth import get_user_model
from dashboard.models import Experiment, Run
exp = Experiment.objects.create(owner=get_user_model().objects.get(username="admin"), name="away", config={})
Run.objects.create(experiment=exp, role="SB", seed=0, status="done")
print("experiment", exp.pk)""")
    pk = int(re.search(r"experiment (\d+)", out).group(1))
    page.goto(f"{lab.url}/experiments/{pk}/")
    page.wait_for_function("window.labLive && window.labLive.state === 'live'", timeout=30000)
    page.evaluate("window.sameDocument = true")
    lab_shell(lab, f"from dashboard.models import Run; Run.objects.create(experiment_id={pk}, "
                                f"role='LB', seed=0, status='done')")  # created without a message
    assert page.locator("#runs tr[data-run]").count() == 1
    page.evaluate("window.labLive.socket.close()")
    page.wait_for_function("document.querySelectorAll('#runs tr[data-run]').length === 2", timeout=30000)
    assert page.evaluate("window.sameDocument === true && window.labLive.state === 'live'")
    assert page.evaluate("Bokeh.documents.some((d) => d.get_model_by_name('mean:LB:loss'))")


# --- the run plots' controls: hover, smoothing, log y, the x axis; compare's groups -----------

SOURCE = "(name) => { const s = Bokeh.documents.map((d) => d.get_model_by_name(name)).find(Boolean); " \
         "return {x: Array.from(s.data.x), y: Array.from(s.data.y), xv: Array.from(s.data.xv), ys: Array.from(s.data.ys)}; }"
PANEL = "(key) => { for (const d of Bokeh.documents) for (const m of d.all_models) " \
        "if (m.type === 'Figure' && (m.tags || []).includes('panel:' + key)) return m; return null; }"


def _runs(lab):
    return {run["role"]: int(pk) for pk, run in lab.expected["trajectory"]["runs"].items()}


def _open(page, lab):
    page.goto(f"{lab.url}/experiments/{lab.expected['trajectory']['pk']}/")
    page.wait_for_function("window.labPlots && window.labPlots.recomputed > 0", timeout=30000)


def _mean_colors(page) -> dict:
    return page.evaluate("""() => { const out = {}; for (const d of Bokeh.documents) for (const m of d.all_models)
        if (m.type === 'GlyphRenderer' && (m.data_source.name || '').startsWith('mean:') && m.data_source.name.endsWith(':loss'))
          out[m.data_source.name.split(':')[1]] = JSON.stringify(m.glyph.line_color); return out; }""")


def test_hovering_a_line_shows_its_run_and_value(page, lab):
    _open(page, lab)
    tools = page.evaluate("() => { const out = []; for (const d of Bokeh.documents) for (const m of d.all_models) "
                          "if (m.type === 'HoverTool') out.push(m.tooltips.map((t) => t[0])); return out; }")
    assert len(tools) == 8 and ["run", "x", "value", "smoothed"] in tools and ["group", "x", "mean", "std"] in tools
    page.evaluate("() => localStorage.clear()")
    box = page.locator("#plots canvas").first.bounding_box()
    for fx in (0.15, 0.3, 0.45, 0.6):
        for fy in [i / 40 for i in range(4, 36)]:
            page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
            if page.get_by_text("value:").count():
                assert page.get_by_text(re.compile(r"^(SB|LB) (seed \d+ \(run \d+\)|mean)$")).count()
                return
    pytest.fail("no tooltip anywhere over the training-loss plot")


def test_smoothing_changes_the_drawn_line_and_keeps_the_raw_one(page, lab):
    _open(page, lab)
    name = f"r{_runs(lab)['SB']}:loss"
    page.locator("#smoothing").fill("0")
    raw = page.evaluate(SOURCE, name)
    assert raw["ys"] == pytest.approx(raw["y"])
    page.locator("#smoothing").fill("0.9")
    smoothed = page.evaluate(SOURCE, name)
    assert smoothed["y"] == raw["y"]  # the faint raw curve is unchanged
    assert smoothed["ys"] != pytest.approx(raw["y"])
    # TensorBoard's debiased EMA, computed here independently
    last, expected = 0.0, []
    for n, y in enumerate(raw["y"], 1):
        last = 0.9 * last + 0.1 * y
        expected.append(last / (1 - 0.9 ** n))
    assert smoothed["ys"] == pytest.approx(expected, rel=1e-5)
    wiggle = lambda ys: sum(abs(b - a) for a, b in zip(ys, ys[1:]))  # noqa: E731
    assert wiggle(smoothed["ys"]) < wiggle(raw["y"])


def test_the_log_toggle_changes_the_scale_of_the_loss_plots(page, lab):
    _open(page, lab)
    scale = f"() => ({PANEL})('loss').y_scale.type"
    page.locator("#log-y").uncheck()
    assert page.evaluate(scale) == "LinearScale"
    page.locator("#log-y").check()
    assert page.evaluate(scale) == "LogScale"
    assert page.evaluate(f"() => ({PANEL})('acc').y_scale.type") == "LinearScale"  # accuracy stays linear
    page.reload()
    page.wait_for_function("window.labPlots && window.labPlots.recomputed > 0", timeout=30000)
    assert page.evaluate(scale) == "LogScale"  # the choice is remembered
    page.locator("#log-y").uncheck()
    assert page.evaluate(scale) == "LinearScale"


def test_the_x_axis_puts_sb_and_lb_on_epochs_steps_samples_or_wall_time(page, lab):
    """256 examples: SB (batch 32) takes 8 steps an epoch, LB (batch 128) 2."""
    _open(page, lab)
    runs = _runs(lab)
    for unit, per_step in (("step", {"SB": 1, "LB": 1}), ("epoch", {"SB": 1 / 8, "LB": 1 / 2}),
                           ("samples", {"SB": 32, "LB": 128})):
        page.select_option("#x-axis", unit)
        assert page.evaluate(f"() => ({PANEL})('loss').below[0].axis_label") == {"samples": "samples seen"}.get(unit, unit)
        for role, factor in per_step.items():
            line = page.evaluate(SOURCE, f"r{runs[role]}:loss")
            assert line["xv"] == pytest.approx([x * factor for x in line["x"]]), (unit, role)
        epochs = page.evaluate(SOURCE, f"r{runs['LB']}:test_acc")
        assert epochs["xv"] == pytest.approx([x * {"step": 2, "epoch": 1, "samples": 256}[unit] for x in epochs["x"]])
        assert max(epochs["y"]) > 1  # accuracy in percent
    # wall time: each step at the training seconds the worker recorded when the run reached it
    page.select_option("#x-axis", "wall")
    assert "wall time" in page.evaluate(f"() => ({PANEL})('loss').below[0].axis_label")
    for pk, run in lab.expected["trajectory"]["runs"].items():
        clock = dict(run["clock"])
        line = page.evaluate(SOURCE, f"r{pk}:loss")
        on_clock = [(x, xv) for x, xv in zip(line["x"], line["xv"]) if x in clock]
        assert len(on_clock) >= 2 and all(xv == pytest.approx(clock[x], abs=1e-3) for x, xv in on_clock)
        assert all(b >= a for a, b in zip(line["xv"], line["xv"][1:]))  # in between: interpolated, in order
    page.select_option("#x-axis", "epoch")


def test_compare_draws_one_legend_entry_and_colour_per_group_in_the_experiment_pages_colours(page, lab):
    _open(page, lab)
    experiment_colors = _mean_colors(page)
    trajectory = list(_runs(lab).values())
    sweep = [int(pk) for pk in lab.expected["sweep"]["runs"]]
    page.goto(f"{lab.url}/compare/?runs={','.join(map(str, trajectory + sweep))}&group=role")
    page.wait_for_function("window.labCompare === 'embedded'", timeout=30000)
    groups = page.evaluate("""() => { const out = []; for (const d of Bokeh.documents) for (const m of d.all_models)
        if (m.type === 'Legend') out.push(m.items.map((i) => i.label.value)); return out; }""")
    roles = set(lab.expected["sweep"]["runs"].values()) | {"SB", "LB"}
    assert len(groups) == 4 and all(sorted(g) == sorted(roles) for g in groups), groups
    colors = _mean_colors(page)
    assert colors["SB"] == experiment_colors["SB"] and colors["LB"] == experiment_colors["LB"]
    assert len(set(colors.values())) == len(roles)
    page.select_option("#group-by", "run")  # each run alone: one entry per run
    page.wait_for_function("window.labCompare === 'embedded'", timeout=30000)
    entries = page.evaluate("""() => { for (const d of Bokeh.documents) for (const m of d.all_models)
        if (m.type === 'Legend') return m.items.length; }""")
    assert entries == len(trajectory) + len(sweep)


def test_the_list_and_the_form_load_without_console_errors(page, lab):
    """The page fixture fails the test on any console error or uncaught exception."""
    page.goto(f"{lab.url}/")
    page.wait_for_function("window.labStream && window.labStream.state.state === 'live'", timeout=30000)
    assert page.locator("#experiments tr[data-experiment]").count() >= 4  # this module's experiments
    page.fill("input[name=q]", "pages sweep")
    page.press("input[name=q]", "Enter")
    page.wait_for_load_state()
    assert page.locator("#experiments tr[data-experiment]").count() == 1
    page.goto(f"{lab.url}/experiments/new/")
    page.select_option("#id_preset", "custom:remedies")
    page.wait_for_timeout(600)  # the estimate the change asks for
    assert page.is_visible("#field-remedies") and not page.is_visible("#field-lb_sam_rho")
