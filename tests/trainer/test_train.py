"""The training loop: reproducibility, checkpoints, callbacks, schedules."""
import math
import pickle

import pytest
import torch

from trainer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from trainer.config import ConfigError, TrainConfig
from trainer.train import Trainer

# 800 MNIST-1D samples, SB 32 = 25 steps per epoch: small enough for a few seconds a run.
QUICK = dict(dataset="mnist1d", net="mlp", width=32, depth=2, subset=800, epochs=2, threads=1)


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_it_gives_identical_metrics_for_the_same_seed_and_threads():
    a = Trainer(TrainConfig(**QUICK, seed=3)).run()
    b = Trainer(TrainConfig(**QUICK, seed=3)).run()
    assert a.history == [{**h, "elapsed": a.history[i]["elapsed"], "eta": a.history[i]["eta"]}
                         for i, h in enumerate(b.history)]
    assert_same_state(a.model.state_dict(), b.model.state_dict())


def test_evaluating_the_initial_weights_leaves_the_run_as_it_would_be():
    from trainer.evaluate import evaluate

    trainer = Trainer(TrainConfig(**QUICK, seed=3))
    initial = trainer.evaluate()
    loss, acc = evaluate(trainer.model, trainer.data.x_test, trainer.data.y_test)
    assert initial["test_loss"] == pytest.approx(loss) and initial["test_acc"] == pytest.approx(acc)
    assert initial["dist_init"] == 0 and trainer.model.training
    assert math.isclose(initial["train_loss"], math.log(10), rel_tol=0.2)  # ten classes, untrained
    evaluated = trainer.run()
    plain = Trainer(TrainConfig(**QUICK, seed=3)).run()
    assert_same_state(evaluated.model.state_dict(), plain.model.state_dict())


def test_it_starts_sb_and_lb_of_one_seed_from_the_same_weights():
    sb = Trainer(TrainConfig(**QUICK, seed=1, batch_size=32))
    lb = Trainer(TrainConfig(**QUICK, seed=1, batch_size=0.1))
    other = Trainer(TrainConfig(**QUICK, seed=2, batch_size=32))
    assert lb.batch_size == 80
    assert torch.equal(sb.x0, lb.x0)
    assert not torch.equal(sb.x0, other.x0)


def test_it_reports_step_and_epoch_metrics_to_callbacks():
    trainer = Trainer(TrainConfig(**QUICK))
    steps, epochs, ends = [], [], []
    trainer.add_callback("on_step", lambda t, m: steps.append(m))
    trainer.add_callback("on_epoch", lambda t, m: epochs.append(m))
    trainer.add_callback("on_end", lambda t, m: ends.append(m))
    trainer.run()
    assert len(steps) == 2 * 25 and [s["step"] for s in steps] == list(range(1, 51))
    assert {"loss", "acc", "lr", "step_time", "samples_per_s", "epoch"} <= steps[0].keys()
    assert 0 <= steps[0]["acc"] <= 1 and steps[0]["samples_per_s"] > 0
    assert [e["epoch"] for e in epochs] == [1, 2]
    for key in ("train_loss", "train_acc", "test_loss", "test_acc", "dist_init", "eta"):
        assert key in epochs[0]
    # dist_init is the distance of the weights from x0, computed independently here
    flat = torch.cat([p.detach().reshape(-1) for p in trainer.model.parameters()])
    assert epochs[-1]["dist_init"] == pytest.approx((flat - trainer.x0).norm().item(), rel=1e-6)
    assert epochs[-1]["eta"] == 0 and len(ends) == 1


def test_the_step_time_counts_the_wait_for_the_steps_result(monkeypatch):
    # On a GPU a step's kernels run after the loop has queued them: its loss is known, and the step
    # done, only when the loop reads it. A fake clock and a step whose loss takes 0.5 s to read.
    import types

    import trainer.train as train_module

    clock = [0.0]
    monkeypatch.setattr(train_module, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))

    class Pending:
        def __init__(self, value, wait):
            self.value, self.wait = value, wait

        def item(self):
            clock[0] += self.wait
            return self.value

    trainer = Trainer(TrainConfig(**{**QUICK, "epochs": 1}))
    trainer.step_fn = lambda x, y: (Pending(2.5, 0.5), Pending(8, 0.0))
    steps = []
    trainer.add_callback("on_step", lambda t, m: steps.append(m))
    trainer.run()
    assert steps[0]["loss"] == 2.5 and steps[0]["acc"] == 8 / 32
    assert steps[0]["step_time"] == 0.5 and steps[0]["samples_per_s"] == 32 / 0.5


