"""Hessian analyses against the explicit Hessian of a tiny network (torch.autograd.functional)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from trainer.analysis import hessian_density, hessian_eigenvalues, hessian_trace

torch.set_num_threads(1)
CHUNK = 16  # 40 examples -> chunks of 16, 16, 8: the weighting of chunks is exercised


@pytest.fixture(scope="module")
def setup():
    """A float64 net in train mode with running stats, its data, and its explicit Hessian."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Linear(5, 3)).double()
    x, y = torch.randn(40, 4, dtype=torch.float64), torch.randint(0, 3, (40,))
    with torch.no_grad():
        for _ in range(3):
            model(x * 1.5)
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]

    def mean_loss(flat):
        parts = flat.split([s.numel() for s in shapes])
        params = {name: part.view(shape) for name, part, shape in zip(names, parts, shapes)}
        return F.cross_entropy(functional_call(model, params, (x,)), y)

    model.eval()
    hessian = torch.autograd.functional.hessian(mean_loss, torch.cat([p.detach().reshape(-1) for p in
                                                                      model.parameters()]))
    model.train()
    return model, x, y, hessian.numpy()


def top_by_magnitude(hessian, k):
    eig = np.linalg.eigvalsh(hessian)
    return eig[np.argsort(-np.abs(eig))][:k]


@pytest.mark.parametrize("method, options", [("power", dict(tol=1e-6, max_iter=1000)), ("lanczos", {})])
def test_top_three_eigenvalues_match_the_explicit_hessian(setup, method, options):
    model, x, y, hessian = setup
    result = hessian_eigenvalues(model, x, y, k=3, method=method, batch_size=CHUNK, **options)
    np.testing.assert_allclose(result.eigenvalues, top_by_magnitude(hessian, 3), rtol=1e-2)
    assert all(result.converged) and result.hvp_count >= 3


def test_power_iteration_with_pyhessian_defaults_finds_the_top_eigenvalue(setup):
    model, x, y, hessian = setup
    result = hessian_eigenvalues(model, x, y)  # k=1, 100 iterations max, tol 1e-3
    assert result.eigenvalues[0] == pytest.approx(top_by_magnitude(hessian, 1)[0], rel=1e-2)
    assert result.to_dict()["options"]["bn_mode"] == "running"


def test_hutchinson_trace_is_unbiased_with_the_theoretical_standard_error(setup):
    # Var(v^T H v) = 2 sum_{i != j} H_ij^2 for Rademacher v.
    model, x, y, hessian = setup
    result = hessian_trace(model, x, y, max_iter=400, tol=0.0, batch_size=CHUNK)
    off_diagonal = hessian - np.diag(np.diag(hessian))
    std_error = np.sqrt(2 * (off_diagonal ** 2).sum() / 400)
    assert result.samples == 400
    assert abs(result.trace - np.trace(hessian)) < 4 * std_error
    assert result.std_error == pytest.approx(std_error, rel=0.2)


def test_hutchinson_is_exact_per_sample_for_a_diagonal_hessian():
    # f(w) = sum_i c_i w_i^2 / 2: H = diag(c), v^T H v = tr(H) for every Rademacher v.
    model = nn.Linear(3, 2).double()
    c = torch.linspace(0.5, 4.0, 8, dtype=torch.float64)

    def loss_fn(m, x, y):
        w = torch.cat([m.weight.reshape(-1), m.bias])
        return (c * w ** 2).sum() / 2

    result = hessian_trace(model, torch.zeros(4, 3), torch.zeros(4), loss_fn=loss_fn, max_iter=5, tol=0.0)
    assert result.trace == pytest.approx(float(c.sum()), rel=1e-12) and result.std_error == pytest.approx(0.0)


def test_slq_density_integrates_to_one_inside_the_spectrum(setup):
    model, x, y, hessian = setup
    eig = np.linalg.eigvalsh(hessian)
    result = hessian_density(model, x, y, n_v=3, lanczos_steps=20, batch_size=CHUNK)
    nodes = np.concatenate(result.nodes)
    span = eig.max() - eig.min()
    assert nodes.min() >= eig.min() - 1e-9 * span and nodes.max() <= eig.max() + 1e-9 * span
    assert np.trapezoid(result.density, result.grid) == pytest.approx(1.0, abs=1e-3)
    for weights in result.weights:
        assert sum(weights) == pytest.approx(1.0, abs=1e-10) and min(weights) >= 0


def test_slq_with_a_full_krylov_space_recovers_every_eigenvalue(setup):
    model, x, y, hessian = setup
    eig = np.linalg.eigvalsh(hessian)
    result = hessian_density(model, x, y, n_v=1, lanczos_steps=len(eig))
    nodes = np.array(result.nodes[0])
    # Lanczos sees each distinct eigenvalue the start vector touches, exactly once.
    assert np.abs(eig[:, None] - nodes[None, :]).min(axis=1).max() < 1e-6
    assert len(nodes) <= len(eig)


def test_it_uses_a_fixed_leading_subset(setup):
    model, x, y, _ = setup
    subset = hessian_trace(model, x, y, n_samples=10, max_iter=3, tol=0.0)
    direct = hessian_trace(model, x[:10], y[:10], max_iter=3, tol=0.0)
    assert subset.trace == direct.trace and subset.options.n_samples == 10
    with pytest.raises(ValueError, match="method"):
        hessian_eigenvalues(model, x, y, method="arnoldi")


def test_the_trace_stops_on_its_relative_standard_error_and_the_error_is_honest(setup):
    model, x, y, hessian = setup
    exact = np.trace(hessian)
    result = hessian_trace(model, x, y, tol=0.02, max_iter=2000, batch_size=CHUNK)
    assert result.converged and result.samples >= 10
    assert result.std_error <= 0.02 * abs(result.trace) + 1e-12
    assert abs(result.trace - exact) < 4 * result.std_error  # the reported error covers the truth
    capped = hessian_trace(model, x, y, tol=1e-6, max_iter=12, batch_size=CHUNK)
    assert not capped.converged and capped.samples == 12  # it says when it ran out instead
