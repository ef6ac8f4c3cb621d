"""alice owns the experiment; bob must not see, stream, cancel or delete it; a share link reads only."""
import pytest
from django.test import Client
from django.urls import reverse

from dashboard.models import Experiment, Run, ShareLink, Status

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_bob(bob):
    client = Client()
    client.force_login(bob)
    return client


def _read_urls(experiment):
    run = experiment.runs.first()
    return [reverse("experiment-detail", args=[experiment.pk]), reverse("api-experiment", args=[experiment.pk]),
            reverse("api-run", args=[run.pk]), reverse("api-run-metrics", args=[run.pk]),
            reverse("export-csv", args=[experiment.pk]), reverse("export-json", args=[experiment.pk])]


def _write_requests(experiment):
    run = experiment.runs.first()
    return [reverse("run-cancel", args=[run.pk]), reverse("run-resume", args=[run.pk]),
            reverse("experiment-delete", args=[experiment.pk]), reverse("share-create", args=[experiment.pk])]


def _unchanged(experiment):
    assert Experiment.objects.filter(pk=experiment.pk).exists()
    assert set(Run.objects.filter(experiment=experiment).values_list("status", "cancel_requested")) == {
        (Status.QUEUED, False)}
    assert not ShareLink.objects.filter(experiment=experiment).exists()


def test_bob_cannot_see_alices_experiment(as_bob, experiment):
    for url in _read_urls(experiment):
        assert as_bob.get(url).status_code == 404, url
    listed = as_bob.get(reverse("experiment-list")).content.decode()
    assert f'data-experiment="{experiment.pk}"' not in listed and "No experiments yet" in listed
    assert as_bob.get(reverse("api-experiments")).json() == {"experiments": []}


def test_bob_cannot_cancel_resume_delete_or_share_alices_experiment(as_bob, experiment):
    for url in _write_requests(experiment):
        assert as_bob.post(url).status_code == 404, url
    _unchanged(experiment)


def test_a_share_link_opens_the_page_read_only_without_an_account(client, experiment):
    link = ShareLink.objects.create(experiment=experiment)
    response = client.get(reverse("shared-experiment", args=[link.token]))
    html = response.content.decode()
    assert response.status_code == 200 and experiment.name in html and "read-only" in html
    assert 'class="cancel"' not in html and "Create share link" not in html and "Delete experiment" not in html
    assert response.context["live"]["wsPath"].endswith(f"?token={link.token}")
    for url in _read_urls(experiment):
        assert client.get(url, {"token": link.token}).status_code == 200, url


def test_a_share_link_cannot_change_anything(client, experiment):
    link = ShareLink.objects.create(experiment=experiment)
    for url in _write_requests(experiment):
        response = client.post(f"{url}?token={link.token}")
        assert response.status_code == 302 and response.url.startswith(reverse("login")), url
    assert Experiment.objects.filter(pk=experiment.pk).exists()
    assert set(Run.objects.filter(experiment=experiment).values_list("status", "cancel_requested")) == {
        (Status.QUEUED, False)}
    assert list(ShareLink.objects.filter(experiment=experiment)) == [link]


def test_a_share_link_read_only_also_for_another_logged_in_user(as_bob, experiment):
    link = ShareLink.objects.create(experiment=experiment)
    html = as_bob.get(reverse("shared-experiment", args=[link.token])).content.decode()
    assert 'class="cancel"' not in html
    run = experiment.runs.first()
    assert as_bob.post(reverse("run-cancel", args=[run.pk]) + f"?token={link.token}").status_code == 404


def test_a_revoked_link_is_refused(client, experiment, alice):
    link = ShareLink.objects.create(experiment=experiment)
    owner = Client()
    owner.force_login(alice)
    assert owner.post(reverse("share-revoke", args=[experiment.pk, link.pk])).status_code == 302
    assert client.get(reverse("shared-experiment", args=[link.token])).status_code == 404
    for url in _read_urls(experiment):
        assert client.get(url, {"token": link.token}).status_code in (302, 404), url
        assert client.get(url, {"token": link.token}).status_code != 200


def test_a_link_of_one_experiment_opens_no_other(client, experiment, bob):
    other = Experiment.objects.create(owner=bob, name="other")
    link = ShareLink.objects.create(experiment=other)
    assert client.get(reverse("api-experiment", args=[experiment.pk]), {"token": link.token}).status_code == 404
