"""Experiment kinds: which runs each design plans, and the paper comparison on the page."""
import json

import pytest
from django.urls import reverse

from dashboard.designs import Design, plan_runs
from dashboard.models import Experiment, Status
from dashboard.paper import compare
from dashboard.presets import ExperimentSpec
from trainer.config import ConfigError
from trainer.designs import REMEDIES

SPEC = ExperimentSpec(epochs=4, seeds=2, subset=256, sb_batch=32, lb_batch=128)
F1 = ExperimentSpec(dataset="mnist", net="F1", sb_batch=256, lb_batch=0.1, epochs=100, seeds=2)


def _roles(kind, spec=SPEC, **design):
    return [(p.role, p.seed) for p in plan_runs(spec, Design(kind, **design))]


def test_it_plans_sb_and_lb_over_seeds_for_the_gap_and_sharpness_kinds():
    for kind in ("gap", "sharpness"):
        assert sorted(_roles(kind)) == [("LB", 0), ("LB", 1), ("SB", 0), ("SB", 1)]


def test_it_plans_one_sb_lb_pair_of_the_same_seed_for_the_parametric_plot():
    planned = plan_runs(SPEC, Design("parametric"))
    assert [(p.role, p.seed) for p in planned] == [("SB", 0), ("LB", 0)]
    assert planned[0].config.seed == planned[1].config.seed and planned[0].config.batch_size == 32


def test_it_plans_one_run_per_batch_size_and_seed_for_a_sweep():
    planned = plan_runs(SPEC, Design("sweep", batch_sizes=(16, 64, 0.5)))
    assert [(p.config.batch_size, p.seed) for p in planned] == [(16, 0), (16, 1), (64, 0), (64, 1), (0.5, 0), (0.5, 1)]
    assert [p.tags["batch"] for p in planned] == [16, 16, 64, 64, 0.5, 0.5]


def test_it_starts_a_warm_start_with_the_sb_run_alone_keeping_snapshots():
    planned = plan_runs(SPEC, Design("warmstart", every=2, lb_epochs=1))
    assert [(p.role, p.tags) for p in planned] == [("SB", {"snapshot_every": 2})]


def test_it_keeps_snapshots_of_both_regimes_for_the_trajectory():
    planned = plan_runs(SPEC, Design("trajectory", every=2))
    assert [(p.role, p.config.batch_size, p.tags) for p in planned] == [
        ("SB", 32, {"snapshot_every": 2}), ("LB", 128, {"snapshot_every": 2})]


def test_it_plans_every_remedy_on_lb_and_skips_augmentation_without_images():
    planned = plan_runs(SPEC, Design("remedies"))
    variants = list(dict.fromkeys(p.role for p in planned))
    assert variants == ["SB", "LB"] + [f"LB + {name}" for name in REMEDIES if name != "augmentation"]
    sam = next(p.config for p in planned if p.role == "LB + SAM")
    assert sam.sam_rho == REMEDIES["SAM"]["sam_rho"] and sam.batch_size == 128
    assert len(planned) == len(variants) * SPEC.seeds


def test_it_names_the_field_of_a_bad_design():
    with pytest.raises(ConfigError) as e:
        Design("piggyback")
    assert e.value.field == "kind" and "warmstart" in e.value.message
    with pytest.raises(ConfigError) as e:
        Design("remedies", remedies=("prayer",))
    assert e.value.field == "remedies"


def test_it_prints_table_cells_like_the_means_and_exports_them_whole():
    from dashboard.results import Stat, Table

    table = Table("t", "t", [("a", "a"), ("b", "b"), ("c", "c"), ("d", "d")],
                  [{"a": 0.5066578883587337, "b": 91.46180314795483, "c": 0.012345678, "d": None},
                   {"a": Stat(12.5, 1.25, 3), "b": 7, "c": "LB", "d": 2567.3}])
    assert table.cells() == [["0.51", "91.46", "0.0123", "-"], ["12.50 ± 1.25", "7", "LB", "2567.30"]]
    assert table.to_dict()["rows"][0]["a"] == 0.5066578883587337


def test_it_round_trips_a_design_through_json():
    design = Design("sweep", batch_sizes=(16, 0.1), every=3)
    assert Design.from_dict(design.to_dict()) == design


