"""What a run-curves page receives: each line's steps exactly, its values to 16 significant bits,
packed small (dashboard/figures/runs.py pack and display_precision), decoded apart (tests/exact.py)."""
import numpy as np

from dashboard.figures.runs import display_precision, pack
from tests.exact import unpack


def test_steps_arrive_exactly_as_differences():
    steps = np.array([1, 40, 41, 81, 82, 20000, 2_000_000_000], np.int32)
    assert np.cumsum(unpack(pack(np.diff(steps, prepend=0).astype("<i4")), "<i4")).tolist() == steps.tolist()


def test_values_arrive_to_the_nearest_16_significant_bits_and_special_values_unchanged():
    rng = np.random.default_rng(0)
    y = np.concatenate([rng.random(5000) * 3, -rng.random(100) * 1e4, rng.random(100) * 1e-30,
                        [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, 2.2, np.float32(3.4e38)]]).astype(np.float32)
    shown = unpack(pack(display_precision(y)), "<f4", dropped=1)
    finite = np.isfinite(y)
    assert np.array_equal(np.isnan(shown), np.isnan(y)) and np.array_equal(shown[np.isinf(y)], y[np.isinf(y)])
    # the two 16-bit neighbours of each value, from frexp (y = m 2^e, 0.5 <= |m| < 1)
    m, e = np.frexp(y[finite].astype(np.float64))
    below, above = np.floor(m * 2**16) / 2**16 * 2.0**e, np.ceil(m * 2**16) / 2**16 * 2.0**e
    got = shown[finite].astype(np.float64)
    assert np.all((got == below) | (got == above))
    nearest = np.minimum(np.abs(y[finite] - below), np.abs(y[finite] - above))
    assert np.all(np.abs(got - y[finite]) <= nearest + 1e-300)  # the nearer one (either on a tie)
    assert np.all(np.abs(got - y[finite]) <= np.abs(y[finite]) * 2.0**-16)


def test_rounding_keeps_the_order_of_values_so_extremes_stay_extremes():
    y = np.sort(np.random.default_rng(1).normal(size=3000)).astype(np.float32)
    shown = unpack(pack(display_precision(y)), "<f4", dropped=1)
    assert np.all(np.diff(shown) >= 0)
