"""Presets: one per part of the paper at CPU scale, paper scale when the data is present,
and the plan and estimate the form shows."""
import pytest
from django.urls import reverse

from dashboard.designs import KINDS
from dashboard.estimate import plan
from dashboard.forms import ExperimentForm
from dashboard.models import Experiment
from dashboard.presets import PRESETS

pytestmark = pytest.mark.django_db
CPU = [p for p in PRESETS.values() if p.scale == "cpu"]


def _form_data(key, **changes):
    """The preset's fields as a browser would submit them."""
    return {k: "" if v is None else v for k, v in {**ExperimentForm.initial_for(key), **changes}.items()}


def test_it_has_a_cpu_preset_on_mnist1d_for_every_kind_that_validates():
    assert sorted(p.design.kind for p in CPU) == sorted(KINDS)
    for preset in CPU:
        assert preset.spec.dataset == "mnist1d"
        preset.spec.validate()


def test_it_has_a_paper_scale_preset_for_every_kind_and_paper_network():
    for net in ("f1", "f2", "c1", "c2", "c3", "c4"):
        assert PRESETS[net].design.kind == "gap" and PRESETS[net].spec.sb_batch == 256
        for kind in set(KINDS) - {"gap"}:
            assert PRESETS[f"{kind}-{net}"].design.kind == kind


def test_it_estimates_every_cpu_preset_at_minutes_on_one_worker():
    for preset in CPU:
        assert 10 < plan(preset.spec, preset.design).seconds < 6 * 60, preset.key


def test_it_counts_the_warm_started_lb_runs_and_their_analyses():
    preset = PRESETS["warmstart"]  # SB 100 epochs, every 10: LB from epochs 0, 10, ..., 100
    p = plan(preset.spec, preset.design)
    assert (p.runs, p.analyses) == (12, 11)


def test_it_estimates_longer_for_more_epochs_and_bigger_networks():
    base = PRESETS["sharpness"]
    longer = base.spec.__class__(**{**base.spec.to_dict(), "epochs": 2 * base.spec.epochs})
    assert plan(longer, base.design).seconds > plan(base.spec, base.design).seconds
    assert plan(PRESETS["sharpness-c1"].spec, base.design).seconds > plan(PRESETS["sharpness-f1"].spec,
                                                                          base.design).seconds


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