def test_it_compares_with_the_paper_only_for_its_own_setting():
    assert compare(F1).net == "F1" and compare(F1, n_train=60000).net == "F1"
    partial = compare(F1, n_train=3000)  # files that hold part of MNIST
    assert partial.net is None and "the 3000 training samples the mnist files hold" in partial.reason
    for spec, words in ((SPEC, "the paper's closest setting is F1/MNIST"),
                        (ExperimentSpec(dataset="mnist", net="F1", sb_batch=128, lb_batch=0.1), "batch sizes"),
                        (ExperimentSpec(dataset="mnist", net="F1", sb_batch=256, lb_batch=0.1, subset=1000), "subset")):
        comparison = compare(spec)
        assert comparison.net is None and words in comparison.reason


def _finished(owner, spec, kind):
    exp = Experiment.objects.create(owner=owner, name=f"{kind} page", config=spec.to_dict(), kind=kind)
    for run in exp.create_runs():
        run.claim("t")
        acc = 0.99 if run.role == "SB" else 0.95
        run.finish(Status.DONE, {"train_acc": 1.0, "test_acc": acc + 0.001 * run.seed, "train_loss": 0.01,
                                 "test_loss": 0.3, "batch_size": 256 if run.role == "SB" else 6000})
    return exp


@pytest.mark.django_db
def test_it_shows_the_papers_numbers_next_to_ours_when_the_setting_matches(client, alice):
    exp = _finished(alice, F1, "sharpness")
    client.force_login(alice)
    html = client.get(reverse("experiment-detail", args=[exp.pk])).content.decode()
    assert "test acc % (paper F1)" in html and "98.03 ± 0.07" in html and "97.81 ± 0.07" in html  # Table 2
    assert "205.14 ± 69.52" in html and "9.22" in html  # Tables 3 and 4
    assert "99.05 ± 0.07" in html  # ours: SB test accuracy over 2 seeds, in percent
    assert "not comparable" not in html


@pytest.mark.django_db
def test_it_says_why_the_numbers_are_not_comparable_otherwise(client, alice):
    exp = _finished(alice, ExperimentSpec(epochs=4, seeds=2), "sharpness")
    client.force_login(alice)
    html = client.get(reverse("experiment-detail", args=[exp.pk])).content.decode()
    assert "not in the paper, so its numbers are not comparable" in html and "F1/MNIST" in html
    assert "(paper " not in html and "98.03" not in html


@pytest.mark.django_db
def test_it_exports_each_table_as_csv_and_json(client, alice, bob):
    exp = _finished(alice, F1, "gap")
    client.force_login(alice)
    rows = client.get(reverse("experiment-table", args=[exp.pk, "gap", "csv"])).content.decode().splitlines()
    assert rows[0].startswith("regime,batch size,seeds,train acc %,train acc % std")
    assert [r.split(",")[0] for r in rows[1:]] == ["SB", "LB"]
    data = client.get(reverse("experiment-table", args=[exp.pk, "gap", "json"])).json()
    assert data["rows"][0]["test_acc"]["n"] == 2 and data["rows"][1]["paper_test_acc"]["mean"] == 97.81
    assert client.get(reverse("experiment-table", args=[exp.pk, "sweep", "json"])).status_code == 404
    client.force_login(bob)
    assert client.get(reverse("experiment-table", args=[exp.pk, "gap", "csv"])).status_code == 404


@pytest.mark.django_db
def test_it_shows_a_reproduce_block_with_the_config_and_the_cli_command(client, alice):
    exp = _finished(alice, ExperimentSpec(epochs=4, seeds=2), "sharpness")
    client.force_login(alice)
    context = client.get(reverse("experiment-detail", args=[exp.pk])).context
    reproduce = context["reproduce"]
    assert reproduce["design_command"] == ("python -m trainer gap --preset mnist1d --dataset mnist1d --net mlp "
                                           "--epochs 4 --lr 0.001 --seeds 2 --sharpness --subspace 100")
    config = json.loads(reproduce["config_json"])
    assert config["design"] == {"kind": "sharpness", "subspace_dim": 100}  # only what the kind reads
    assert Design.from_dict(config["design"]) == exp.design_options and config["spec"] == exp.config
    assert ("LB seed 0", "python -m trainer train --batch-size 0.1 --epochs 4") in reproduce["run_commands"]
