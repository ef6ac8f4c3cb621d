"""python -m trainer: flags, JSON output, error messages."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.cli import build_parser, config_from_args, main, train_command
from trainer.cli_kinds import command_line, from_args
from trainer.config import TrainConfig
from trainer.kinds import KINDS
from trainer.kinds.spec import ExperimentSpec

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "trainer", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_the_flags_cover_every_config_field_with_its_defaults():
    args = build_parser().parse_args(["train"])
    assert config_from_args(args) == TrainConfig()
    args = build_parser().parse_args(["train", "--batch-size", "0.1", "--optimizer", "sgd", "--augment",
                                      "--ghost-batch-size", "16", "--patience", "none", "--betas", "0.8", "0.9"])
    config = config_from_args(args)
    assert (config.batch_size, config.optimizer, config.augment) == (0.1, "sgd", True)
    assert (config.ghost_batch_size, config.patience, config.betas) == (16, None, (0.8, 0.9))
    assert config_from_args(build_parser().parse_args(["train", "--batch-size", "32"])).batch_size == 32


def test_nets_json_lists_names_and_trainable_parameter_counts():
    rows = json.loads(run_cli("nets", "--json").stdout)
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) >= {"F1", "F2", "C1", "C2", "C3", "C4", "mlp", "cnn1d"}
    # F1: 784 -> 5 x [Dense 512 + BN] -> Dense 10
    f1 = (784 * 512 + 512) + 4 * (512 * 512 + 512) + 5 * 2 * 512 + (512 * 10 + 10)
    assert by_name["F1"]["parameters"] == f1


def test_datasets_json_says_what_is_present(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "trainer", "datasets", "--json", "--data-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["mnist1d"]["present"] and rows["digits"]["present"]
    assert not rows["cifar10"]["present"]
    assert rows["mnist1d"]["input_shape"] == [40] and rows["cifar10"]["input_shape"] == [3, 32, 32]


def test_train_json_reports_the_final_metrics():
    out = run_cli("train", "--subset", "400", "--width", "16", "--depth", "1", "--epochs", "2",
                  "--batch-size", "0.1", "--json", "--quiet").stdout
    result = json.loads(out)
    assert result["config"]["batch_size"] == 0.1
    assert result["final"]["batch_size"] == 40 and result["final"]["steps"] == 20
    assert len(result["history"]) == 2 and 0 <= result["final"]["test_acc"] <= 1


@pytest.mark.parametrize("args, needle", [
    (["train", "--optimizer", "rmsprop"], "--optimizer: invalid choice: 'rmsprop' (choose from 'adam', 'sgd')"),
    (["train", "--batch-size", "5000"], "--batch-size: 5000 is larger than the training set"),
    (["train", "--lr", "-1"], "--lr: must be positive"),
    (["train", "--net", "C1"], "--net: C1 needs"),
    (["train", "--dataset", "cifar10", "--net", "C1", "--data-dir", "/nonexistent"], "/nonexistent"),
    (["gap", "--preset", "nope"], "--preset: invalid choice"),
])
def test_bad_arguments_name_the_flag_and_the_allowed_values(args, needle, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_each_kind_is_a_subcommand_whose_flags_change_its_preset():
    args = build_parser().parse_args(["sweep", "--epochs", "3", "--batch-sizes", "16", "0.5", "--lb-sam-rho", "0.05"])
    kind, spec, options = from_args(args)
    assert kind.name == "sweep" and spec.epochs == 3 and spec.dataset == "mnist1d"
    assert options.batch_sizes == (16, 0.5) and spec.lb_overrides == {"sam_rho": 0.05}
    kind, spec, options = from_args(build_parser().parse_args(["gap", "--sharpness", "--preset", "F1"]))
    assert kind.name == "sharpness" and spec.net == "F1" and spec.sb_batch == 256 and options.subspace_dim == 100


@pytest.mark.parametrize("kind, spec, options", [
    ("sharpness", ExperimentSpec(epochs=4, seeds=2), {"subspace_dim": 50}),
    ("warmstart", ExperimentSpec(epochs=7, lr=2.5e-4, subset=1000, lb_overrides={"ghost_batch_size": 16}),
     {"every": 3, "lb_epochs": 2}),
    ("remedies", ExperimentSpec(dataset="mnist", net="F1", sb_batch=256, optimizer="sgd"), {"remedies": ["SAM"]}),
    ("sweep", ExperimentSpec(epochs=2), {"batch_sizes": [16, 0.25]}),
])
def test_the_reproduce_command_parses_back_to_the_same_experiment(kind, spec, options):
    k = KINDS[kind]
    command = command_line(k, spec, k.options(options))
    words = command.split()
    assert words[:4] == ["python", "-m", "trainer", kind]
    parsed = from_args(build_parser().parse_args(words[3:]))
    assert parsed == (k, spec, k.options(options)), command


def test_the_reproduce_command_of_a_preset_is_short():
    k = KINDS["sharpness"]
    assert command_line(k, ExperimentSpec(epochs=4, seeds=2), k.Options()) == (
        "python -m trainer sharpness --epochs 4 --seeds 2")
    assert command_line(k, ExperimentSpec(dataset="mnist", net="F1", sb_batch=256, epochs=100, seeds=5),
                        k.Options()) == "python -m trainer sharpness --preset F1"
    assert train_command({"batch_size": 0.1, "epochs": 4, "augment": True, "patience": None, "lr": 0.001}) == (
        "python -m trainer train --batch-size 0.1 --epochs 4 --augment")


def test_a_kind_prints_its_tables_and_what_they_say():
    out = run_cli("gap", "--subset", "256", "--sb-batch", "32", "--lb-batch", "128", "--epochs", "1", "--seeds", "1",
                  "--workers", "1", "--quiet").stdout
    assert "Generalization gap (Table 2)" in out and "regime  batch size  seeds  train acc %" in out
    assert "Gap: LB tests" in out and "2 runs and 0 analyses on 1 worker process" in out
    data = json.loads(run_cli("gap", "--subset", "256", "--sb-batch", "32", "--lb-batch", "128", "--epochs", "1",
                              "--seeds", "1", "--workers", "1", "--quiet", "--json").stdout)
    assert data["kind"] == "gap" and [t["key"] for t in data["tables"]] == ["gap"]
    assert [r["role"] for r in data["tables"][0]["rows"]] == ["SB", "LB"]
