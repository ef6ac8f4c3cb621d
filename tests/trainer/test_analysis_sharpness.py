"""Keskar sharpness (Metric 2.1) against closed forms on separable quadratics."""
import itertools
import json

import numpy as np
import pytest
import torch
from torch import nn

from trainer.analysis import box_half_widths, keskar_sharpness, subspace_matrix

torch.set_num_threads(1)
CONSTANT = 0.3
DUMMY_X, DUMMY_Y = torch.zeros(8, 1), torch.zeros(8)


class Quadratic(nn.Module):
    """f(w) = sum_i c_i (w_i - m_i)^2 + CONSTANT over w = (W.flatten(), b), in float64."""

    def __init__(self, w0, c, m):
        super().__init__()
        self.weight = nn.Parameter(w0[:6].reshape(2, 3).clone())
        self.bias = nn.Parameter(w0[6:].clone())
        self.c, self.m = c, m


def quadratic_loss(model, x, y):
    w = torch.cat([model.weight.reshape(-1), model.bias])
    return (model.c * (w - model.m) ** 2).sum() + CONSTANT


def problem(offset="generic", n=10, seed=1):
    gen = torch.Generator().manual_seed(seed)
    w0 = torch.randn(n, generator=gen, dtype=torch.float64)
    c = 0.5 + 1.5 * torch.rand(n, generator=gen, dtype=torch.float64)
    signs = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0).double()
    distance = {"generic": 0.1 + torch.rand(n, generator=gen, dtype=torch.float64), "zero": 0.0,
                "tiny": 1e-12}[offset]
    return w0, c, w0 - signs * distance


def closed_form(w0, c, m, eps):
    """Box maximum: each coordinate at the bound farther from m_i."""
    d, b = (w0 - m).abs(), eps * (w0.abs() + 1)
    f_x = (c * d ** 2).sum() + CONSTANT
    f_max = (c * (d + b) ** 2).sum() + CONSTANT
    return float((f_max - f_x) / (1 + f_x) * 100)


@pytest.mark.parametrize("scaling", ["box", "none"])
def test_it_reaches_the_closed_form_maximum_of_a_separable_quadratic(scaling):
    w0, c, m = problem("generic")
    result = keskar_sharpness(Quadratic(w0, c, m), DUMMY_X, DUMMY_Y, loss_fn=quadratic_loss, scaling=scaling)
    for entry in result.entries:
        expected = closed_form(w0, c, m, entry.epsilon)
        assert entry.value == pytest.approx(expected, rel=1e-6)
        assert 0 < entry.iterations <= 10
        assert entry.f_x == pytest.approx(float((c * (w0 - m) ** 2).sum()) + CONSTANT, rel=1e-12)
    assert result.n_parameters == result.p == 10


@pytest.mark.parametrize("offset", ["zero", "tiny"])
def test_it_is_positive_and_exact_at_an_exact_minimum(offset):
    # Gradient 0 or ~1e-12 at y = 0: SciPy's default tolerance stops at iteration 0 (value 0).
    w0, c, m = problem(offset)
    result = keskar_sharpness(Quadratic(w0, c, m), DUMMY_X, DUMMY_Y, loss_fn=quadratic_loss)
    for entry in result.entries:
        assert entry.value > 0
        assert entry.value == pytest.approx(closed_form(w0, c, m, entry.epsilon), rel=1e-6)
        assert entry.iterations > 0
        assert entry.start == ("nudged" if offset == "zero" else "zero")


def test_literal_scaling_stalls_on_a_tiny_gradient_which_is_why_box_is_the_default():
    w0, c, m = problem("tiny")
    entry = keskar_sharpness(Quadratic(w0, c, m), DUMMY_X, DUMMY_Y, loss_fn=quadratic_loss, scaling="none",
                             epsilons=(1e-3,)).entries[0]
    assert entry.value == 0.0
    assert "RELATIVE REDUCTION" in entry.message


def test_random_restarts_inside_the_box_each_reach_the_maximum():
    w0, c, m = problem("generic")
    entry = keskar_sharpness(Quadratic(w0, c, m), DUMMY_X, DUMMY_Y, loss_fn=quadratic_loss, epsilons=(1e-3,),
                             restarts=3).entries[0]
    expected = closed_form(w0, c, m, 1e-3)
    assert len(entry.restart_values) == 3
    assert entry.restart_values == pytest.approx([expected] * 3, rel=1e-6)
    assert entry.value_max == pytest.approx(expected, rel=1e-6)
    assert entry.value_std == pytest.approx(0.0, abs=1e-6 * expected)


