"""plots.js's reduction of live lines, in Chromium: a per-step line that grows past LIVE_LIMIT
points is reduced again to M4 as the server reduces a page's first points (an independent M4
is the reference), so it stays bounded and keeps every extreme where it happened."""
import math

import numpy as np
import pytest
from bokeh.util.paths import bokehjs_path

from tests.dashboard.labprocess import ROOT, launch, needs_chromium
from tests.exact import m4_reference

pytestmark = needs_chromium
M4_BUCKETS = 400  # plots.js's, as dashboard/figures/series.py's DISPLAY_POINTS // 4
LIVE_LIMIT = 3200


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        page.set_content("<html><body></body></html>")
        page.add_script_tag(path=str(bokehjs_path() / "js" / "bokeh.min.js"))
        page.add_script_tag(path=str(ROOT / "static" / "dashboard" / "plots.js"))
        yield page
        browser.close()


def _curve(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    steps = np.arange(1, n + 1)
    values = (np.exp(-steps / (n / 4)) + 0.2 * rng.random(n)).astype(np.float32)
    values[n // 3] = -3.0  # a dip and a spike inside their buckets
    values[2 * n // 3 + 5] = 7.0
    return steps, values


def test_the_browsers_m4_is_the_servers(page):
    steps, values = _curve(5000, seed=1)
    xs, ys = page.evaluate("([xs, ys]) => labPlots.m4(xs, ys)", [steps.tolist(), values.tolist()])
    expected = m4_reference(steps, values, math.ceil(5001 / M4_BUCKETS))
    assert xs == sorted(expected)
    assert ys == [float(expected[s]) for s in xs]


def test_a_live_line_stays_bounded_and_keeps_its_extremes_and_its_end(page):
    steps, values = _curve(20000, seed=2)
    lengths = page.evaluate("""([steps, values]) => {
        const doc = new (Bokeh.require("document").Document)();
        const ColumnDataSource = Bokeh.Models.get("ColumnDataSource");
        doc.add_root(new ColumnDataSource({name: "r1:loss", data: {x: [], y: [], xv: [], ys: []}}));
        labPlots.attach(doc, {1: {group: "SB", stepsPerEpoch: 100, batch: 32}});
        const lengths = [];
        for (let i = 0; i < steps.length; i += 250) {  // a flush's points at a time
            const pairs = steps.slice(i, i + 250).map((s, k) => [s, values[i + k]]);
            labPlots.append(1, "loss", pairs);
            labPlots.draw();  // as the page does every 500 ms
            lengths.push(doc.get_model_by_name("r1:loss").get_length());
        }
        window.line = doc.get_model_by_name("r1:loss").data;
        return lengths;
    }""", [steps.tolist(), values.tolist()])
    assert max(lengths) <= LIVE_LIMIT
    assert sum(b < a for a, b in zip(lengths, lengths[1:])) >= 2  # reduced again as it grew, more than once
    line = page.evaluate("({x: Array.from(window.line.x), y: Array.from(window.line.y), ys: Array.from(window.line.ys)})")
    x, y = np.array(line["x"]), np.array(line["y"])
    assert np.all(np.diff(x) > 0) and x[0] == 1 and x[-1] == 20000
    assert dict(zip(x.tolist(), y.tolist())).items() <= {int(s): float(v) for s, v in zip(steps, values)}.items()
    assert y[x.tolist().index(20000 // 3 + 1)] == -3.0 and y[x.tolist().index(2 * 20000 // 3 + 6)] == 7.0
    assert len(line["ys"]) == len(x) and np.all(np.isfinite(line["ys"]))  # smoothed anew over the reduced line


def test_a_groups_template_line_becomes_one_line_per_run(page):
    """The skeleton draws one template line per group (dashboard/figures/runs.py); the page gives it to
    the group's first run and copies it for the others: every run its own source with its points,
    its renderers named after it, in its group's legend entry and in the hover, and in the mean."""
    from dashboard.figures.runs import _build_skeleton, display_precision, pack

    roles = {11: "SB", 12: "SB", 13: "SB", 21: "LB", 22: "LB"}
    groups = ("SB", "LB")
    data = {}
    for pk in roles:
        steps = np.arange(1, 10 * (pk % 10) + 2, dtype=np.int32)  # each run its own length
        values = np.full(len(steps), pk, np.float32)
        data[f"r{pk}:loss"] = [pack(np.diff(steps, prepend=0).astype("<i4")), pack(display_precision(values))]
    figure = {"item": _build_skeleton(groups, False, False), "data": data, "thresholds": {},
              "lines": [[pk, f"{role} run {pk}", groups.index(role)] for pk, role in roles.items()]}
    meta = {pk: {"group": role, "stepsPerEpoch": 10, "batch": 32} for pk, role in roles.items()}
    out = page.evaluate("""async ([figure, meta]) => {
        const target = document.createElement("div");
        document.body.appendChild(target);
        const doc = await labPlots.embed(figure, target);
        labPlots.settings.x = "epoch";
        labPlots.attach(doc, meta);
        const fig = Array.from(doc.all_models).find((m) => m.type === "Figure" && m.tags.includes("panel:loss"));
        const ofSource = (r) => r.data_source.name;
        const lines = {};
        for (const pk of Object.keys(meta)) {
          const s = doc.get_model_by_name(`r${pk}:loss`);
          lines[pk] = s && {x: Array.from(s.data.x), y: Array.from(s.data.y), xv: Array.from(s.data.xv)};
        }
        const legend = fig.center.concat(fig.right).find((m) => m.type === "Legend");
        const mean = (g) => Array.from(doc.get_model_by_name(`mean:${g}:loss`).data.y);
        return {
          lines,
          drawn: fig.renderers.filter((r) => r.name && /run/.test(r.name)).map((r) => [r.name, ofSource(r)]),
          legend: Object.fromEntries(legend.items.map((i) => [i.label.value, i.renderers.map(ofSource)])),
          hover: fig.toolbar.tools.filter((t) => t.type === "HoverTool").map((t) => t.renderers.map(ofSource)),
          means: {SB: mean("SB"), LB: mean("LB")},
          templates: Array.from(doc.all_models).filter((m) => (m.name || "").startsWith("t#")).length,
        };
    }""", [figure, meta])
    for pk in roles:
        line = out["lines"][str(pk)]
        n = 10 * (pk % 10) + 1
        assert line["x"] == list(range(1, n + 1)) and line["y"] == [pk] * n, pk
        assert line["xv"] == pytest.approx([x / 10 for x in line["x"]])  # on the epoch axis, each run
    assert sorted(out["drawn"]) == sorted([f"{role} run {pk}", f"r{pk}:loss"] for pk, role in roles.items())
    for role in groups:
        mine = sorted(f"r{pk}:loss" for pk, r in roles.items() if r == role)
        assert sorted(s for s in out["legend"][role] if s.startswith("r")) == sorted(mine * 2)  # raw and drawn
    assert sorted(out["hover"][0]) == sorted(f"r{pk}:loss" for pk in roles)
    assert out["means"]["SB"][0] == pytest.approx(12) and out["means"]["LB"][0] == pytest.approx(21.5)
    assert out["templates"] == 0  # every template given to a run
