"""Analyses of trained models: each takes a model and data, returns a frozen result record
with to_dict(), and leaves the model exactly as it found it.

    from trainer.analysis import keskar_sharpness, interpolate, hessian_eigenvalues, ...

A name loads its module (and torch) on first use, so that trainer.analysis.by_name, which
validates an analysis's params, stays light for a web process.
"""
import importlib

_MODULES = {
    "hessian": ("DensityResult", "EigenResult", "HessianOperator", "TraceResult", "hessian_density",
                "hessian_eigenvalues", "hessian_trace"),
    "interpolation": ("InterpolationResult", "interpolate", "interpolated_model", "path_coefficients",
                      "recompute_bn_statistics"),
    "landscape": ("Landscape1D", "Landscape2D", "filter_normalized_direction", "landscape_1d", "landscape_2d"),
    "measures": ("MeasuresResult", "adaptive_sharpness", "flatness_measures", "pac_bayes_sigma", "rescaled"),
    "curvature": ("CurvatureTracker", "adam_preconditioner", "fixed_subset"),
    "noise": ("NoiseScaleResult", "gradient_noise_scale", "sgd_noise_scale", "two_batch_estimates"),
    "sharpness": ("SharpnessEntry", "SharpnessResult", "box_half_widths", "keskar_sharpness", "pinv_apply",
                  "subspace_matrix"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'trainer.analysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"trainer.analysis.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
