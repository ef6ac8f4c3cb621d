"""Paper-scale presets end to end on small files in the real formats (idx MNIST, pickled CIFAR-10,
a TIMIT .npz): offered once their files are present, their runs train the paper's networks to
done in this process (execute_run, as a worker would), the sharpness design's analyses follow,
and the result page says whether the paper's numbers apply. The form checks batch sizes
against the samples the files hold, not the full dataset's size.

MNIST and TIMIT have 3000 training samples, enough for the presets' own batch sizes
(SB 256 < LB 10% = 300). The CIFAR-10 files are kept at 65 samples because C1 costs about
3 ms per sample on a CPU, so the C1 run overrides SB to 16 and LB to half the data.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from django.urls import reverse

from dashboard import executor
from dashboard.forms import ExperimentForm
from dashboard.models import Analysis, Experiment, Run, Status
from dashboard.results import Results
from dashboard.worker.analysis import execute_analysis
from dashboard.worker.training import execute_run
from tests.datafiles import cifar_rows, write_mnist, write_pickle
from trainer.kinds import KINDS, PRESETS, available_presets

pytestmark = pytest.mark.django_db

N_TRAIN, N_TEST = 3000, 100  # MNIST and TIMIT
CIFAR_PER_BATCH, CIFAR_TEST = 13, 20  # 5 x 13 = 65 CIFAR-10 training images
PREFIXES = ("", "sharpness-", "parametric-", "sweep-", "warmstart-", "trajectory-", "remedies-")  # of preset keys


def write_cifar10_batches(root, per_batch: int, n_test: int) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for k in range(1, 6):
        batch = {b"data": cifar_rows(per_batch, 10 * k), b"labels": [(k + j) % 10 for j in range(per_batch)]}
        write_pickle(folder / f"data_batch_{k}", batch)
    write_pickle(folder / "test_batch", {b"data": cifar_rows(n_test, 200), b"labels": [j % 10 for j in range(n_test)]})


def write_timit(root, n_train: int, n_test: int) -> None:
    rng = np.random.default_rng(0)
    np.savez(root / "timit.npz",
             x_train=rng.standard_normal((n_train, 360)).astype(np.float32), y_train=rng.integers(0, 1973, n_train),
             x_test=rng.standard_normal((n_test, 360)).astype(np.float32), y_test=rng.integers(0, 1973, n_test))


@pytest.fixture(scope="module")
def paper_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper-data")
    write_mnist(root, N_TRAIN, N_TEST)
    write_cifar10_batches(root, CIFAR_PER_BATCH, CIFAR_TEST)
    write_timit(root, N_TRAIN, N_TEST)
    return root


def _use_data_dir(root, settings, monkeypatch) -> str:
    """The web side reads settings.LBLAB_DATA_DIR; the worker side (trainer.data) the environment."""
    settings.LBLAB_DATA_DIR = str(root)
    monkeypatch.setenv("LBLAB_DATA_DIR", str(root))
    return str(root)


@pytest.fixture
def data_dir(paper_files, settings, monkeypatch):
    return _use_data_dir(paper_files, settings, monkeypatch)


def _form_data(key, **changes):
    return {k: "" if v is None else v for k, v in {**ExperimentForm.initial_for(key), **changes}.items()}


def _start_from_form(client, user, key, django_capture_on_commit_callbacks, **changes) -> Experiment:
    client.force_login(user)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("experiment-new"), _form_data(key, **changes))
    assert response.status_code == 302, response.context["form"].errors
    exp = Experiment.objects.get()
    assert len(callbacks) == exp.runs.count()  # each run is queued for a worker once committed
    return exp


def _train_all(exp) -> list[Run]:
    for run in exp.runs.order_by("pk"):
        assert execute_run(run.pk, task_id=run.task_id) == Status.DONE, Run.objects.get(pk=run.pk).error
    exp.refresh_from_db()
    assert exp.status == Status.DONE
    return list(exp.runs.order_by("pk"))


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _check_trained(run: Run, net: str, dataset: str, batch: int, n_train: int) -> None:
    """The run trained the paper's network on our files: its batch and step count follow from their size."""
    m = run.final_metrics
    assert (run.config["net"], run.config["dataset"], run.config["epochs"]) == (net, dataset, 1)
    assert m["batch_size"] == batch and m["steps"] == n_train // batch and m["epochs"] == 1
    assert m["sgd_noise_scale"] == pytest.approx(1e-3 * n_train / batch)
    for name in ("train_loss", "test_loss", "train_acc", "test_acc"):
        assert _finite(m[name]), (name, m)
    assert 0 <= m["train_acc"] <= 1 and 0 <= m["test_acc"] <= 1
    assert run.points.filter(name="loss").count() == n_train // batch


