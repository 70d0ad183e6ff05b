"""Small geometric changes to digits: shifts by a few pixels and rotations by a few degrees.

Batch-wise torch transforms on ``(N, C, H, W)`` tensors (any device), usable as
``fit(..., transform=RandomShiftRotate(max_shift=2, max_degrees=10))``. Each sample gets its own
random shift and angle; pixels that come from outside the image are 0 (the digits' background).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._validate import image_batch

__all__ = ["RandomShiftRotate", "affine_batch", "random_rotate", "shift_batch"]


def affine_batch(x, dx, dy, degrees, mode="bilinear"):
    """Rotate each image by ``degrees[i]`` (counter-clockwise, about its centre), then shift it
    by ``(dx[i], dy[i])`` pixels (right, down).

    Args:
        x: ``(N, C, H, W)`` float tensor.
        dx, dy, degrees: ``(N,)`` tensors (or numbers, used for every image).

    Returns:
        a tensor like ``x``. Integer shifts without rotation are exact (no blurring).
    """
    _check_batch(x)
    n, _, h, w = x.shape

    def vec(v):
        return torch.as_tensor(v, dtype=x.dtype, device=x.device).expand(n).clone()

    dx, dy, theta = vec(dx), vec(dy), vec(degrees) * (math.pi / 180.0)
    cos, sin = torch.cos(theta), torch.sin(theta)
    # affine_grid maps output coordinates to input ones (normalised to [-1, 1]); the inverse of
    # "rotate by theta then translate by t" is "translate by -t then rotate by -theta".
    tx, ty = -2.0 * dx / w, -2.0 * dy / h
    mat = torch.zeros(n, 2, 3, dtype=x.dtype, device=x.device)
    # the image's y axis points down, so a counter-clockwise turn on screen is clockwise in (x, y)
    mat[:, 0, 0], mat[:, 0, 1] = cos, -sin * h / w
    mat[:, 1, 0], mat[:, 1, 1] = sin * w / h, cos
    mat[:, 0, 2] = cos * tx - sin * ty * h / w
    mat[:, 1, 2] = sin * tx * w / h + cos * ty
    grid = F.affine_grid(mat, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def shift_batch(x, dx, dy):
    """Shift each image by whole pixels ``(dx[i], dy[i])`` (right, down), filling with zeros."""
    return affine_batch(
        x, torch.as_tensor(dx).round(), torch.as_tensor(dy).round(), 0.0, mode="nearest"
    )


def random_rotate(x, max_degrees=10.0, generator=None):
    """Rotate each image by a random angle drawn uniformly from ``[-max_degrees, max_degrees]``."""
    _check_batch(x)
    if not 0 <= max_degrees <= 180:
        raise ValueError(f"max_degrees must lie in [0, 180], got {max_degrees}")
    ang = _uniform(len(x), -max_degrees, max_degrees, generator).to(x.device)
    return affine_batch(x, 0.0, 0.0, ang)


class RandomShiftRotate:
    """A transform for ``fit(transform=...)``: a random rotation of up to ``max_degrees`` and a
    random whole-pixel shift of up to ``max_shift``, drawn independently for every image and call.

    Args:
        max_shift: largest shift in pixels on each axis (0 turns shifts off).
        max_degrees: largest rotation in degrees (0 turns rotations off).
        seed: seeds the transform's own generator, so runs repeat.
    """

    def __init__(self, max_shift=2, max_degrees=10.0, seed=0):
        if max_shift < 0 or not 0 <= max_degrees <= 180:
            raise ValueError(
                f"need max_shift >= 0 and 0 <= max_degrees <= 180, got {max_shift=}, {max_degrees=}"
            )
        self.max_shift, self.max_degrees = int(max_shift), float(max_degrees)
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, x):
        _check_batch(x)
        n, g, s = len(x), self.generator, self.max_shift
        dx = torch.randint(-s, s + 1, (n,), generator=g).to(x.device)
        dy = torch.randint(-s, s + 1, (n,), generator=g).to(x.device)
        ang = _uniform(n, -self.max_degrees, self.max_degrees, g).to(x.device)
        mode = "nearest" if self.max_degrees == 0 else "bilinear"
        return affine_batch(x, dx, dy, ang, mode=mode)

    def __repr__(self):
        return f"RandomShiftRotate(max_shift={self.max_shift}, max_degrees={self.max_degrees})"


# --------------------------------------------------------------------------- private helpers


def _check_batch(x):
    image_batch("x", x, "add a channel axis for digits (x[:, None])")


def _uniform(n, low, high, generator):
    return low + (high - low) * torch.rand(n, generator=generator)
