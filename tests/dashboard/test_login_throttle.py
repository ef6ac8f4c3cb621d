"""Guessing passwords: after LBLAB_LOGIN_FAILURES wrong ones for a username from one address, that
pair is locked out (429 with a sentence), the right password included, until the cool-off."""
import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _login(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_it_locks_out_a_username_after_too_many_wrong_passwords(client, alice, bob, settings):
    assert settings.AXES_FAILURE_LIMIT == 10
    for _ in range(9):
        assert _login(client, "alice", "wrong").status_code == 200  # the form again, with its error
    locked = _login(client, "alice", "wrong")
    assert locked.status_code == 429 and b"Too many failed logins" in locked.content
    assert _login(client, "alice", "alice-pass-123").status_code == 429  # even the right one, for now
    assert _login(client, "bob", "bob-pass-123").status_code == 302  # others log in as before


def test_a_good_login_resets_the_count(client, alice):
    for _ in range(9):
        _login(client, "alice", "wrong")
    assert _login(client, "alice", "alice-pass-123").status_code == 302
    client.logout()
    for _ in range(9):
        assert _login(client, "alice", "wrong").status_code == 200
