"""Analyses of trained models: each takes a model and data, returns a frozen result record
with to_dict(), and leaves the model exactly as it found it."""
from trainer.analysis.hessian import (
    DensityResult, EigenResult, HessianOperator, TraceResult, hessian_density, hessian_eigenvalues, hessian_trace,
)
from trainer.analysis.interpolation import (
    InterpolationResult, interpolate, interpolated_model, path_coefficients, recompute_bn_statistics,
)
from trainer.analysis.landscape import Landscape1D, Landscape2D, filter_normalized_direction, landscape_1d, landscape_2d
from trainer.analysis.noise import (
    NoiseScaleResult, gradient_noise_scale, sgd_noise_scale, two_batch_estimates,
)
from trainer.analysis.sharpness import (
    SharpnessEntry, SharpnessResult, box_half_widths, keskar_sharpness, pinv_apply, subspace_matrix,
)

__all__ = [
    "DensityResult", "EigenResult", "HessianOperator", "InterpolationResult", "Landscape1D", "Landscape2D",
    "NoiseScaleResult", "SharpnessEntry", "SharpnessResult", "TraceResult",
    "box_half_widths", "filter_normalized_direction", "gradient_noise_scale", "hessian_density",
    "hessian_eigenvalues", "hessian_trace", "interpolate", "interpolated_model", "keskar_sharpness",
    "landscape_1d", "landscape_2d", "path_coefficients", "pinv_apply", "recompute_bn_statistics",
    "sgd_noise_scale", "subspace_matrix", "two_batch_estimates",
]
