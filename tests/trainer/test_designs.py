"""The paper's experiment designs on tiny settings."""
import json

import pytest
import torch

from trainer import designs
from trainer.config import TrainConfig
from trainer.train import Trainer

TINY = TrainConfig(subset=400, width=16, depth=1, epochs=2)
QUICK_SHARPNESS = ({"epsilons": (1e-3,), "max_iter": 3},)


def test_the_sweep_reports_accuracy_and_sharpness_per_batch_size():
    design = designs.SweepDesign(TINY, batch_sizes=(20, 0.5), seeds=(0,), sharpness=QUICK_SHARPNESS)
    result = designs.run_sweep(design, workers=1)
    rows = result.rows()
    assert [r["batch_size"] for r in rows] == [20, 200]
    assert all(r["sharpness full 0.001"][0] > 0 for r in rows)
    alone = Trainer(TINY.replace(batch_size=200)).run()
    assert rows[1]["test_acc"][0] == pytest.approx(100 * alone.final["test_acc"])
    json.dumps(result.to_dict())


def test_a_warm_start_from_epoch_zero_is_the_plain_lb_run_and_snapshots_are_reused(tmp_path):
    design = designs.WarmStartDesign(TINY, sb_batch=20, lb_batch=0.5, sb_epochs=2, lb_epochs=1, every=1,
                                     sharpness=(), store=str(tmp_path))
    ticks = []
    result = designs.run_warmstart(design, workers=1, progress=lambda d, t: ticks.append((d, t)))
    rows = result.rows()
    assert [r["sb_epoch"] for r in rows] == [0, 1, 2]
    assert ticks[-1][0] == ticks[-1][1]
    plain_lb = Trainer(TINY.replace(batch_size=0.5, epochs=1)).run()
    assert rows[0]["lb_test_acc"] == pytest.approx(100 * plain_lb.final["test_acc"])
    # the SB iterate at the last epoch is the SB run's final model
    sb = next(r for r in result.runs if r.role == "SB")
    assert rows[-1]["sb_test_acc"] == pytest.approx(100 * sb.final["test_acc"])

    snapshot = tmp_path.glob("sb-*/epoch-0002.pt").__next__()
    stamp = snapshot.stat().st_mtime_ns
    again = designs.run_warmstart(design, workers=1)
    assert snapshot.stat().st_mtime_ns == stamp  # not retrained
    assert again.rows() == rows


def test_the_trajectory_measures_each_stored_iterate(tmp_path):
    design = designs.TrajectoryDesign(TINY, sb_batch=20, lb_batch=0.5, every=1, sharpness=QUICK_SHARPNESS,
                                      store=str(tmp_path))
    result = designs.run_trajectory(design, workers=2)
    rows = result.rows()
    assert [(r["role"], r["epoch"]) for r in rows] == [("SB", 1), ("SB", 2), ("LB", 1), ("LB", 2)]
    # an iterate's loss is the loss its run logged at that epoch: the snapshots are the right weights
    sb = next(r for r in result.runs if r.name == "SB")
    assert rows[1]["train_loss"] == pytest.approx(sb.history[1]["train_loss"], rel=1e-6)
    assert all(r["sharpness full 0.001"] > 0 for r in rows)


def test_remedies_run_each_remedy_next_to_sb_and_lb():
    design = designs.RemediesDesign(TINY, sb_batch=20, lb_batch=0.5, seeds=(0,),
                                    remedies=("SAM", "ghost BN", "regime adaptation"), sharpness=())
    variants = dict(design.variants())
    assert list(variants) == ["SB", "LB", "LB + SAM", "LB + ghost BN", "LB + regime adaptation"]
    assert variants["LB + regime adaptation"].regime_batch_size == 20
    result = designs.run_remedies(design, workers=2)
    rows = {r["variant"]: r for r in result.rows()}
    regime = next(r for r in result.runs if r.role == "LB + regime adaptation")
    assert regime.final["steps"] == 2 * (400 // 20)
    assert rows["LB + SAM"]["test_acc"][0] != rows["LB"]["test_acc"][0] or not torch.equal(
        torch.tensor(rows["LB + SAM"]["train_loss"]), torch.tensor(rows["LB"]["train_loss"]))
