"""Filter-normalised loss landscapes (Li et al. 2018)."""
import copy

import pytest
import torch
from torch import nn

from trainer.analysis import filter_normalized_direction, landscape_1d, landscape_2d
from trainer.evaluate import evaluate

torch.set_num_threads(1)


def conv_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv1d(1, 4, 3), nn.BatchNorm1d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6, 3))


@pytest.fixture
def data():
    gen = torch.Generator().manual_seed(2)
    return (torch.randn(30, 1, 8, generator=gen), torch.randint(0, 3, (30,), generator=gen),
            torch.randn(12, 1, 8, generator=gen), torch.randint(0, 3, (12,), generator=gen))


def test_each_direction_filter_has_its_weight_filters_norm_and_1d_parameters_are_zero():
    model = conv_net()
    direction = filter_normalized_direction(model, torch.Generator().manual_seed(0))
    for p, d in zip(model.parameters(), direction):
        assert d.shape == p.shape
        if p.dim() == 1:  # biases, BatchNorm scale and shift
            assert not d.any()
        else:
            p_norms = p.detach().reshape(p.shape[0], -1).norm(dim=1)
            d_norms = d.reshape(p.shape[0], -1).norm(dim=1)
            torch.testing.assert_close(d_norms, p_norms, rtol=1e-5, atol=0)
            assert not torch.allclose(d, p)  # a random direction, not the weight itself


def test_the_centre_of_a_slice_is_the_models_own_evaluation(data):
    model = conv_net()
    x_train, y_train, x_test, y_test = data
    result = landscape_1d(model, *data, steps=11)
    assert result.coords[5] == 0.0
    assert (result.train_loss[5], result.train_acc[5]) == evaluate(model, x_train, y_train)
    assert (result.test_loss[5], result.test_acc[5]) == evaluate(model, x_test, y_test)
    assert len(set(result.train_loss)) > 1


def test_a_slice_point_is_the_model_moved_along_the_direction(data):
    model = conv_net()
    x_train, y_train = data[:2]
    result = landscape_1d(model, *data, steps=3, span=(-0.5, 0.5), seed=4, bn_mode="batch")
    moved = copy.deepcopy(model)
    direction = filter_normalized_direction(model, torch.Generator().manual_seed(4))
    with torch.no_grad():
        for p, d in zip(moved.parameters(), direction):
            p.add_(0.5 * d)
    assert result.train_loss[2] == pytest.approx(evaluate(moved, x_train, y_train, bn_mode="batch")[0], rel=1e-6)


def test_a_2d_grid_has_the_model_at_its_centre_and_records_options(data):
    model = conv_net()
    x_train, y_train = data[:2]
    seen = []
    result = landscape_2d(model, *data, resolution=5, span=(-0.2, 0.2), progress=seen.append)
    assert len(result.train_loss) == 5 and all(len(row) == 5 for row in result.test_acc)
    assert result.train_loss[2][2] == evaluate(model, x_train, y_train)[0]
    assert abs(result.direction_cosine) < 0.9 and seen[-1] == 1.0
    assert result.to_dict()["options"] == {"points": 5, "span": [-0.2, 0.2], "seed": 0, "bn_mode": "running",
                                           "batch_size": 5000, "normalisation": "filter"}
