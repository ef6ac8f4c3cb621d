"""Flatness measures and the reparametrization, against closed forms and scipy."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn

from trainer.analysis.hessian import hessian_eigenvalues
from trainer.analysis.measures import adaptive_sharpness, flatness_measures, pac_bayes_sigma, rescaled
from trainer.analysis.sharpness import keskar_sharpness

from tests.exact import exact_hessian

torch.set_num_threads(1)


def _net():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).double()
    x, y = torch.randn(64, 4, dtype=torch.float64), torch.randint(0, 3, (64,))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(200):  # near a minimum, where the measures mean something
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return model, x, y


def test_the_rescaling_keeps_the_function_and_changes_the_hessian_as_s_h_s():
    model, x, y = _net()
    alpha = 8.0
    other = rescaled(model, alpha)
    with torch.no_grad():
        assert float((other(x) - model(x)).abs().max()) < 1e-5
    # parameters in order: W1 (24), b1 (6), W2 (18), b2 (3)
    s = np.concatenate([np.full(30, 1 / alpha), np.full(18, alpha), np.ones(3)])
    predicted = np.diag(s) @ exact_hessian(model, x, y) @ np.diag(s)
    assert exact_hessian(other, x, y) == pytest.approx(predicted, rel=1e-6, abs=1e-9)
    top = hessian_eigenvalues(other, x, y, k=1, method="lanczos", max_iter=51, tol=1e-10).eigenvalues[0]
    assert top == pytest.approx(np.linalg.eigvalsh(predicted)[-1], rel=1e-6)
    assert top > 5 * np.linalg.eigvalsh(exact_hessian(model, x, y))[-1]  # the same function, far "sharper"


def test_adaptive_sharpness_is_invariant_to_the_rescaling_while_keskars_is_not():
    model, x, y = _net()
    base = adaptive_sharpness(model, x, y, rho=0.05)
    assert base > 0
    for alpha in (8.0, 1 / 8):
        assert adaptive_sharpness(rescaled(model, alpha), x, y, rho=0.05) == pytest.approx(base, rel=1e-6)
    keskar = [keskar_sharpness(m, x, y, epsilons=(1e-3,)).entries[0].value for m in (model, rescaled(model, 64.0))]
    assert abs(keskar[1] / keskar[0] - 1) > 0.5


def test_the_pac_bayes_sigma_solves_the_rise_of_a_quadratic_loss():
    """At w = 0 of L(w) = c |w|^2 / 2, noise σ z raises it by c σ^2 mean|z|^2 / 2 over the draws."""
    model = nn.Linear(5, 1, bias=False).double()
    with torch.no_grad():
        model.weight.zero_()
    c, target, draws = 3.0, 0.1, 8

    def loss_fn(m, x, y):
        return c * (m.weight ** 2).sum() / 2

    gen = torch.Generator().manual_seed(0)
    mean_sq = np.mean([float((torch.randn(5, generator=gen, dtype=torch.float64) ** 2).sum()) for _ in range(draws)])
    sigma = pac_bayes_sigma(model, torch.zeros(2, 5), torch.zeros(2), target=target, draws=draws, iterations=40,
                            loss_fn=loss_fn)
    assert sigma == pytest.approx(np.sqrt(2 * target / (c * mean_sq)), rel=1e-6)


def test_kendall_tau_matches_scipy_with_and_without_ties():
    from trainer.kinds.measures import tau

    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.integers(0, 5, 12), rng.normal(size=12)
        assert tau(list(a), list(b)) == pytest.approx(stats.kendalltau(a, b).statistic, abs=1e-12)
        both = rng.integers(0, 3, 12)  # ties on both sides
        assert tau(list(a), list(both)) == pytest.approx(stats.kendalltau(a, both).statistic, abs=1e-12)


def test_all_measures_side_by_side_leave_the_model_unchanged():
    model, x, y = _net()
    before = [p.detach().clone() for p in model.parameters()]
    x0 = torch.zeros(sum(p.numel() for p in model.parameters()), dtype=torch.float64)
    result = flatness_measures(model, x, y, x0=x0, subspace_dim=10, alpha=8.0)
    assert set(v is not None for v in result.values.values()) == {True}  # both boxes of Keskar's too
    assert result.values["keskar_full_small"] < result.values["keskar_full"]  # a smaller box, a smaller rise
    assert result.output_change < 1e-5 and result.alpha == 8.0 and not result.batchnorm
    w = torch.cat([p.detach().reshape(-1) for p in rescaled(model, 8.0).parameters()])
    assert result.values["dist_init"] == pytest.approx(float(w.norm()))
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))