def test_it_builds_the_subspace_box_from_the_pseudo_inverse():
    # A+ = (A^T A)^-1 A^T = 1/3 [[2, -1, 1, 0], [-1, 2, 1, 0]], so A+ x = (3, 0).
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    x = torch.tensor([3.0, 0.0, 3.0, 5.0])
    np.testing.assert_allclose(box_half_widths(x, 1e-3, a), [4e-3, 1e-3], rtol=1e-12)
    # Rank one, A = u v^T with u = (1, 1, 0, 0), v = (1, 1): A+ = v u^T / 4, A+ x = (2, 2).
    a = torch.tensor([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    x = torch.tensor([2.0, 6.0, 1.0, 1.0])
    np.testing.assert_allclose(box_half_widths(x, 5e-4, a), [1.5e-3, 1.5e-3], rtol=1e-12)
    # Full space: eps * (|x_i| + 1).
    np.testing.assert_allclose(box_half_widths(x, 1e-3), [3e-3, 7e-3, 2e-3, 2e-3], rtol=1e-12)


@pytest.mark.parametrize("law", ["gaussian", "rademacher", "uniform"])
def test_subspace_search_reaches_the_best_vertex_of_the_box_in_y(law):
    # f(x + A y) is a convex quadratic in y; far from m it is nearly linear on the small box,
    # so its maximum is at a vertex of the 2-D box, which we enumerate.
    w0, c, m = problem("generic")
    m = w0 - 50 * (w0 - m)
    result = keskar_sharpness(Quadratic(w0, c, m), DUMMY_X, DUMMY_Y, loss_fn=quadratic_loss, subspace_dim=2,
                              subspace=law, subspace_seed=3)
    a = subspace_matrix(10, 2, law, 3).double().numpy()
    w, cn, mn = w0.numpy(), c.numpy(), m.numpy()
    f = lambda y: float((cn * (w + a @ y - mn) ** 2).sum()) + CONSTANT
    for entry in result.entries:
        half = entry.epsilon * (np.abs(np.linalg.pinv(a) @ w) + 1)
        f_best = max(f(np.array(s) * half) for s in itertools.product((-1, 1), repeat=2))
        assert entry.value == pytest.approx((f_best - f(np.zeros(2))) / (1 + f(np.zeros(2))) * 100, rel=1e-6)
    assert result.p == 2 and result.options.subspace_law


def tiny_mlp(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    x, y = torch.randn(64, 5), torch.randint(0, 3, (64,))
    for _ in range(3):
        model(x)  # non-trivial running statistics
    return model, x, y


@pytest.mark.parametrize("scaling", ["box", "none"])
def test_the_direct_driver_takes_the_same_steps_as_scipy_minimize(scaling):
    model, x, y = tiny_mlp()
    runs = [keskar_sharpness(model, x, y, driver=driver, scaling=scaling, batch_size=24, restarts=1)
            for driver in ("direct", "minimize")]
    for direct, public in zip(runs[0].entries, runs[1].entries):
        for field in ("value", "f_max", "f_returned", "iterations", "function_evaluations", "message",
                      "restart_values"):
            assert getattr(direct, field) == getattr(public, field), field
    assert runs[0].entries[0].value > 0


def test_f_max_is_the_best_value_seen_and_values_come_from_f():
    model, x, y = tiny_mlp()
    entry = keskar_sharpness(model, x, y, epsilons=(1e-3,)).entries[0]
    assert entry.f_max >= entry.f_returned > entry.f_x
    with torch.no_grad():
        model.eval()
        f_x = torch.nn.functional.cross_entropy(model(x), y).item()
    assert entry.f_x == pytest.approx(f_x, rel=1e-6)
    assert entry.value == pytest.approx((entry.f_max - entry.f_x) / (1 + entry.f_x) * 100, rel=1e-12)


def test_it_reports_progress_and_json_with_every_option():
    model, x, y = tiny_mlp()
    seen = []
    result = keskar_sharpness(model, x, y, subspace_dim=4, subspace="rademacher", max_iter=3, restarts=1,
                              progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)
    record = json.loads(json.dumps(result.to_dict()))
    options = record["options"]
    assert options["epsilons"] == [1e-3, 5e-4] and options["subspace_dim"] == 4
    assert options["subspace"] == "rademacher" and options["max_iter"] == 3 and options["bn_mode"] == "running"
    assert options["gtol"] == 0.0 and options["scaling"] == "box" and options["driver"] in ("direct", "minimize")
    assert record["n_parameters"] == sum(p.numel() for p in model.parameters()) and record["p"] == 4
    entry = record["entries"][0]
    assert {"value", "f_x", "f_max", "iterations", "function_evaluations", "message", "success",
            "restart_values", "value_max", "value_std"} <= entry.keys()


@pytest.mark.parametrize("bad, field", [
    (dict(epsilons=()), "epsilons"), (dict(epsilons=(-1e-3,)), "epsilons"), (dict(scaling="x"), "scaling"),
    (dict(subspace="cauchy", subspace_dim=3), "subspace"), (dict(bn_mode="train"), "bn_mode"),
    (dict(max_iter=0), "max_iter"), (dict(driver="fast"), "driver"),
])
def test_it_names_the_bad_option(bad, field):
    model, x, y = tiny_mlp()
    with pytest.raises(ValueError, match=field):
        keskar_sharpness(model, x, y, **bad)
