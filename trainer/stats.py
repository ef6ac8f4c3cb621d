"""The statistics of a comparison over seeds: Welch's t-test and the confidence interval of a
difference of means, from each group's mean, sample standard deviation and count (a Stat).
Welch, not Student: the two regimes need not share a variance (LB's spread over seeds is
often larger). Checked against scipy.stats.ttest_ind(equal_var=False) in the tests."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Difference:
    """mean(a) - mean(b), its confidence interval, and the two-sided p-value of "no difference"."""

    mean: float
    low: float
    high: float
    p: float
    df: float
    confidence: float = 0.95

    def ci_text(self, digits: int = 1) -> str:
        return f"{self.confidence:.0%} CI {self.low:.{digits}f} to {self.high:.{digits}f}"

    def p_text(self) -> str:
        return "p < 0.001" if self.p < 0.001 else f"p = {self.p:.3f}"


def welch(a, b, confidence: float = 0.95) -> Difference | None:
    """Welch's t-test of a - b; a and b have .mean, .std (ddof 1) and .n. None when either group has
    fewer than two values (no spread to test against) or both spreads are zero."""
    from scipy import special  # here: the web process imports the kinds, and needs this only for a summary

    if a is None or b is None or a.n < 2 or b.n < 2 or a.std is None or b.std is None:
        return None
    va, vb = a.std ** 2 / a.n, b.std ** 2 / b.n
    se = math.sqrt(va + vb)
    spread = va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1)
    if se == 0 or spread == 0:
        return None
    df = (va + vb) ** 2 / spread  # Welch-Satterthwaite
    diff = a.mean - b.mean
    t = diff / se
    p = float(2 * special.stdtr(df, -abs(t)))
    half = float(special.stdtrit(df, 0.5 + confidence / 2)) * se
    return Difference(diff, diff - half, diff + half, p, df, confidence)
