"""Parametric plots: the path's ends reproduce each model; BatchNorm buffers are never mixed."""
import copy
import math

import pytest
import torch
from torch import nn

from trainer.analysis import interpolate, interpolated_model, path_coefficients, recompute_bn_statistics
from trainer.evaluate import evaluate

torch.set_num_threads(1)


def net(seed, updates):
    """Linear -> BN -> ReLU -> Dropout -> Linear, in train mode, BN stats from `updates` batches."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3))
    with torch.no_grad():
        for _ in range(updates):
            model(torch.randn(32, 6) * 2 + 1)
    return model


@pytest.fixture
def sb_lb():
    return net(0, updates=3), net(1, updates=7)


@pytest.fixture
def data():
    gen = torch.Generator().manual_seed(5)
    return (torch.randn(40, 6, generator=gen), torch.randint(0, 3, (40,), generator=gen),
            torch.randn(24, 6, generator=gen), torch.randint(0, 3, (24,), generator=gen))


def test_batch_statistics_ends_reproduce_each_models_own_evaluation(sb_lb, data):
    sb, lb = sb_lb
    x_train, y_train, x_test, y_test = data
    result = interpolate(sb, lb, *data, alphas=[0.0, 1.0], bn="batch", batch_size=16)
    for i, model in enumerate((sb, lb)):
        train = evaluate(model, x_train, y_train, bn_mode="batch", batch_size=16)
        test = evaluate(model, x_test, y_test, bn_mode="batch", batch_size=16)
        assert (result.train_loss[i], result.train_acc[i]) == train
        assert (result.test_loss[i], result.test_acc[i]) == test


def with_training_set_statistics(model, x_train):
    """Independent recompute: BN's running stats = mean and unbiased var of its inputs."""
    model = copy.deepcopy(model)
    with torch.no_grad():
        features = model[0](x_train)  # (N, 8): the BatchNorm's input
        model[1].running_mean.copy_(features.mean(0))
        model[1].running_var.copy_(features.var(0, unbiased=True))
    return model


def test_recompute_ends_reproduce_each_model_with_its_own_recomputed_statistics(sb_lb, data):
    sb, lb = sb_lb
    x_train, y_train, x_test, y_test = data
    result = interpolate(sb, lb, *data, alphas=[0.0, 1.0], bn="recompute", batch_size=64)
    for i, model in enumerate((sb, lb)):
        reference = with_training_set_statistics(model, x_train)
        assert result.train_loss[i] == pytest.approx(evaluate(reference, x_train, y_train)[0], rel=1e-5)
        assert result.test_loss[i] == pytest.approx(evaluate(reference, x_test, y_test)[0], rel=1e-5)
        assert result.train_acc[i] == evaluate(reference, x_train, y_train)[1]
        assert result.test_acc[i] == evaluate(reference, x_test, y_test)[1]


def test_recomputed_statistics_average_equal_batches_and_leave_weights_and_modes(sb_lb, data):
    model = sb_lb[0]
    x_train = data[0]
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num" not in k}
    model[3].eval()  # mixed modes must survive
    modes = [m.training for m in model.modules()]
    recompute_bn_statistics(model, x_train, batch_size=10)  # 4 batches of 10
    features = model[0](x_train).detach().reshape(4, 10, 8)
    assert torch.allclose(model[1].running_mean, features.mean((0, 1)), atol=1e-6)
    assert torch.allclose(model[1].running_var, features.var(1, unbiased=True).mean(0), atol=1e-6)
    assert model[1].momentum == 0.1 and [m.training for m in model.modules()] == modes
    assert all(torch.equal(model.state_dict()[k], v) for k, v in weights.items())
    recompute_bn_statistics(model, x_train, batch_size=10, max_batches=1)
    assert torch.allclose(model[1].running_mean, features[0].mean(0), atol=1e-6)


def test_num_batches_tracked_and_running_stats_are_never_interpolated(sb_lb):
    sb, lb = sb_lb
    mid = interpolated_model(sb, lb, 0.5)
    assert sb[1].num_batches_tracked.item() == 3 and lb[1].num_batches_tracked.item() == 7
    assert mid[1].num_batches_tracked.item() == 3
    assert torch.equal(mid[1].running_mean, sb[1].running_mean)
    assert torch.allclose(mid[0].weight, (sb[0].weight + lb[0].weight) / 2)
    assert torch.allclose(mid[1].weight, (sb[1].weight + lb[1].weight) / 2)


def test_paths_have_the_papers_coefficients():
    assert path_coefficients(0.25, "linear") == (0.75, 0.25)
    assert path_coefficients(-1.0, "linear") == (2.0, -1.0)
    assert path_coefficients(0.0, "curved") == (1.0, 0.0)
    assert path_coefficients(1.0, "curved") == (0.0, 1.0)
    ca, cb = path_coefficients(0.5, "curved")
    assert ca == pytest.approx(math.cos(math.pi / 4)) and cb == pytest.approx(math.sin(math.pi / 4))


def test_curved_path_ends_are_the_models(sb_lb, data):
    sb, lb = sb_lb
    x_train, y_train = data[:2]
    result = interpolate(sb, lb, *data, alphas=[0.0, 1.0], path="curved", bn="batch")
    assert result.train_loss[1] == evaluate(lb, x_train, y_train, bn_mode="batch")[0]


def test_it_leaves_both_models_unchanged_and_reports_json(sb_lb, data):
    sb, lb = sb_lb
    before = [copy.deepcopy(m.state_dict()) for m in (sb, lb)]
    seen = []
    result = interpolate(sb, lb, *data, progress=seen.append)
    for model, state in zip((sb, lb), before):
        assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
        assert all(m.training for m in model.modules())
    assert len(result.alphas) == 25 and result.alphas[0] == -1.0 and result.alphas[-1] == 2.0
    assert seen[-1] == 1.0 and len(seen) == 25
    record = result.to_dict()
    assert record["options"] == {"path": "linear", "bn": "recompute", "bn_recompute_batches": None,
                                 "batch_size": 5000, "n_train": 40, "n_test": 24}


def test_it_refuses_models_of_different_shapes(sb_lb, data):
    other = nn.Sequential(nn.Linear(6, 9), nn.BatchNorm1d(9), nn.ReLU(), nn.Dropout(0.3), nn.Linear(9, 3))
    with pytest.raises(ValueError, match="shape"):
        interpolate(sb_lb[0], other, *data)
    with pytest.raises(ValueError, match="bn"):
        interpolate(*sb_lb, *data, bn="running")


def test_recompute_runs_with_dropout_off(data):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Dropout(0.5), nn.Linear(6, 8), nn.BatchNorm1d(8))  # train mode
    recompute_bn_statistics(model, data[0])
    assert torch.allclose(model[2].running_mean, model[1](data[0]).detach().mean(0), atol=1e-6)
    assert model[0].training
