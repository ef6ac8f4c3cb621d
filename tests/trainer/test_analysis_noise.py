"""Noise scales: the two-batch estimator against exact per-example gradients."""
import numpy as np
import pytest
import torch
from torch import nn

from trainer.analysis import gradient_noise_scale, sgd_noise_scale, two_batch_estimates

torch.set_num_threads(1)
SMALL, BIG, PAIRS = 2, 16, 3000


def test_sgd_noise_scale_is_lr_times_n_over_b():
    assert sgd_noise_scale(1e-3, 4000, 32) == pytest.approx(0.125)
    with pytest.raises(ValueError, match="batch_size"):
        sgd_noise_scale(1e-3, 4000, 0)


def test_two_batch_estimates_invert_the_expected_squared_norms():
    # E|G_B|^2 = |G|^2 + tr(Sigma) / B.
    g2, trace = 2.5, 40.0
    assert two_batch_estimates(g2 + trace / 8, g2 + trace / 128, 8, 128) == pytest.approx((g2, trace))
    with pytest.raises(ValueError, match="small_batch"):
        two_batch_estimates(1.0, 1.0, 64, 64)


def half_squared_error(model, x, y):
    return 0.5 * ((model(x).squeeze(1) - y) ** 2).mean()


@pytest.fixture(scope="module")
def regression():
    gen = torch.Generator().manual_seed(0)
    # Bounded inputs and noise keep the squared norms' tails light, so 3000 pairs resolve
    # the expectations to about 1% (enough to tell sampling with from without replacement).
    x = torch.rand(64, 3, generator=gen, dtype=torch.float64) * 2 - 1
    noise = torch.rand(64, generator=gen, dtype=torch.float64) - 0.5
    y = x @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) + noise
    torch.manual_seed(1)
    model = nn.Linear(3, 1).double()
    # Per-example gradients of 0.5 (w.x + b - y)^2: residual * (x, 1); (64, 4).
    with torch.no_grad():
        residual = model(x).squeeze(1) - y
    per_example = residual[:, None] * torch.cat([x, torch.ones(64, 1, dtype=torch.float64)], 1)
    g = per_example.mean(0)
    trace_sigma = ((per_example - g) ** 2).sum(1).mean()  # population covariance's trace
    return model, x, y, float(g @ g), float(trace_sigma)


def test_the_estimators_expectations_match_exact_per_example_statistics(regression):
    model, x, y, g2_true, trace_true = regression
    result = gradient_noise_scale(model, x, y, small_batch=SMALL, big_batch=BIG, n_pairs=PAIRS,
                                  loss_fn=half_squared_error)
    small, big = np.array(result.g2_small), np.array(result.g2_big)
    se = lambda v: v.std(ddof=1) / np.sqrt(len(v))
    # Batches drawn with replacement: E|G_B|^2 = |G|^2 + tr(Sigma) / B exactly.
    assert abs(small.mean() - (g2_true + trace_true / SMALL)) < 4 * se(small)
    assert abs(big.mean() - (g2_true + trace_true / BIG)) < 4 * se(big)
    per_pair = np.array([two_batch_estimates(s, b, SMALL, BIG) for s, b in zip(small, big)])
    assert abs(result.g2 - g2_true) < 4 * se(per_pair[:, 0])
    assert abs(result.trace_sigma - trace_true) < 4 * se(per_pair[:, 1])
    assert result.b_simple == pytest.approx(result.trace_sigma / result.g2)
    assert result.to_dict()["options"]["sampling"] == "with replacement"
