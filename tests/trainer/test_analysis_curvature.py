"""Live curvature against the explicit Hessian of a tiny network (torch.autograd.functional)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from trainer.analysis.curvature import CurvatureTracker, adam_preconditioner
from trainer.stability import stability_threshold

from tests.exact import exact_hessian

torch.set_num_threads(1)


def _net():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    x, y = torch.randn(48, 4, dtype=torch.float64), torch.randint(0, 3, (48,))
    return model, x, y


def test_lambda_max_is_the_top_eigenvalue_of_the_exactexact_hessian():
    model, x, y = _net()
    tracker = CurvatureTracker(x, y, n_samples=len(x), steps=60, tol=1e-10)
    result = tracker.measure(model)
    assert result.lambda_max == pytest.approx(np.linalg.eigvalsh(exact_hessian(model, x, y))[-1], rel=1e-6)
    assert result.converged and result.lambda_max_pre is None


def test_the_preconditioned_lambda_max_is_the_top_eigenvalue_of_p_inverse_h_after_adam_steps():
    model, x, y = _net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    params = list(model.parameters())
    assert adam_preconditioner(optimizer, params) is None  # before Adam's first step there is no P
    for _ in range(5):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    p = np.concatenate([(optimizer.state[q]["exp_avg_sq"] / (1 - 0.999 ** 5)).sqrt().reshape(-1).numpy() + 1e-8
                        for q in params])
    pre = adam_preconditioner(optimizer, params)
    assert pre.numpy() == pytest.approx(p)
    tracker = CurvatureTracker(x, y, n_samples=len(x), steps=60, tol=1e-10)
    result = tracker.measure(model, pre)
    expected = np.linalg.eigvals(np.diag(1 / p) @ exact_hessian(model, x, y)).real.max()  # P^-1 H, not symmetric
    assert result.lambda_max_pre == pytest.approx(expected, rel=1e-6)


def test_a_warm_start_converges_in_fewer_products_and_the_model_is_unchanged():
    model, x, y = _net()
    before = [p.detach().clone() for p in model.parameters()]
    model.train()
    tracker = CurvatureTracker(x, y, n_samples=len(x), steps=60, tol=1e-6)
    cold = tracker.measure(model)
    with torch.no_grad():  # a small step of training: the top direction turns a little
        for p in model.parameters():
            p.add_(1e-3 * torch.randn_like(p))
    warm = tracker.measure(model)
    assert warm.converged and warm.steps < cold.steps
    assert model.training
    with torch.no_grad():
        for p, b in zip(model.parameters(), before):
            p.copy_(b)
    assert tracker.measure(model).lambda_max == pytest.approx(cold.lambda_max, rel=1e-5)


def test_gradient_descent_diverges_on_a_quadratic_just_above_its_stability_threshold():
    """On f(w) = lambda w^2 / 2, GD (with heavy-ball momentum beta) is stable iff lambda < threshold."""
    for momentum in (0.0, 0.9):
        lr = 0.1
        threshold = stability_threshold("sgd", lr, momentum)
        assert threshold == pytest.approx((2 + 2 * momentum) / lr)
        for lam, stable in ((0.98 * threshold, True), (1.02 * threshold, False)):
            w = torch.tensor([1.0], requires_grad=True)
            opt = torch.optim.SGD([w], lr=lr, momentum=momentum)
            for _ in range(2000):
                opt.zero_grad()
                (0.5 * lam * w ** 2).sum().backward()
                opt.step()
            assert (abs(w.item()) < 1) == stable, (momentum, lam)
    assert stability_threshold("adam", 1e-3) == pytest.approx(38 / 1e-3)
