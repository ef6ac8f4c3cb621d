"""An analysis by name: a kind and its params, as experiment kinds plan them and pages request them.

`validate_params(kind, params)` coerces (form strings are accepted), fills in every default
and names the field at fault; the result is canonical, so the same analysis is the same
dict wherever it was asked for. `run_analysis(kind, params, trainer, trainer_b)` computes it
on a Trainer's model and data (`trainer_for` builds one from a run's config and weights)
and returns the plain `to_dict()` of the trainer.analysis result. The CLI's executor and
the web's workers both call these two.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Callable

ANALYSIS_KINDS = ("sharpness", "interpolation", "hessian", "landscape", "measures")
LANDSCAPE_RESOLUTIONS = (2, 51)  # smallest and largest grid per axis
# Keskar et al.'s Metric 2.1 as the paper measures it: both box sizes, 10 L-BFGS-B iterations.
PAPER_SHARPNESS = {"epsilons": [1e-3, 5e-4], "max_iter": 10}
# "converged": L-BFGS-B until it stops by itself (or 200 iterations), from y = 0 and 3 random starts in the box
CONVERGED_SHARPNESS = {"max_iter": 200, "restarts": 3}
# The paper's Fig. 3 from the authors' code: 25 points on [-1, 2], both paths.
PAPER_INTERPOLATIONS = [{"path": path, "bn": "recompute", "points": 25, "alpha_min": -1, "alpha_max": 2}
                        for path in ("linear", "curved")]


# trainer.analysis.measures's measures: what each is, and which way reads sharp (here: no torch import)
MEASURE_DESCRIPTIONS = {
    "keskar_full": ("Keskar sharpness, full space, ε 1e-3", "higher is sharper"),
    "keskar_full_small": ("Keskar sharpness, full space, ε 5e-4", "higher is sharper"),
    "keskar_p100": ("Keskar sharpness, random 100-dim subspace, ε 1e-3", "higher is sharper"),
    "keskar_p100_small": ("Keskar sharpness, random 100-dim subspace, ε 5e-4", "higher is sharper"),
    "lambda_max": ("top Hessian eigenvalue λ_max", "higher is sharper"),
    "trace": ("Hessian trace (Hutchinson)", "higher is sharper"),
    "adaptive": ("adaptive sharpness, |δ| ≤ ρ|w|", "higher is sharper"),
    "pac_bayes_sigma": ("PAC-Bayes σ: the weight noise the loss tolerates", "higher is flatter"),
    "dist_init": ("distance from the initial weights |w - w0|", "higher is farther"),
}


# -- params -----------------------------------------------------------------------------

def whole_number(name: str, value, low: int | None = None, high: int | None = None, optional: bool = False):
    if optional and value in (None, ""):
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        number = value if isinstance(value, int) else int(str(value).strip())
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None
    if low is not None and number < low or high is not None and number > high:
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be {bounds}, got {number}")
    return number


def _float(name: str, value, positive: bool = False) -> float:
    try:
        number = float(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number) or (positive and number <= 0):
        raise ValueError(f"{name} must be a {'positive ' if positive else ''}finite number, got {value!r}")
    return number


def _bool(name: str, value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "on", "yes"):
        return True
    if text in ("0", "false", "off", "no", ""):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def _choice(name: str, value, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _epsilons(value) -> list[float]:
    items = [v for v in str(value).replace(";", ",").split(",") if v.strip()] if isinstance(value, str) else value
    try:
        items = list(items)
    except TypeError:
        raise ValueError(f"epsilons must be a list of box sizes, e.g. 1e-3, 5e-4; got {value!r}") from None
    if not items:
        raise ValueError("epsilons is empty: give at least one box size, e.g. 1e-3, 5e-4")
    return [_float("each of epsilons", v, positive=True) for v in items]


# kind -> {param: (default, coerce(name, value))}
SCHEMAS: dict[str, dict[str, tuple[Any, Callable]]] = {
    "sharpness": {
        "epsilons": (PAPER_SHARPNESS["epsilons"], lambda n, v: _epsilons(v)),
        "subspace_dim": (None, lambda n, v: whole_number(n, v, 1, optional=True)),
        "max_iter": (PAPER_SHARPNESS["max_iter"], lambda n, v: whole_number(n, v, 1, 1000)),
        "restarts": (0, lambda n, v: whole_number(n, v, 0, 100)),
        # besides the paper's protocol, a longer solve with restarts, to show how far from converged it is
        "converged": (False, _bool),
        "converged_iter": (CONVERGED_SHARPNESS["max_iter"], lambda n, v: whole_number(n, v, 10, 5000)),
    },
    "interpolation": {
        "path": ("linear", lambda n, v: _choice(n, v, ("linear", "curved"))),
        "bn": ("recompute", lambda n, v: _choice(n, v, ("recompute", "batch"))),
        "points": (25, lambda n, v: whole_number(n, v, 2, 401)),
        "alpha_min": (-1.0, _float),
        "alpha_max": (2.0, _float),
    },
    "hessian": {
        "k": (3, lambda n, v: whole_number(n, v, 1, 20)),
        "trace": (True, _bool),
        "density": (True, _bool),
        "n_samples": (1000, lambda n, v: whole_number(n, v, 1)),
    },
    "landscape": {
        "resolution": (21, lambda n, v: whole_number(n, v, *LANDSCAPE_RESOLUTIONS)),
        "span": (1.0, lambda n, v: _float(n, v, positive=True)),
        "n_samples": (None, lambda n, v: whole_number(n, v, 1, optional=True)),
    },
    # trainer.analysis.measures: every flatness measure of the weights (rescaled by alpha first)
    "measures": {
        "alpha": (1.0, lambda n, v: _float(n, v, positive=True)),
        "layer": (0, lambda n, v: whole_number(n, v, 0, 50)),
        "epsilon": (1e-3, lambda n, v: _float(n, v, positive=True)),
        "epsilon_small": (5e-4, lambda n, v: _float(n, v, positive=True)),  # the paper's second box
        "subspace_dim": (100, lambda n, v: whole_number(n, v, 1)),
        "rho": (0.05, lambda n, v: _float(n, v, positive=True)),
        "target": (0.1, lambda n, v: _float(n, v, positive=True)),
        "n_samples": (1000, lambda n, v: whole_number(n, v, 1)),
    },
}


def validate_params(kind: str, params: dict | None) -> dict:
    """Every param of the kind, coerced and defaulted; ValueError names the field."""
    if kind not in ANALYSIS_KINDS:
        raise ValueError(f"kind must be one of {', '.join(ANALYSIS_KINDS)}; got {kind!r}")
    params = dict(params or {})
    schema = SCHEMAS[kind]
    unknown = sorted(set(params) - set(schema))
    if unknown:
        raise ValueError(f"unknown parameter {unknown[0]!r} for {kind}; expected some of {', '.join(schema)}")
    clean = {name: coerce(name, params[name]) if name in params else copy.deepcopy(default)
             for name, (default, coerce) in schema.items()}
    if kind == "interpolation" and not clean["alpha_min"] < clean["alpha_max"]:
        raise ValueError(f"alpha_min must be below alpha_max, got {clean['alpha_min']} and {clean['alpha_max']}")
    return clean


def defaults(kind: str) -> dict:
    return validate_params(kind, {})


# -- computing ----------------------------------------------------------------------------

def trainer_for(config, weights: str | Path, device: str | None = None):
    """A Trainer for the run's config (so its data: the same subset and seed, and its BatchNorm
    evaluation mode) on `device`, with the analysed weights loaded."""
    import torch

    from trainer.train import Trainer, load_weights

    device = device or config.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        device = "cpu"  # a run trained on a GPU host, analysed on a CPU worker
    trainer = Trainer(config.replace(device=device, init_from=None))
    trainer.model.load_state_dict(load_weights(weights))
    return trainer


class _Stages:
    """A progress(fraction) callback split over consecutive stages of one analysis."""

    def __init__(self, progress: Callable[[float], None] | None):
        self.progress = progress
        self.offset, self.width = 0.0, 1.0

    def stage(self, index: int, count: int) -> Callable[[float], None]:
        self.offset, self.width = index / count, 1 / count
        return self

    def __call__(self, fraction: float) -> None:
        if self.progress is not None:
            self.progress(min(1.0, self.offset + self.width * float(fraction)))


def _first(x, y, n: int | None):
    return (x, y) if n is None else (x[:n], y[:n])


def run_analysis(kind: str, params: dict, trainer, trainer_b=None,
                 progress: Callable[[float], None] | None = None) -> dict:
    """Compute the analysis on trainer's model (trainer_b's: interpolation's far end); its to_dict()."""
    import torch

    from trainer import analysis

    p = validate_params(kind, params)
    cfg, data = trainer.config, trainer.data
    common = dict(bn_mode=cfg.bn_eval, batch_size=cfg.eval_batch_size)
    if kind == "sharpness":
        stages = _Stages(progress)
        solve = dict(epsilons=tuple(p["epsilons"]), subspace_dim=p["subspace_dim"], **common)
        result = analysis.keskar_sharpness(trainer.model, data.x_train, data.y_train, max_iter=p["max_iter"],
                                           restarts=p["restarts"], progress=stages.stage(0, 1 + p["converged"]),
                                           **solve).to_dict()
        if p["converged"]:
            result["converged"] = analysis.keskar_sharpness(
                trainer.model, data.x_train, data.y_train, max_iter=p["converged_iter"],
                restarts=CONVERGED_SHARPNESS["restarts"], progress=stages.stage(1, 2), **solve).to_dict()
        return result
    if kind == "interpolation":
        if trainer_b is None:
            raise ValueError("run_b: interpolation needs the far end's weights")
        alphas = torch.linspace(p["alpha_min"], p["alpha_max"], p["points"])
        return analysis.interpolate(trainer.model, trainer_b.model, data.x_train, data.y_train, data.x_test,
                                    data.y_test, alphas=alphas, path=p["path"], bn=p["bn"],
                                    batch_size=cfg.eval_batch_size, progress=progress).to_dict()
    if kind == "hessian":
        return _hessian(trainer, p, _Stages(progress), common)
    if kind == "measures":
        x, y = _first(data.x_train, data.y_train, min(p["n_samples"], data.n_train))
        return analysis.flatness_measures(trainer.model, x, y, x0=trainer.x0, alpha=p["alpha"], layer=p["layer"],
                                          epsilons=(p["epsilon"], p["epsilon_small"]), subspace_dim=p["subspace_dim"],
                                          rho=p["rho"],
                                          target=p["target"], seed=cfg.seed, progress=progress, **common).to_dict()
    x_train, y_train = _first(data.x_train, data.y_train, p["n_samples"])
    x_test, y_test = _first(data.x_test, data.y_test, p["n_samples"])
    return analysis.landscape_2d(trainer.model, x_train, y_train, x_test, y_test, resolution=p["resolution"],
                                 span=(-p["span"], p["span"]), progress=progress, **common).to_dict()


def _hessian(trainer, p: dict, stages: _Stages, common: dict) -> dict:
    """Top-k eigenvalues, then (optionally) the trace and the SLQ density, on the first n_samples examples."""
    from trainer import analysis

    model, data = trainer.model, trainer.data
    n = min(p["n_samples"], data.n_train)
    todo = [("eigen", lambda cb: analysis.hessian_eigenvalues(model, data.x_train, data.y_train, k=p["k"],
                                                              n_samples=n, progress=cb, **common))]
    if p["trace"]:
        todo.append(("trace", lambda cb: analysis.hessian_trace(model, data.x_train, data.y_train, n_samples=n,
                                                                progress=cb, **common)))
    if p["density"]:
        todo.append(("density", lambda cb: analysis.hessian_density(model, data.x_train, data.y_train, n_samples=n,
                                                                    progress=cb, **common)))
    result: dict[str, Any] = {"n_samples": n}
    for i, (name, compute) in enumerate(todo):
        result[name] = compute(stages.stage(i, len(todo))).to_dict()
    return result
