"""The lab in headless Chromium, as a researcher uses it: log in, start an experiment, watch
live points arrive, cancel a run, and open the share link logged out."""
import re

import pytest

from tests.dashboard.labprocess import needs_chromium, open_shared

pytestmark = needs_chromium


def _points(page) -> int:
    return page.evaluate("window.labLive.pointsReceived")


def test_it_runs_an_experiment_live_cancels_a_run_and_shares_it(lab_page):
    from playwright.sync_api import expect

    lab, browser, page, errors = lab_page

    page.goto(lab.url + "/experiments/new/")
    page.fill("#id_name", "browser gap")
    page.fill("#id_epochs", "40")
    page.fill("#id_seeds", "1")
    page.click("#experiment-form button[type=submit]")
    page.wait_for_url(re.compile(r"/experiments/\d+/$"))

    page.wait_for_function("window.labLive && window.labLive.state === 'live'", timeout=30000)
    page.wait_for_function("window.labLive.pointsReceived > 0", timeout=90000)
    first = _points(page)
    page.wait_for_function(f"window.labLive.pointsReceived > {first}", timeout=30000)
    assert _points(page) > first
    expect(page.locator("#plots canvas").first).to_be_visible()

    page.locator("button.cancel").first.click()  # the SB run, training now
    page.wait_for_load_state()
    expect(page.locator("td.status-cancelled")).to_have_count(1, timeout=30000)

    anonymous = open_shared(page, lab, browser, errors)
    expect(anonymous.locator("h1")).to_have_text("browser gap")
    expect(anonymous.locator(".badge")).to_have_text("read-only")
    expect(anonymous.locator("button.cancel")).to_have_count(0)
    anonymous.wait_for_function("window.labLive && window.labLive.state === 'live'", timeout=30000)
    expect(anonymous.locator("#plots canvas").first).to_be_visible()
    assert "Log in" in anonymous.locator("header").inner_text()
    assert errors == []


LAMBDA = """(name) => { for (const d of Bokeh.documents) { const s = d.get_model_by_name(name);
  if (s) return {n: s.get_length(), y: Array.from(s.data.y || []), text: Array.from(s.data.text || [])}; } return null; }"""


def test_the_curvature_plot_fills_in_live_with_its_stability_threshold(lab_page):
    """An SGD experiment asked for live curvature from the form: λ_max points arrive over the
    stream into the open page's curvature plot, under the dotted (2 + 2β)/η line of its group."""
    lab, _, page, errors = lab_page
    page.goto(lab.url + "/experiments/new/")
    page.select_option("#id_preset", "custom:gap")
    for name, value in (("name", "live curvature"), ("optimizer", "sgd"), ("lr", "0.05"), ("epochs", "30"),
                        ("seeds", "1"), ("subset", "512"), ("curvature_every", "4")):
        field = page.locator(f"#id_{name}")
        field.select_option(value) if name == "optimizer" else field.fill(value)
    page.click("#experiment-form button[type=submit]")
    page.wait_for_url(re.compile(r"/experiments/\d+/$"))
    page.wait_for_function("window.labLive && window.labLive.state === 'live'", timeout=30000)
    runs = page.evaluate("JSON.parse(document.getElementById('lab-live').textContent).runs")
    sb = next(pk for pk, run in runs.items() if run["role"] == "SB")
    page.evaluate("window.sameDocument = true")
    page.wait_for_function(f"({LAMBDA})('r{sb}:lambda_max') && ({LAMBDA})('r{sb}:lambda_max').n >= 3",
                           timeout=120000)
    first = page.evaluate(LAMBDA, f"r{sb}:lambda_max")["n"]
    page.wait_for_function(f"({LAMBDA})('r{sb}:lambda_max').n > {first}", timeout=60000)  # and goes on arriving
    assert page.evaluate("window.sameDocument === true")
    line = page.evaluate(LAMBDA, f"r{sb}:lambda_max")
    assert all(v > 0 for v in line["y"])
    threshold = page.evaluate(LAMBDA, "threshold:SB")
    assert threshold["y"] == [pytest.approx((2 + 2 * 0.9) / 0.05)] and "(2 + 2β)/η" in threshold["text"][0]
    assert page.evaluate("() => Bokeh.documents.some((d) => d.all_models && Array.from(d.all_models).some("
                         "(m) => m.type === 'Figure' && (m.tags || []).includes('panel:curv')))")
    page.locator("button.cancel").first.click()  # the lab's one worker has other tests to run
    assert errors == []
