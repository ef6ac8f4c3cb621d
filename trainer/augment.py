"""Whole-batch data augmentation on device tensors (paper appendix E).

One affine_grid + grid_sample call per batch instead of a per-sample pipeline: flips,
rotations up to `rotate_deg` and translations up to `translate` of the image size.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def augment_batch(
    x: torch.Tensor,
    *,
    flip: bool = True,
    rotate_deg: float = 10.0,
    translate: float = 0.2,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """x: (B, C, H, W) -> a randomly flipped, rotated and shifted copy of the same shape."""
    if x.dim() != 4:
        raise ValueError(f"augmentation needs image batches (B, C, H, W); got shape {tuple(x.shape)}")
    b = x.shape[0]
    u = torch.rand(b, 4, device=x.device, generator=generator)  # (B, 4) in [0, 1)
    angle = (2 * u[:, 0] - 1) * math.radians(rotate_deg)
    # affine_grid works in [-1, 1] coordinates: a shift of a fraction f of the image is 2f.
    tx = (2 * u[:, 1] - 1) * translate * 2
    ty = (2 * u[:, 2] - 1) * translate * 2
    sx = torch.where(u[:, 3] < 0.5, -1.0, 1.0) if flip else torch.ones_like(angle)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # theta = [R @ diag(sx, 1) | t], (B, 2, 3): flip first, then rotate, then shift.
    theta = torch.stack([
        torch.stack([cos * sx, -sin, tx], dim=1),
        torch.stack([sin * sx, cos, ty], dim=1),
    ], dim=1).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # "border" repeats edge pixels, like Keras's default fill_mode="nearest".
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