def test_a_resumed_run_ends_bit_identical_to_an_uninterrupted_one(tmp_path):
    config = TrainConfig(**{**QUICK, "epochs": 3})
    whole = Trainer(config).run()

    path = tmp_path / "run.pt"
    first = Trainer(config, checkpoint_path=path)
    first.add_callback("on_step", lambda t, m: t.request_stop() if m["step"] == 37 else None)
    stopped = first.run()
    assert stopped.stopped and stopped.step == 37 and path.exists()

    resumed = Trainer(config, checkpoint_path=path)
    assert resumed.step == 37 and resumed.step_in_epoch == 12
    result = resumed.run()
    assert not result.stopped and result.step == 75
    assert_same_state(result.model.state_dict(), whole.model.state_dict())
    assert [h["train_loss"] for h in result.history] == [h["train_loss"] for h in whole.history]


def test_it_refuses_to_resume_a_checkpoint_of_other_settings(tmp_path):
    path = tmp_path / "run.pt"
    Trainer(TrainConfig(**QUICK), checkpoint_path=path).run()
    with pytest.raises(ConfigError, match="lr"):
        Trainer(TrainConfig(**{**QUICK, "lr": 0.01}), checkpoint_path=path)
    # device and thread count may change between sessions of one run
    Trainer(TrainConfig(**{**QUICK, "threads": 2}), checkpoint_path=path)


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_loading_a_checkpoint_never_unpickles_arbitrary_objects(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint({"w": torch.ones(2), "epoch": 3, "history": [{"loss": 1.0}]}, good)
    assert load_checkpoint(good)["epoch"] == 3
    bad = tmp_path / "bad.pt"
    torch.save({"w": torch.ones(2), "evil": Payload()}, bad)
    with pytest.raises(CheckpointError, match="is not a readable checkpoint") as refused:
        load_checkpoint(bad)
    assert isinstance(refused.value.__cause__, pickle.UnpicklingError)  # refused by the restricted unpickler


def test_a_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    save_checkpoint({"epoch": 1}, path)

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        save_checkpoint({"epoch": 2}, path)
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]


def test_patience_stops_when_the_training_loss_stops_improving():
    # lr so small the float32 weights cannot move; batch-statistics evaluation makes the
    # loss independent of the running buffers, so it is exactly flat after epoch 1.
    config = TrainConfig(**{**QUICK, "epochs": 10, "lr": 1e-30, "patience": 2, "bn_eval": "batch"})
    result = Trainer(config).run()
    assert result.epoch == 3
    assert Trainer(config.replace(patience=None)).run().epoch == 10


def test_a_target_training_loss_stops_at_the_first_epoch_that_reaches_it():
    full = Trainer(TrainConfig(**{**QUICK, "epochs": 6})).run()
    losses = [m["train_loss"] for m in full.history]
    target = losses[2] + 1e-9  # reached at epoch 3, not before
    assert all(loss > target for loss in losses[:2])
    stopped = Trainer(TrainConfig(**{**QUICK, "epochs": 6, "target_train_loss": target})).run()
    assert stopped.epoch == 3 and stopped.step == 3 * 25 and not stopped.stopped
    assert stopped.history[-1]["train_loss"] == losses[2]  # the same run, cut where it got there


def test_linear_lr_scaling_warms_up_to_the_scaled_rate():
    config = TrainConfig(**{**QUICK, "batch_size": 80, "lr_scaling": "linear", "lr_base_batch": 20,
                            "warmup_epochs": 1.0, "epochs": 2})
    trainer = Trainer(config)
    lrs = []
    trainer.add_callback("on_step", lambda t, m: lrs.append(m["lr"]))
    trainer.run()
    steps = 800 // 80
    assert lrs[0] == pytest.approx(1e-3)
    assert lrs[steps // 2] == pytest.approx(1e-3 + (4e-3 - 1e-3) * (steps // 2) / steps)
    assert lrs[steps:] == pytest.approx([4e-3] * steps)


def test_sqrt_lr_scaling():
    config = TrainConfig(**{**QUICK, "batch_size": 80, "lr_scaling": "sqrt", "lr_base_batch": 20})
    assert Trainer(config).lr == pytest.approx(1e-3 * math.sqrt(4))


def test_regime_adaptation_takes_as_many_updates_as_the_sb_run():
    lb = TrainConfig(**{**QUICK, "batch_size": 0.1, "regime_batch_size": 32})
    trainer = Trainer(lb)
    assert trainer.total_steps == 2 * (800 // 32) == 50
    assert trainer.run().step == 50


def test_augmentation_needs_image_data():
    with pytest.raises(ConfigError) as err:
        TrainConfig(**QUICK, augment=True).validate()
    assert err.value.field == "augment"


@pytest.mark.parametrize("changes, field", [
    (dict(batch_size=900), "batch_size"),
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=32.5), "batch_size"),
    (dict(lr=0), "lr"),
    (dict(lr=-1e-3), "lr"),
    (dict(epochs=0), "epochs"),
    (dict(optimizer="rmsprop"), "optimizer"),
    (dict(net="C1"), "net"),
    (dict(dataset="imagenet"), "dataset"),
    (dict(dataset="cifar10", net="C1", data_dir="/nonexistent"), "dataset"),
    (dict(micro_batch_size=7), "micro_batch_size"),
    (dict(sam_rho=0.05, conservative_lambda=1e-3), "sam_rho"),
])
def test_bad_settings_are_rejected_with_the_field_named(changes, field):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**{**QUICK, **changes}).validate()
    assert err.value.field == field
    assert err.value.message


