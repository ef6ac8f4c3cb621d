"""The whole journey a new user takes, in headless Chromium against the real lab (web
server, Redis, one Celery worker): choose the MNIST-1D gap + sharpness preset, a real
worker trains and analyses it, the finished page shows the paper's two findings (SB tests
better, LB sits in a sharper minimum), and the share link shows the same page logged out."""
import re


from tests.dashboard.labprocess import needs_chromium, open_shared

pytestmark = needs_chromium


def _column(page, table: str, label: str) -> dict[str, float]:
    """{regime: value} of one column of a result table, read from the page."""
    headers = page.locator(f"#table-{table} thead th").all_inner_texts()
    index = headers.index(label)
    values = {}
    for row in page.locator(f"#table-{table} tbody tr").all():
        cells = row.locator("td").all_inner_texts()
        values[cells[0]] = float(cells[index].split(" ")[0])
    return values


def _findings(page) -> tuple[dict, dict]:
    return _column(page, "gap", "test acc %"), _column(page, "sharpness", "full space, ε 0.001")


def test_a_new_user_reproduces_the_gap_and_the_sharp_minima_and_shares_them(lab_page):
    from playwright.sync_api import expect

    lab, browser, page, errors = lab_page
    page.goto(lab.url + "/experiments/new/")
    page.select_option("#id_preset", "sharpness")
    expect(page.locator("#id_kind")).to_have_value("sharpness")
    expect(page.locator("#plan-text")).to_contain_text("6 runs, 12 analyses")
    page.fill("#id_epochs", "20")  # shorter than the preset's 100, for the test's time
    page.fill("#id_seeds", "1")
    expect(page.locator("#plan-text")).to_contain_text("2 runs, 4 analyses")
    page.click("#experiment-form button[type=submit]")
    page.wait_for_url(re.compile(r"/experiments/\d+/$"))

    page.wait_for_function("window.labResults && window.labResults.complete", timeout=300000)
    expect(page.locator("#results-pending")).to_have_count(0)
    accuracy, sharpness = _findings(page)
    assert accuracy["SB"] > accuracy["LB"], accuracy
    assert sharpness["LB"] > sharpness["SB"], sharpness
    expect(page.locator(".paper-note").first).to_contain_text("F1/MNIST")

    anonymous = open_shared(page, lab, browser, errors)
    expect(anonymous.locator(".badge")).to_have_text("read-only")
    assert "Log in" in anonymous.locator("header").inner_text()
    assert _findings(anonymous) == (accuracy, sharpness)
    assert errors == []
