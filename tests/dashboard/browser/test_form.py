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


@needs_chromium
def test_it_shows_only_the_settings_of_the_chosen_kind(lab_page):
    lab, _, page, errors = lab_page
    page.goto(lab.url + "/experiments/new/")

    def shown(name):
        return page.is_visible(f"#field-{name}")

    assert page.input_value("#id_preset") == "gap" and page.input_value("#id_kind") == "gap"
    assert not shown("batch_sizes") and not shown("every") and shown("epochs") and shown("lb_sam_rho")
    assert page.locator("#id_kind").get_attribute("type") == "hidden"  # one choice: the preset names the kind
    page.select_option("#id_preset", "custom:sweep")
    assert page.input_value("#id_kind") == "sweep" and page.input_value("#id_epochs") == "100"  # fields kept
    assert shown("batch_sizes") and not shown("every") and not shown("remedies")
    assert not shown("sb_batch") and not shown("lb_batch") and not shown("lb_sam_rho")  # a sweep reads none
    assert not page.is_visible("fieldset:has(#field-lb_sam_rho)")  # nor its section
    page.select_option("#id_preset", "warmstart")  # a preset sets its kind, and what is shown with it
    assert page.input_value("#id_kind") == "warmstart"
    assert shown("every") and shown("lb_epochs") and not shown("batch_sizes")
    for name, value in (("epochs", "1"), ("subset", "512"), ("lb_epochs", "1")):  # a tiny one for the lab's worker
        page.fill(f"#id_{name}", value)
    page.click("#experiment-form button[type=submit]")
    page.wait_for_load_state()
    refused = page.locator(".error").all_inner_texts()
    assert not page.url.endswith("/new/"), refused  # hidden fields do not get in the way
    assert errors == []
