"""Presets: one per part of the paper at CPU scale, paper scale when the data is present,
and the plan and estimate the form shows."""
import pytest
from django.urls import reverse

from dashboard.forms import ExperimentForm
from dashboard.models import Experiment
from trainer.kinds import KINDS, PRESETS
from trainer.kinds.estimate import estimate

pytestmark = pytest.mark.django_db
CPU = [p for p in PRESETS.values() if p.scale == "cpu"]


def _form_data(key, **changes):
    """The preset's fields as a browser would submit them."""
    return {k: "" if v is None else v for k, v in {**ExperimentForm.initial_for(key), **changes}.items()}


def _estimate(preset, spec=None):
    return estimate(KINDS[preset.kind], spec or preset.spec, preset.options)


def test_every_cpu_preset_validates_on_its_data():
    for preset in CPU:
        KINDS[preset.kind].validate(preset.spec, preset.options)


# minutes on one worker: the paper's presets a few; the research kinds within their budgets (scaling's estimate
# is an upper bound: it counts every run's full epochs, while each stops at its target loss)
BUDGET_MIN = {"eos": 5, "scaling": 20, "reparam": 3, "measures": 30}


def test_it_estimates_every_cpu_preset_at_minutes_on_one_worker():
    for preset in CPU:
        assert 10 < _estimate(preset).seconds < BUDGET_MIN.get(preset.kind, 6) * 60, preset.key


def test_it_counts_the_warm_started_lb_runs_and_their_analyses():
    preset = PRESETS["warmstart"]  # SB 100 epochs, every 10: LB from epochs 0, 10, ..., 100
    p = _estimate(preset)
    assert (p.runs, p.analyses) == (12, 11)


def test_it_estimates_longer_for_more_epochs_and_bigger_networks():
    base = PRESETS["sharpness"]
    assert _estimate(base, base.spec.replace(epochs=2 * base.spec.epochs)).seconds > _estimate(base).seconds
    assert _estimate(PRESETS["sharpness-c1"]).seconds > _estimate(PRESETS["sharpness-f1"]).seconds


def test_it_shows_the_plan_of_the_chosen_preset_in_the_form(client, alice):
    client.force_login(alice)
    html = client.get(reverse("experiment-new")).content.decode()
    assert "6 runs, 0 analyses" in html and "an estimate" in html
    data = _form_data("trajectory", epochs="6", every="3", remedies=[])
    response = client.get(reverse("experiment-estimate"), data)
    assert response.json()["runs"] == 2 and response.json()["analyses"] == 4
    bad = client.get(reverse("experiment-estimate"), dict(data, every="0"))
    assert bad.status_code == 400 and "every" in bad.json()["errors"]


def test_it_starts_the_chosen_kind_from_the_form(client, alice, django_capture_on_commit_callbacks):
    client.force_login(alice)
    data = _form_data("sweep", epochs="2", batch_sizes="16, 64", subset="256")
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("experiment-new"), data)
    assert response.status_code == 302, response.context["form"].errors
    exp = Experiment.objects.get()
    assert exp.kind == "sweep" and exp.design["batch_sizes"] == [16, 64] and exp.preset == "custom"
    assert sorted(exp.runs.values_list("role", flat=True)) == ["B=16", "B=64"] and len(callbacks) == 2


def test_it_names_the_sweep_field_for_a_batch_larger_than_the_data(client, alice):
    form = ExperimentForm(_form_data("sweep", batch_sizes="16, 9000"))
    assert not form.is_valid() and list(form.errors) == ["batch_sizes"]


def test_the_form_builds_the_first_views_skeletons_before_they_are_asked_for(client, alice, monkeypatch,
                                                                          django_capture_on_commit_callbacks):
    from django.core.cache import caches

    from dashboard.figures import runs

    caches["figures"].clear()
    runs._skeletons.clear()
    client.force_login(alice)
    custom = _form_data("sweep", epochs="2", batch_sizes="16, 64, 256", subset="256")
    client.get(reverse("experiment-new"))  # every preset's first view
    client.get(reverse("experiment-estimate"), custom)  # the plan of the settings as they change
    runs._warming.submit(lambda: None).result()  # the background builds are done
    runs._skeletons.clear()  # as another web process: only the figures cache is shared

    def built_on_the_request(*args):
        raise AssertionError("the skeleton was built on the request")

    monkeypatch.setattr(runs, "_build_skeleton", built_on_the_request)
    for data in (_form_data("sharpness"), custom):
        with django_capture_on_commit_callbacks():
            response = client.post(reverse("experiment-new"), data)
        assert response.status_code == 302
        assert client.get(response.url).status_code == 200