def test_the_config_round_trips_through_json_and_rejects_unknown_keys():
    import json

    config = TrainConfig(**QUICK, betas=(0.8, 0.99), batch_size=0.1)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict({"batch": 32})
    assert err.value.field == "batch"


def test_the_gradient_noise_scale_is_measured_during_training_without_changing_it():
    plain = Trainer(TrainConfig(**QUICK)).run()
    trainer = Trainer(TrainConfig(**QUICK, noise_scale_every=10))
    seen = []
    trainer.add_callback("on_step", lambda t, m: seen.append(m.get("b_simple")))
    measured = trainer.run()
    assert [s is not None for s in seen] == [(i + 1) % 10 == 0 for i in range(50)]
    assert all(s > 0 for s in seen if s is not None)
    assert measured.history[-1]["b_simple"] == seen[49]
    assert_same_state(measured.model.state_dict(), plain.model.state_dict())


@pytest.mark.parametrize("changes, field", [
    (dict(lr="fast"), "lr"), (dict(epochs=2.5), "epochs"), (dict(augment="yes"), "augment"),
    (dict(batch_size=float("nan")), "batch_size"), (dict(seed=True), "seed"), (dict(betas=["a", 1]), "betas"),
])
def test_values_of_the_wrong_type_are_rejected_with_the_field_named(changes, field):
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict({**QUICK, **changes})
    assert err.value.field == field


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_live_curvature_is_measured_every_k_steps_without_changing_the_run(optimizer):
    from trainer.analysis import hessian_eigenvalues

    config = dict(QUICK, optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 1e-3)
    plain = Trainer(TrainConfig(**config)).run()
    trainer = Trainer(TrainConfig(**config, curvature_every=10, curvature_samples=200, curvature_steps=40))
    seen = []
    trainer.add_callback("on_step", lambda t, m: seen.append((m.get("lambda_max"), m.get("lambda_max_pre"))))
    measured = trainer.run()
    assert [lam is not None for lam, _ in seen] == [(i + 1) % 10 == 0 for i in range(50)]
    assert all((pre is not None) == (optimizer == "adam" and lam is not None) for lam, pre in seen)
    assert_same_state(measured.model.state_dict(), plain.model.state_dict())  # measuring changed nothing
    # the last value is the top eigenvalue at the final weights, found independently (cold Lanczos)
    tracker = trainer.curvature
    independent = hessian_eigenvalues(measured.model, tracker.x, tracker.y, k=1, method="lanczos", max_iter=100,
                                      tol=1e-6, bn_mode="batch")
    assert seen[-1][0] == pytest.approx(independent.eigenvalues[0], rel=1e-2)


def test_live_sharpness_is_keskars_metric_of_the_epochs_weights_on_the_fixed_subset():
    from trainer.analysis.curvature import fixed_subset
    from trainer.analysis.sharpness import keskar_sharpness

    config = TrainConfig(**dict(QUICK, epochs=4), sharpness_every=2, sharpness_dim=20, curvature_samples=200)
    plain = Trainer(TrainConfig(**dict(QUICK, epochs=4))).run()
    trainer = Trainer(config)
    result = trainer.run()
    assert [("sharpness" in m) for m in result.history] == [False, True, False, True]
    assert_same_state(result.model.state_dict(), plain.model.state_dict())
    x, y = fixed_subset(trainer.data.x_train, trainer.data.y_train, 200, config.seed)
    assert len(x) == 200
    expected = keskar_sharpness(result.model, x, y, epsilons=(1e-3,), subspace_dim=20, subspace_seed=config.seed)
    assert result.history[-1]["sharpness"] == pytest.approx(expected.entries[0].value, rel=1e-9)
    assert result.history[-1]["sharpness"] > 0
