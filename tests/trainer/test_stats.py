"""Welch's t-test and its confidence interval, against scipy.stats on the same samples."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from trainer.kinds.tables import Stat
from trainer.stats import welch

# accuracies in percent as runs report them (rounded: no denormal spreads)
samples = st.lists(st.floats(min_value=0, max_value=100).map(lambda v: round(v, 3)), min_size=2, max_size=8)


@settings(max_examples=200, deadline=None)
@given(a=samples, b=samples, confidence=st.sampled_from([0.9, 0.95, 0.99]))
def test_it_matches_scipys_welch_test_and_interval(a, b, confidence):
    d = welch(Stat.of(a), Stat.of(b), confidence)
    if np.std(a, ddof=1) < 1e-9 and np.std(b, ddof=1) < 1e-9:
        assert d is None
        return
    ref = stats.ttest_ind(a, b, equal_var=False)
    ci = ref.confidence_interval(confidence)
    assert d.mean == pytest.approx(np.mean(a) - np.mean(b), abs=1e-9)
    assert d.p == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-12)
    assert d.df == pytest.approx(ref.df, rel=1e-9)
    assert (d.low, d.high) == (pytest.approx(ci.low, rel=1e-6, abs=1e-9), pytest.approx(ci.high, rel=1e-6, abs=1e-9))


def test_it_needs_two_values_per_group():
    assert welch(Stat.of([73.1]), Stat.of([65.7, 66.0])) is None


def test_a_known_case():
    # SB 73.1, 72.2, 74.0 vs LB 65.7, 63.9, 67.5: scipy says t = 6.37, df = 2.94, p = 0.0083, CI 3.66 to 11.14
    d = welch(Stat.of([73.1, 72.2, 74.0]), Stat.of([65.7, 63.9, 67.5]))
    assert d.mean == pytest.approx(7.4) and d.p_text() == "p = 0.008" and d.ci_text() == "95% CI 3.7 to 11.1"
