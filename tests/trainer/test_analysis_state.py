"""Every analysis leaves the model exactly as it found it: weights, buffers, modes, grads."""
import json

import pytest
import torch
from torch import nn

from trainer import analysis

torch.set_num_threads(1)

gen = torch.Generator().manual_seed(0)
X, Y = torch.randn(48, 6, generator=gen), torch.randint(0, 3, (48,), generator=gen)
X_TEST, Y_TEST = torch.randn(16, 6, generator=gen), torch.randint(0, 3, (16,), generator=gen)

ANALYSES = {  # name -> run(model, **extra options such as progress)
    "sharpness": lambda m, **kw: analysis.keskar_sharpness(m, X, Y, max_iter=3, restarts=1, batch_size=20, **kw),
    "sharpness_subspace_batch_bn": lambda m, **kw: analysis.keskar_sharpness(
        m, X, Y, max_iter=3, subspace_dim=5, bn_mode="batch", **kw),
    "interpolation_recompute": lambda m, **kw: analysis.interpolate(
        m, other_model(), X, Y, X_TEST, Y_TEST, alphas=[-0.5, 0.5], bn="recompute", **kw),
    "interpolation_as_model_b": lambda m, **kw: analysis.interpolate(
        other_model(), m, X, Y, X_TEST, Y_TEST, alphas=[0.5], bn="batch", **kw),
    "hessian_power": lambda m, **kw: analysis.hessian_eigenvalues(m, X, Y, k=2, max_iter=5, batch_size=20, **kw),
    "hessian_lanczos": lambda m, **kw: analysis.hessian_eigenvalues(m, X, Y, k=2, method="lanczos", max_iter=5,
                                                                    **kw),
    "hessian_trace": lambda m, **kw: analysis.hessian_trace(m, X, Y, max_iter=3, **kw),
    "hessian_density": lambda m, **kw: analysis.hessian_density(m, X, Y, lanczos_steps=4, bn_mode="batch", **kw),
    "landscape_1d": lambda m, **kw: analysis.landscape_1d(m, X, Y, X_TEST, Y_TEST, steps=3, **kw),
    "landscape_2d": lambda m, **kw: analysis.landscape_2d(m, X, Y, X_TEST, Y_TEST, resolution=2, bn_mode="batch",
                                                          **kw),
    "noise_scale": lambda m, **kw: analysis.gradient_noise_scale(m, X, Y, small_batch=4, big_batch=16, n_pairs=2,
                                                                 **kw),
}


def model_in_train_mode(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(16, 6) + 0.5)  # running stats away from their defaults
    model[0].weight.grad = torch.full_like(model[0].weight, 0.25)  # a caller's pending gradient
    return model


def other_model():
    return model_in_train_mode(seed=1)


@pytest.mark.parametrize("name", sorted(ANALYSES))
def test_it_leaves_weights_buffers_modes_and_grads_unchanged(name):
    model = model_in_train_mode()
    model[4].eval()  # mixed modes: they must come back as they were, not all train or all eval
    before = {k: v.clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    ANALYSES[name](model)
    after = model.state_dict()
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert torch.equal(after[key], value), key
    assert [m.training for m in model.modules()] == modes
    assert model[1].momentum == 0.1 and model[1].track_running_stats
    for p, g in zip(model.parameters(), grads):
        assert (p.grad is None and g is None) or torch.equal(p.grad, g)
        assert p.requires_grad


@pytest.mark.parametrize("name", sorted(ANALYSES))
def test_it_reports_progress_to_completion_and_strict_json_with_its_options(name):
    seen = []
    result = ANALYSES[name](model_in_train_mode(), progress=seen.append)
    assert seen and seen == sorted(seen) and 0 <= seen[0] and seen[-1] == 1.0
    record = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert record["options"]
