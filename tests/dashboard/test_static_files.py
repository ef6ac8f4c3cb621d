"""Static files as a browser gets them: BokehJS and the page scripts under content-hashed names,
compressed, cached for good; collected again only when their sources changed."""
import gzip
import json
import re

import pytest
from django.templatetags.static import static
from django.urls import reverse

from dashboard.launch.staticfiles import collect_if_changed
from dashboard.staticfinders import bokehjs_dir

YEAR = 365 * 24 * 3600


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_bokehjs_is_served_by_its_hashed_name_compressed_and_cached_for_good(client):
    url = static("bokeh/js/bokeh.min.js")
    assert re.fullmatch(r"/static/bokeh/js/bokeh\.min\.[0-9a-f]{12}\.js", url)
    response = client.get(url, HTTP_ACCEPT_ENCODING="gzip, deflate")
    assert response.status_code == 200 and response["Content-Encoding"] == "gzip"
    original = (bokehjs_dir() / "bokeh.min.js").read_bytes()
    sent = _body(response)
    assert gzip.decompress(sent) == original and len(sent) < len(original) / 3
    cache = dict(part.strip().partition("=")[::2] for part in response["Cache-Control"].split(","))
    assert int(cache["max-age"]) >= YEAR and "immutable" in cache and "public" in cache
    assert "Accept-Encoding" in response["Vary"]
    # a client that does not ask for gzip gets the file as it is
    plain = client.get(url)
    assert "Content-Encoding" not in plain and _body(plain) == original


@pytest.mark.django_db
def test_the_experiment_page_loads_its_scripts_and_style_by_hashed_names(client, experiment, alice):
    client.force_login(alice)
    html = client.get(reverse("experiment-detail", args=[experiment.pk])).content.decode()
    assets = re.findall(r'<script src="([^"]+)"', html) + re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert static("bokeh/js/bokeh.min.js") in assets and len(assets) >= 5
    for url in assets:
        assert re.fullmatch(r"/static/.+\.[0-9a-f]{12}\.(js|css)", url), url
        response = client.get(url, HTTP_ACCEPT_ENCODING="gzip")
        assert response.status_code == 200 and "immutable" in response["Cache-Control"], url


def test_it_collects_when_a_source_changed_and_only_then(settings, tmp_path):
    sources = tmp_path / "sources"
    (sources / "dashboard").mkdir(parents=True)
    script = sources / "dashboard" / "extra.js"
    script.write_text("console.log('one');\n")
    settings.STATICFILES_DIRS = [*settings.STATICFILES_DIRS, sources]
    settings.STATIC_ROOT = tmp_path / "collected"

    def hashed_name() -> str:
        return json.loads((tmp_path / "collected" / "staticfiles.json").read_text())["paths"]["dashboard/extra.js"]

    assert collect_if_changed() is True
    first = hashed_name()
    assert (tmp_path / "collected" / first).read_text() == "console.log('one');\n"
    assert (tmp_path / "collected" / "bokeh" / "js" / "bokeh.min.js.gz").exists()
    assert collect_if_changed() is False  # nothing changed: nothing to do

    script.write_text("console.log('two, longer');\n")
    assert collect_if_changed() is True
    second = hashed_name()
    assert second != first and (tmp_path / "collected" / second).read_text() == "console.log('two, longer');\n"
    assert (tmp_path / "collected" / first).exists()  # what a running server still names stays
