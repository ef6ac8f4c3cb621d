"""Input that once reached the database or Python's number limits: a 400 with a sentence or a
404, never a server error (each case was a 500 on SQLite or PostgreSQL)."""
import pytest
from django.test import Client
from django.urls import reverse

from dashboard.models import ShareLink

pytestmark = pytest.mark.django_db


@pytest.fixture
def stranger():
    return Client(raise_request_exception=False)


@pytest.mark.parametrize("path", ["/api/experiments/{e}/", "/experiments/{e}/export.csv", "/experiments/{e}/",
                                  "/experiments/{e}/sections/", "/api/runs/{r}/metrics/"])
def test_a_nul_character_in_a_token_is_refused_with_a_sentence(stranger, experiment, path):
    response = stranger.get(path.format(e=experiment.pk, r=experiment.runs.first().pk), {"token": "abc\x00def"})
    assert response.status_code == 400
    assert b"the query parameter 'token' contains a NUL character" in response.content


def test_a_nul_character_in_a_share_address_is_refused(stranger, experiment):
    token = ShareLink.objects.create(experiment=experiment).token
    assert stranger.get(f"/share/{token}%00/").status_code == 400
    assert stranger.get(f"/share/{token}/").status_code == 200


def test_a_nul_character_in_a_form_field_is_refused(client, alice):
    client.force_login(alice)
    response = client.post(reverse("experiment-new"), {"name": "a\x00b"})
    assert response.status_code == 400 and b"the field 'name' contains a NUL character" in response.content


@pytest.mark.parametrize("runs", ["9223372036854775808", "99999999999999999999999", "-1", "1,x"])
def test_run_ids_beyond_what_a_column_holds_name_no_run(client, alice, runs):
    client.force_login(alice)
    assert client.get(reverse("compare"), {"runs": runs}).status_code == 404


@pytest.mark.parametrize("path", ["/api/runs/9223372036854775808/", "/experiments/99999999999999999999/",
                                  "/analyses/9223372036854775808/export.json"])
def test_ids_beyond_64_bits_in_an_address_are_not_found(client, alice, path):
    client.force_login(alice)
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("after_seq, status", [("9223372036854775808", 400), ("x", 400), ("-1", 200), ("5", 200)])
def test_after_seq_is_a_sequence_number(client, alice, experiment, after_seq, status):
    client.force_login(alice)
    response = client.get(reverse("api-run-metrics", args=[experiment.runs.first().pk]), {"after_seq": after_seq})
    assert response.status_code == status
    if status == 400:
        assert "after_seq must be a sequence number" in response.json()["error"]
