"""L-BFGS-B on a box given as arrays, through SciPy's solver, at array speed.

scipy.optimize.minimize(method="L-BFGS-B") turns a Bounds of arrays into a list of n
tuples and back, then loops over the n variables in Python to build the bound codes
(SciPy 1.17: about 0.7 s for 280k variables on every call, as long as several full-data
evaluations of a small MLP). The "direct" driver runs the same reverse-communication loop
as SciPy's own _minimize_lbfgsb around the same compiled routine (setulb), building the
bound arrays with numpy. tests/trainer/test_analysis_sharpness.py checks that both drivers
produce identical iterates. "minimize" is the public-API path, kept as a fallback for SciPy
versions whose private interface differs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy
from scipy.optimize import Bounds, minimize

DRIVERS = ("auto", "direct", "minimize")

# fg(y) -> (f, grad): f a float, grad a float64 array of y's shape.
FunGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]


@dataclass(frozen=True)
class LbfgsbOutcome:
    x: np.ndarray
    fun: float
    nit: int
    nfev: int
    status: int  # 0 converged, 1 iteration/evaluation limit, 2 other stop (SciPy's warnflag)
    message: str
    success: bool


def direct_available() -> bool:
    """SciPy >= 1.15 ships the C port of L-BFGS-B whose setulb signature the driver uses."""
    try:
        from scipy.optimize import _lbfgsb  # noqa: F401
        from scipy.optimize._lbfgsb_py import status_messages, task_messages  # noqa: F401
    except ImportError:
        return False
    major, minor = (int(part) for part in scipy.__version__.split(".")[:2])
    return (major, minor) >= (1, 15)


def resolve_driver(driver: str) -> str:
    if driver not in DRIVERS:
        raise ValueError(f"driver must be one of {DRIVERS}, got {driver!r}")
    if driver == "auto":
        return "direct" if direct_available() else "minimize"
    if driver == "direct" and not direct_available():
        raise ValueError(f"driver='direct' needs SciPy >= 1.15 (found {scipy.__version__}): use driver='minimize'")
    return driver


def minimize_lbfgsb(
    fg: FunGrad,
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    maxiter: int,
    ftol: float = 0.0,
    gtol: float = 0.0,
    maxcor: int = 10,
    maxls: int = 20,
    maxfun: int = 15000,
    driver: str = "auto",
    on_iteration: Callable[[int], None] | None = None,
) -> LbfgsbOutcome:
    """Minimise fg over lower <= x <= upper (all float64 arrays of x0's shape)."""
    driver = resolve_driver(driver)
    if driver == "minimize":
        iterations = 0

        def callback(intermediate_result):
            nonlocal iterations
            iterations += 1
            if on_iteration is not None:
                on_iteration(iterations)

        res = minimize(
            fg, x0, jac=True, method="L-BFGS-B", bounds=Bounds(lower, upper), callback=callback,
            options=dict(maxiter=maxiter, ftol=ftol, gtol=gtol, maxcor=maxcor, maxls=maxls, maxfun=maxfun),
        )
        return LbfgsbOutcome(res.x, float(res.fun), int(res.nit), int(res.nfev), int(res.status),
                             str(res.message), bool(res.success))
    return _direct(fg, x0, lower, upper, maxiter=maxiter, factr=ftol / np.finfo(float).eps, pgtol=gtol,
                   m=maxcor, maxls=maxls, maxfun=maxfun, on_iteration=on_iteration)


def _direct(fg, x0, lower, upper, *, maxiter, factr, pgtol, m, maxls, maxfun, on_iteration) -> LbfgsbOutcome:
    # Mirrors scipy.optimize._lbfgsb_py._minimize_lbfgsb (SciPy 1.15 to 1.17) step for step.
    from scipy.optimize import _lbfgsb
    from scipy.optimize._lbfgsb_py import status_messages, task_messages

    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    n = x0.size
    if lower.shape != (n,) or upper.shape != (n,):
        raise ValueError(f"bounds must be arrays of shape ({n},), got {lower.shape} and {upper.shape}")
    if (lower > upper).any():
        raise ValueError("a lower bound is greater than its upper bound")
    has_lower, has_upper = np.isfinite(lower), np.isfinite(upper)
    # Bound codes: 0 none, 1 lower only, 2 both, 3 upper only.
    nbd = np.where(has_lower, np.where(has_upper, 2, 1), np.where(has_upper, 3, 0)).astype(np.int32)
    low_bnd = np.where(has_lower, lower, 0.0)
    upper_bnd = np.where(has_upper, upper, 0.0)

    x = np.clip(np.asarray(x0, dtype=np.float64).ravel(), lower, upper)
    nfev = 0
    # SciPy's ScalarFunction evaluates at x0 before the loop; so do we, so the counts match.
    f_value, g = fg(x.copy())
    nfev += 1
    f = np.array(f_value, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    last_x = x.copy()
    wa = np.zeros(2 * m * n + 5 * n + 11 * m * m + 8 * m, np.float64)
    iwa = np.zeros(3 * n, dtype=np.int32)
    task = np.zeros(2, dtype=np.int32)
    ln_task = np.zeros(2, dtype=np.int32)
    lsave = np.zeros(4, dtype=np.int32)
    isave = np.zeros(44, dtype=np.int32)
    dsave = np.zeros(29, dtype=np.float64)
    n_iterations = 0
    while True:
        g = g.astype(np.float64)
        _lbfgsb.setulb(m, x, low_bnd, upper_bnd, nbd, f, g, factr, pgtol, wa, iwa, task, lsave, isave,
                       dsave, maxls, ln_task)
        if task[0] == 3:  # FG: evaluate at the current x (x is overwritten by setulb, so copy)
            if not np.array_equal(x, last_x):  # ScalarFunction skips a repeated point too
                f_value, g = fg(x.copy())
                nfev += 1
                last_x = x.copy()
            f = np.array(f_value, dtype=np.float64)
            g = np.asarray(g, dtype=np.float64)
        elif task[0] == 1:  # NEW_X: an iteration finished
            n_iterations += 1
            if on_iteration is not None:
                on_iteration(n_iterations)
            if n_iterations >= maxiter:
                task[0], task[1] = 5, 504
            elif nfev > maxfun:
                task[0], task[1] = 5, 502
        else:
            break
    if task[0] == 4:
        warnflag = 0
    elif nfev > maxfun or n_iterations >= maxiter:
        warnflag = 1
    else:
        warnflag = 2
    message = status_messages[task[0]] + ": " + task_messages[task[1]]
    return LbfgsbOutcome(x, float(f), n_iterations, nfev, warnflag, message, warnflag == 0)
