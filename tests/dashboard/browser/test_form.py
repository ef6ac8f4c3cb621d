"""The form in Chromium: what the browser sends is what was typed."""
from tests.dashboard.labprocess import needs_chromium


@needs_chromium
def test_a_decimal_comma_typed_in_the_browser_is_refused_and_kept(lab_page):
    lab, _, page, errors = lab_page
    page.goto(lab.url + "/experiments/new/")
    page.fill("#id_name", "comma test")
    page.fill("#id_lr", "0,001")
    page.click("#experiment-form button[type=submit]")
    page.wait_for_load_state()
    assert page.url.endswith("/experiments/new/")  # nothing was started
    assert "write decimals with a point (0.001), not a comma" in page.inner_text("#field-lr")
    assert page.input_value("#id_lr") == "0,001"
    page.fill("#id_lr", "abc")  # text is kept too, with its message
    page.click("#experiment-form button[type=submit]")
    page.wait_for_load_state()
    assert page.input_value("#id_lr") == "abc" and "Enter a number." in page.inner_text("#field-lr")
    assert errors == []
