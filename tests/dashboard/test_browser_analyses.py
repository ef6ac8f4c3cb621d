"""An analysis from the page, in headless Chromium: a finished experiment made in the test, a
sharpness request from its form, the list's status going live to done, and the result page."""
import os
import re
import subprocess
import sys
import time


from tests.dashboard.labprocess import ROOT, lab_in_browser, needs_chromium

pytestmark = needs_chromium

CREATE = """
from django.contrib.auth import get_user_model
from dashboard import executor
from trainer.kinds import KINDS
from trainer.kinds.spec import ExperimentSpec
spec = ExperimentSpec(epochs=2, seeds=1, subset=256, sb_batch=32, lb_batch=128)
admin = get_user_model().objects.get(username="admin")
print("experiment", executor.start(admin, "browser analyses", KINDS["gap"], spec).pk)
"""


def _create_experiment(lab, tmp_path) -> int:
    """Started in the lab's own database and broker, as the form would; the lab's worker trains it."""
    redis_url = re.search(r"embedded Redis on (\S+)", lab.output()).group(1)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(LBLAB_VAR_DIR=str(tmp_path / "var"), LBLAB_EMBEDDED_REDIS_URL=redis_url)
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", CREATE], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return int(re.search(r"experiment (\d+)", out).group(1))


def test_it_requests_a_sharpness_analysis_sees_it_finish_live_and_opens_it(tmp_path):
    from playwright.sync_api import expect

    with lab_in_browser(tmp_path) as (lab, _, page, errors):
        pk = _create_experiment(lab, tmp_path)

        deadline = time.monotonic() + 180
        page.goto(f"{lab.url}/experiments/{pk}/")
        # the forms offer finished runs only: wait for both
        while page.locator("#analysis-form-sharpness select[name=run] option").count() < 2:
            assert time.monotonic() < deadline, "the runs did not finish"
            time.sleep(1)
            page.reload()
        form = page.locator("#analysis-form-sharpness")
        lb = form.locator("select[name=run] option", has_text="LB").get_attribute("value")
        form.locator("select[name=run]").select_option(lb)
        form.locator("input[name=epsilons]").fill("1e-3")
        form.locator("input[name=max_iter]").fill("2")
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        expect(page.locator(".message")).to_contain_text("Queued the sharpness analysis")

        page.wait_for_function("window.labAnalyses && window.labAnalyses.state === 'live'", timeout=30000)
        page.evaluate("window.sameDocument = true")
        row = page.locator("#analysis-list tr[data-analysis]").first
        expect(row.locator("[data-analysis-status]")).to_have_text("done", timeout=120000)
        expect(row.locator("progress")).to_have_js_property("value", 1)
        assert page.evaluate("window.sameDocument === true")  # updated live, not by a reload
        assert page.evaluate("window.labAnalyses.messages") >= 1

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
