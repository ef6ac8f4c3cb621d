"""The same submission twice makes one experiment: a double click, a retried request, five
parallel posts of one form, or a script that sends an Idempotency-Key."""
import re
import threading

import pytest
from django.test import Client
from django.urls import reverse

from dashboard.models import Experiment

GAP = {"name": "my gap", "preset": "gap", "dataset": "mnist1d", "net": "mlp", "optimizer": "adam", "lr": "0.001",
       "sb_batch": "32", "lb_batch": "0.1", "epochs": "3", "seeds": "2"}


def _rendered_key(client) -> str:
    html = client.get(reverse("experiment-new")).content.decode()
    return re.search(r'<input type="hidden" name="submission" value="([0-9a-f]{32})"', html).group(1)


@pytest.mark.django_db
def test_the_form_sent_twice_makes_one_experiment_and_says_so(client, alice):
    client.force_login(alice)
    data = dict(GAP, submission=_rendered_key(client))
    first = client.post(reverse("experiment-new"), data)
    second = client.post(reverse("experiment-new"), data, follow=True)
    exp = Experiment.objects.get()
    assert first.url == reverse("experiment-detail", args=[exp.pk]) and exp.runs.count() == 4
    assert second.redirect_chain[-1][0] == first.url
    assert b"This form was sent before" in second.content
    assert _rendered_key(client) != data["submission"]  # a new form is a new submission
    client.post(reverse("experiment-new"), dict(GAP, submission=_rendered_key(client)))
    assert Experiment.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_five_parallel_posts_of_one_form_make_one_experiment(alice):
    key = "f" * 32
    barrier, statuses = threading.Barrier(5), []

    def post():
        client = Client()
        client.force_login(alice)
        barrier.wait()
        statuses.append(client.post(reverse("experiment-new"), dict(GAP, submission=key)).status_code)

    threads = [threading.Thread(target=post) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses == [302] * 5
    assert Experiment.objects.count() == 1 and Experiment.objects.get().runs.count() == 4


@pytest.mark.django_db
def test_a_script_can_send_an_idempotency_key(client, alice, bob):
    client.force_login(alice)
    for _ in range(3):
        client.post(reverse("experiment-new"), GAP, headers={"Idempotency-Key": "nightly-2026-12-01"})
    assert Experiment.objects.filter(owner=alice).count() == 1
    client.force_login(bob)  # keys are per owner
    client.post(reverse("experiment-new"), GAP, headers={"Idempotency-Key": "nightly-2026-12-01"})
    assert Experiment.objects.filter(owner=bob).count() == 1
