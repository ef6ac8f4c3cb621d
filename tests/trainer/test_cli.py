"""python -m trainer: flags, JSON output, error messages."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from trainer import designs
from trainer.cli import build_parser, config_from_args, main
from trainer.config import TrainConfig

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


def test_the_gap_runs_sb_and_lb_for_every_seed_in_worker_processes():
    base = TrainConfig(subset=400, width=16, depth=1, epochs=2)
    config = designs.GapDesign(base, sb_batch=20, lb_batch=0.25, seeds=(0, 1))
    ticks = []
    result = designs.run_gap(config, workers=2, progress=lambda done, total: ticks.append((done, total)))
    assert [(r.role, r.seed) for r in result.runs] == [("SB", 0), ("SB", 1), ("LB", 0), ("LB", 1)]
    assert ticks[-1] == (8, 8)
    # each run is the same as running it here, one after another
    from trainer.train import Trainer

    alone = Trainer(base.replace(batch_size=0.25, seed=1)).run()
    assert result.runs[3].final["test_acc"] == alone.final["test_acc"]
    table = result.table()
    sb_test = [100 * r.final["test_acc"] for r in result.runs if r.role == "SB"]
    assert table["SB"]["test_acc"][0] == pytest.approx(sum(sb_test) / 2)
    assert table["SB"]["test_acc"][1] == pytest.approx(abs(sb_test[0] - sb_test[1]) / 2 ** 0.5)
    json.dumps(result.to_dict())
