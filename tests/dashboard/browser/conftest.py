"""The browser tests share one running lab (`manage.py runlab` on the embedded default: web
server, Redis, one worker), started for this package and stopped after it, so that the
tests outside it do not share the machine with its worker. Each test makes its own
experiments in it."""
import pytest

from tests.dashboard.labprocess import browsing, start_lab


@pytest.fixture(scope="package")
def running_lab(tmp_path_factory):
    lab = start_lab(tmp_path_factory.mktemp("lab"))
    yield lab
    lab.stop()


@pytest.fixture
def lab_page(running_lab):
    """(lab, browser, page, errors): headless Chromium logged in to the shared lab as admin."""
    with browsing(running_lab) as (browser, page, errors):
        yield running_lab, browser, page, errors
