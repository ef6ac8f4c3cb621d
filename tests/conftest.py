"""Pages name their static files by content hash from collectstatic's manifest, as in a
deployment: a session with tests of the web app collects first when the sources changed."""
import pathlib

import pytest

WEB_TESTS = pathlib.Path(__file__).parent / "dashboard"


@pytest.fixture(scope="session", autouse=True)
def collected_static(request):
    if any(item.path.is_relative_to(WEB_TESTS) for item in request.session.items):
        from dashboard.launch.staticfiles import collect_if_changed

        collect_if_changed()
