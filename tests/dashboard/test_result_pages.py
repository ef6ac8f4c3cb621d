"""An experiment's result section on its page: the paper's numbers beside ours when the setting
matches, a sentence why not otherwise, each table's exports, and the reproduce block."""
import json

import pytest
from django.urls import reverse

from dashboard import executor
from dashboard.models import Status
from trainer.cli import build_parser
from trainer.cli_kinds import from_args
from trainer.kinds import KINDS
from trainer.kinds.spec import ExperimentSpec

F1 = ExperimentSpec(dataset="mnist", net="F1", sb_batch=256, lb_batch=0.1, epochs=100, seeds=2)


def _finished(owner, spec, kind):
    exp = executor.create(owner, f"{kind} page", KINDS[kind], spec)
    for run in executor.create_runs(exp):
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
    assert reproduce["design_command"] == "python -m trainer sharpness --epochs 4 --seeds 2"
    assert from_args(build_parser().parse_args(reproduce["design_command"].split()[3:])) == (
        exp.planner, exp.spec, exp.options)
    config = json.loads(reproduce["config_json"])
    assert config["kind"] == "sharpness" and config["design"] == {"subspace_dim": 100}  # only what the kind reads
    assert exp.planner.options(config["design"]) == exp.options and config["spec"] == exp.config
    assert ("LB seed 0", "python -m trainer train --batch-size 0.1 --epochs 4") in reproduce["run_commands"]
