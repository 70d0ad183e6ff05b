"""AlexNet's colour handling: the mean pixel it subtracts, and 'fancy PCA' colour augmentation.

Fancy PCA (Krizhevsky et al., 2012, section 4.1): find the principal components of the RGB
values of all training pixels, then add to every pixel of an image the same offset

    [p1 p2 p3] [a1 λ1, a2 λ2, a3 λ3]^T,   a_i ~ N(0, 0.1^2) drawn once per image (per use),

where p_i, λ_i are the eigenvectors and eigenvalues of the 3×3 RGB covariance. The shift follows
the directions in which natural colours vary (mostly brightness, then a warm–cold axis), so the
network learns that an object keeps its identity under a change of illumination.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fancy_pca", "mean_pixel", "pixel_pca", "rgb_pca", "subtract_mean_pixel"]


def mean_pixel(images) -> np.ndarray:
    """The mean RGB value over all pixels of float images ``(..., H, W, 3)``: shape ``(3,)``."""
    a = _check_rgb(images)
    return a.reshape(-1, 3).mean(axis=0)


def subtract_mean_pixel(image, mean) -> np.ndarray:
    """``image - mean`` for an RGB image ``(..., H, W, 3)`` and a mean pixel ``(3,)``.

    AlexNet's only preprocessing besides resizing (the paper subtracts the mean *image*; a mean
    pixel, as later code does, is nearly the same after random crops)."""
    a = _check_rgb(image, "image")
    mean = np.asarray(mean, dtype=a.dtype)
    if mean.shape != (3,):
        raise ValueError(f"mean must be one RGB value of shape (3,), got {mean.shape}")
    return a - mean


def rgb_pca(images):
    """Eigen-decomposition of the 3×3 covariance of all RGB pixels.

    Args:
        images: float array ``(..., H, W, 3)`` (one image or a stack).

    Returns:
        ``(eigvals, eigvecs)``: ``eigvals`` ``(3,)`` in decreasing order, ``eigvecs`` ``(3, 3)``
        with unit eigenvectors as columns (``cov @ eigvecs[:, i] == eigvals[i] * eigvecs[:, i]``).

    Raises:
        ValueError: unless the last axis holds 3 float channels and there are at least 2 pixels.
    """
    return pixel_pca(_check_rgb(images).reshape(-1, 3))


def pixel_pca(pixels):
    """Principal components of pixel values ``(P, C)``, any number of channels ``C``.

    Returns ``(eigvals, eigvecs)`` in float64: ``(C,)`` in decreasing order (variances, in the
    square of the pixel units, clipped at 0) and ``(C, C)`` with unit eigenvectors as columns.
    """
    px = np.asarray(pixels, dtype=np.float64)
    if px.ndim != 2 or len(px) < 2:
        raise ValueError(
            f"pixels must be (P, C) with at least two pixels to estimate a covariance, got "
            f"shape {px.shape}"
        )
    cov = np.atleast_2d(np.cov(px, rowvar=False))
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1]
    return np.clip(vals[order], 0.0, None), vecs[:, order]


def fancy_pca(image, eigvals, eigvecs, alpha_std=0.1, rng=None):
    """Add one PCA colour offset to every pixel of ``image`` (AlexNet's colour augmentation).

    Args:
        image: float RGB image ``(..., H, W, 3)``.
        eigvals, eigvecs: from :func:`rgb_pca` (of the training set).
        alpha_std: standard deviation of the random weights a_i (the paper: 0.1).
        rng: a ``numpy.random.Generator`` (or a seed); a fresh default generator if ``None``.

    Returns:
        ``image + eigvecs @ (alpha * eigvals)`` with ``alpha ~ N(0, alpha_std²)`` drawn once for
        this call: the same offset for every pixel. Same shape and dtype as ``image``; not clipped.
    """
    a = _check_rgb(image, "image")
    eigvals = np.asarray(eigvals, dtype=np.float64)
    eigvecs = np.asarray(eigvecs, dtype=np.float64)
    if eigvals.shape != (3,) or eigvecs.shape != (3, 3):
        raise ValueError(
            f"eigvals must have shape (3,) and eigvecs (3, 3) (from rgb_pca), got {eigvals.shape} "
            f"and {eigvecs.shape}"
        )
    if alpha_std < 0:
        raise ValueError(f"alpha_std must be >= 0, got {alpha_std}")
    rng = np.random.default_rng(rng)
    alpha = rng.normal(0.0, alpha_std, size=3)
    offset = eigvecs @ (alpha * eigvals)
    return (a + offset).astype(a.dtype, copy=False)


# --------------------------------------------------------------------------- private helpers


def _check_rgb(images, name="images"):
    a = np.asarray(images)
    if a.ndim < 3 or a.shape[-1] != 3:
        raise ValueError(
            f"{name} must be RGB arrays shaped (..., H, W, 3) (channels last), got shape "
            f"{a.shape}; for NCHW tensors use x.permute(0, 2, 3, 1)"
        )
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(
            f"{name} must be float (e.g. in [0, 1]), got dtype {a.dtype}; "
            "divide uint8 images by 255"
        )
    return a
