"""The curvature at which an optimizer stops being stable on a quadratic (the edge of stability).

On f(w) = λ w² / 2, gradient descent with step η diverges once λ > 2/η; heavy-ball momentum β
(torch's SGD form) once λ > (2 + 2β)/η; Adam with β1, measured on the preconditioned Hessian
P⁻¹H, once λ > (2 + 2β1) / ((1 - β1) η), 38/η at β1 = 0.9 (Cohen et al. 2021, 2022).
"""
from __future__ import annotations


def stability_threshold(optimizer: str, lr: float, momentum: float = 0.0, beta1: float = 0.9) -> float:
    """The largest (preconditioned, for Adam) curvature at which the optimizer is stable on a quadratic."""
    if optimizer == "adam":
        return (2 + 2 * beta1) / ((1 - beta1) * lr)
    return (2 + 2 * momentum) / lr


def threshold_text(optimizer: str, lr: float, momentum: float = 0.0) -> str:
    """How the page names a threshold: "2/η = 20", "(2 + 2β)/η = 380", "38/η = 38000 (preconditioned)"."""
    value = stability_threshold(optimizer, lr, momentum)
    if optimizer == "adam":
        return f"38/η = {value:.4g} (preconditioned)"
    return f"2/η = {value:.4g}" if momentum == 0 else f"(2 + 2β)/η = {value:.4g}"