def _page(client, user, exp) -> str:
    client.force_login(user)
    response = client.get(reverse("experiment-detail", args=[exp.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_it_offers_the_paper_presets_of_each_network_whose_files_are_present(client, alice, data_dir):
    offered = {p.key for p in available_presets(data_dir)}
    for net in ("f1", "f2", "c1", "c2"):  # mnist, timit, cifar10
        assert {f"{kind}{net}" for kind in PREFIXES} <= offered
    for net in ("c3", "c4"):  # no cifar100 files
        assert not {f"{kind}{net}" for kind in PREFIXES} & offered
    client.force_login(alice)
    groups = client.get(reverse("experiment-new")).context["form"].fields["preset"].choices
    choices = {key: label for _, options in groups for key, label in options}
    assert choices["f1"] == "F1 gap (Table 2)" and choices["sharpness-c1"] == "C1 gap + sharpness (Tables 2-4)"
    assert "c3" not in choices


def test_it_trains_the_f1_gap_preset_on_mnist_files_and_says_they_hold_less_than_the_papers(
        client, alice, data_dir, django_capture_on_commit_callbacks):
    exp = _start_from_form(client, alice, "f1", django_capture_on_commit_callbacks, epochs="1", seeds="1")
    assert exp.preset == "f1" and exp.config["sb_batch"] == 256 and exp.config["lb_batch"] == 0.1
    sb, lb = sorted(_train_all(exp), key=lambda r: r.role != "SB")
    _check_trained(sb, "F1", "mnist", 256, N_TRAIN)
    _check_trained(lb, "F1", "mnist", N_TRAIN // 10, N_TRAIN)
    html = _page(client, alice, exp)
    # the paper's setting but for the data: the runs record how many samples they trained on
    assert sb.final_metrics["n_train"] == N_TRAIN and "(paper F1)" not in html
    assert f"The runs trained on the {N_TRAIN} training samples the mnist files hold; the paper uses all 60000." in html


def test_it_trains_the_c1_gap_preset_on_cifar10_files(alice, data_dir):
    spec = dataclasses.replace(PRESETS["c1"].spec, epochs=1, seeds=1, sb_batch=16, lb_batch=0.5)
    spec.validate(data_dir)
    exp = executor.start(alice, "C1 gap", KINDS["gap"], spec, PRESETS["c1"].options, "c1")
    n_train = 5 * CIFAR_PER_BATCH
    runs = {r.role: r for r in _train_all(exp)}
    _check_trained(runs["SB"], "C1", "cifar10", 16, n_train)
    _check_trained(runs["LB"], "C1", "cifar10", round(0.5 * n_train), n_train)


def test_it_trains_the_f2_gap_preset_on_a_timit_file(client, alice, data_dir, django_capture_on_commit_callbacks):
    exp = _start_from_form(client, alice, "f2", django_capture_on_commit_callbacks, epochs="1", seeds="1")
    assert exp.preset == "f2"
    runs = {r.role: r for r in _train_all(exp)}
    _check_trained(runs["SB"], "F2", "timit", 256, N_TRAIN)
    _check_trained(runs["LB"], "F2", "timit", N_TRAIN // 10, N_TRAIN)


def test_it_runs_the_f1_sharpness_preset_with_its_analyses_and_says_why_the_papers_numbers_do_not_apply(
        client, alice, data_dir):
    """On a 64-sample subset (SB 16, LB 32) so that the eight L-BFGS-B solves on 1.5M weights stay quick."""
    preset = PRESETS["sharpness-f1"]
    spec = dataclasses.replace(preset.spec, epochs=1, seeds=1, subset=64, sb_batch=16, lb_batch=0.5)
    spec.validate(data_dir)
    exp = executor.start(alice, "F1 sharpness", KINDS[preset.kind], spec, preset.options, preset.key)
    runs = {r.role: r for r in _train_all(exp)}
    _check_trained(runs["SB"], "F1", "mnist", 16, 64)
    _check_trained(runs["LB"], "F1", "mnist", 32, 64)
    analyses = list(exp.analyses.order_by("pk"))
    assert sorted((a.run.role, a.params["subspace_dim"] or 0) for a in analyses) == [
        ("LB", 0), ("LB", 100), ("SB", 0), ("SB", 100)]  # 0: full space
    for a in analyses:
        assert execute_analysis(a.pk) == Status.DONE, Analysis.objects.get(pk=a.pk).error
        a.refresh_from_db()
        assert [e["epsilon"] for e in a.result["entries"]] == [1e-3, 5e-4]
        for e in a.result["entries"]:
            # f(x) is the training loss the trainer measured after its last epoch, through another code path
            assert e["f_x"] == pytest.approx(a.run.final_metrics["train_loss"], rel=1e-5)
            assert e["value"] == pytest.approx(100 * (e["f_max"] - e["f_x"]) / (1 + e["f_x"]))
            assert _finite(e["value"]) and e["value"] >= 0
    exp.refresh_from_db()
    assert Results(exp).complete()
    html = _page(client, alice, exp)
    assert "This experiment trains on a 64-sample subset; the paper uses the whole training set." in html
    assert "(paper F1)" not in html and 'id="table-sharpness"' in html


def test_it_checks_a_paper_presets_batches_against_the_samples_the_files_hold(
        client, alice, tmp_path, settings, monkeypatch):
    """The preset's SB 256 does not fit 64 MNIST images: the form says so on the field, not the worker."""
    write_mnist(tmp_path / "data", 64, 32)
    _use_data_dir(tmp_path / "data", settings, monkeypatch)
    client.force_login(alice)
    response = client.post(reverse("experiment-new"), _form_data("f1", epochs="1", seeds="1"))
    assert response.status_code == 200 and not Experiment.objects.exists()
    assert response.context["form"].errors["sb_batch"] == ["256 is larger than the training set (64 samples)"]
    response = client.post(reverse("experiment-new"), _form_data("f1", epochs="1", seeds="1", subset="100"))
    assert response.context["form"].errors["subset"] == ["must be at most the training set size 64 (got 100)"]
