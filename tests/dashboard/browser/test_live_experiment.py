"""The lab in headless Chromium, as a researcher uses it: log in, start an experiment, watch
live points arrive, cancel a run, and open the share link logged out."""
import re

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
