"""An analysis from the page, in headless Chromium: a finished experiment made in the test, a
sharpness request from its form, the list's status going live to done, and the result page."""
import re
import time

from tests.dashboard.labprocess import needs_chromium
from tests.dashboard.pagecheck import lab_shell

pytestmark = needs_chromium

# Two experiments started in the lab's own database and broker, as the form would: a small one
# whose runs the test analyses, and behind it in the worker's queue one whose SB run trains for
# several seconds, so that the analysis the test requests waits until its page is open.
CREATE = """
from django.contrib.auth import get_user_model
from dashboard import executor
from trainer.kinds import KINDS
from trainer.kinds.spec import ExperimentSpec
admin = get_user_model().objects.get(username="admin")
spec = ExperimentSpec(epochs=2, seeds=2, subset=256, sb_batch=32, lb_batch=128)
print("experiment", executor.start(admin, "browser analyses", KINDS["gap"], spec).pk)
busy = ExperimentSpec(epochs=40, seeds=1, subset=1000, sb_batch=16, lb_batch=500)
executor.start(admin, "keeps the worker busy", KINDS["gap"], busy)
"""


def _create_experiment(lab) -> int:
    return int(re.search(r"experiment (\d+)", lab_shell(lab, CREATE)).group(1))


def test_it_requests_a_sharpness_analysis_sees_it_finish_live_and_opens_it(lab_page, tmp_path):
    from playwright.sync_api import expect

    lab, _, page, errors = lab_page
    pk = _create_experiment(lab)

    deadline = time.monotonic() + 180
    page.goto(f"{lab.url}/experiments/{pk}/")
    # the forms offer finished runs only (and "every finished run"): wait for all four
    while page.locator("#analysis-form-sharpness select[name=run] option").count() < 5:
        assert time.monotonic() < deadline, "the runs did not finish"
        time.sleep(1)
        page.reload()
    form = page.locator("#analysis-form-sharpness")
    lb = form.locator("select[name=run] option", has_text="LB seed 0").get_attribute("value")
    form.locator("select[name=run]").select_option(lb)
    form.locator("input[name=epsilons]").fill("1e-3")
    form.locator("input[name=max_iter]").fill("2")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator(".message")).to_contain_text("Queued the sharpness analysis")
    # the verdict at the top: the gap with its interval and Welch's p over the two seeds
    summary = page.inner_text("#results-summary")
    assert "95% CI" in summary and "Welch's t-test p" in summary and "over 2 and 2 seeds" in summary, summary
    assert re.fullmatch(r"-?\d+\.\d\d points", page.inner_text("[data-card=gap] .card-value"))
    assert "95% CI" in page.inner_text("[data-card=gap] .card-detail")
    assert page.inner_text("[data-card=sharpness] .card-value") == "-"

    page.wait_for_function("window.labAnalyses && window.labAnalyses.state === 'live'", timeout=30000)
    page.evaluate("window.sameDocument = true")
    row = page.locator("#analysis-list tr[data-analysis]").first
    expect(row.locator("[data-analysis-status]")).to_have_text("done", timeout=120000)
    expect(row.locator("progress")).to_have_js_property("value", 1)
    assert page.evaluate("window.sameDocument === true")  # updated live, not by a reload
    assert page.evaluate("window.labAnalyses.messages") >= 1
    # its value lands in the page's sharpness table, still without a reload
    cell = page.locator(f"#sharpness-by-run tr[data-run='{lb}'] td").nth(1)
    expect(cell).to_have_text(re.compile(r"^\d"), timeout=30000)

    # one action for every final model: the table and the LB/SB card fill in live as each finishes
    form = page.locator("#analysis-form-sharpness")
    form.locator("select[name=run]").select_option("all")
    form.locator("input[name=epsilons]").fill("1e-3")
    form.locator("input[name=max_iter]").fill("2")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    page.wait_for_function("window.labAnalyses && window.labAnalyses.state === 'live'", timeout=30000)
    page.evaluate("window.sameDocument = true")
    expect(page.locator("[data-card=sharpness] .card-value")).to_have_text(re.compile(r"^[\d.e+-]+×$"),
                                                                           timeout=180000)
    expect(page.locator("#sharpness-by-run tbody.group-means tr")).to_have_count(2)
    for group in ("SB", "LB"):
        expect(page.locator(f"#sharpness-by-run tr[data-group={group}] th")).to_contain_text("(n = 2)")
    assert page.evaluate("window.sameDocument === true")

    row.locator("a.analysis-link").click()
    page.wait_for_load_state()
    expect(page.locator("h1")).to_contain_text("Sharpness analysis")
    expect(page.locator("#sharpness-table tbody tr")).to_have_count(1)
    expect(page.locator("#how-to-read")).to_contain_text("Metric 2.1")
    expect(page.locator("#export-csv")).to_be_visible()

    # the figures of the other kinds render in BokehJS (no page errors)
    for kind, fields in (("interpolation", {"points": "5"}), ("landscape", {"resolution": "11"}),
                         ("hessian", {"k": "2", "n_samples": "64"})):
        page.goto(f"{lab.url}/experiments/{pk}/")
        form = page.locator(f"#analysis-form-{kind}")
        for name, value in fields.items():
            field = form.locator(f"[name={name}]")
            field.select_option(value) if name == "resolution" else field.fill(value)
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        row = page.locator("#analysis-list tr[data-analysis]").first
        expect(row.locator("[data-analysis-status]")).to_have_text("done", timeout=120000)
        row.locator("a.analysis-link").click()
        page.wait_for_function("window.labAnalyses && window.labAnalyses.figure === 'embedded'", timeout=30000)
        expect(page.locator("#analysis-plots canvas").first).to_be_visible()
        page.screenshot(path=str(tmp_path / f"{kind}.png"), full_page=True)  # for a look when it fails
    assert errors == []
