"""Local response normalization (Krizhevsky et al., 2012, section 3.3), from scratch in NumPy.

The paper's formula, for the activity :math:`a^i_{x,y}` of kernel ``i`` at position ``(x, y)``
among ``N`` kernels::

    b^i = a^i / (k + alpha * sum_{j = max(0, i - n/2)}^{min(N - 1, i + n/2)} (a^j)^2) ^ beta

with ``n/2`` rounded down, and the paper's constants k = 2, n = 5, alpha = 1e-4, beta = 0.75.

``torch.nn.LocalResponseNorm`` differs in two ways: it divides ``alpha`` by ``size`` (so pass
``alpha = paper_alpha * n`` to match), and it defaults to ``k = 1``. For an even ``n`` its window
is also one channel shorter above (``n/2`` below, ``n/2 - 1`` above); for odd ``n`` the windows
agree.
"""

from __future__ import annotations

import numpy as np

from .._validate import integer

__all__ = ["lrn_backward", "lrn_forward"]


def lrn_forward(x, size=5, alpha=1e-4, beta=0.75, k=2.0):
    """Local response normalization across channels, with the paper's formula.

    Args:
        x: activations of shape ``(N, C, H, W)`` (any ``(N, C, ...)`` works), float32 or float64.
        size: ``n``, the number of adjacent channels summed (``n // 2`` on each side, clipped at
            the first and last channel).
        alpha, beta, k: the paper's constants; ``alpha`` is *not* divided by ``n``.

    Returns:
        ``(out, cache)``: ``out`` has the shape and dtype of ``x``.

    Raises:
        ValueError: for a non-float array without a channel axis, or bad constants.
    """
    _check(x, size, alpha, beta, k)
    half = int(size) // 2
    s = k + alpha * _window_sum(x * x, half)
    scale = s ** (-beta)
    out = (x * scale).astype(x.dtype, copy=False)
    return out, (x, s, scale, half, alpha, beta)


def lrn_backward(dout, cache):
    """Gradient of :func:`lrn_forward`.

    With :math:`s_i = k + \\alpha \\sum_{j \\in W(i)} a_j^2` and :math:`b_i = a_i s_i^{-\\beta}`,
    and windows symmetric (``j`` is in ``W(i)`` exactly when ``i`` is in ``W(j)``)::

        dx_j = dout_j s_j^-beta - 2 alpha beta a_j sum_{i in W(j)} dout_i a_i s_i^(-beta-1)

    Args:
        dout: upstream gradient, the shape of ``out``.
        cache: from :func:`lrn_forward`.

    Returns:
        ``dx``, the shape and dtype of ``x``.
    """
    x, s, scale, half, alpha, beta = cache
    dout = np.asarray(dout)
    if dout.shape != x.shape:
        raise ValueError(
            f"dout must have the shape of the forward output {x.shape}, got {dout.shape}"
        )
    inner = _window_sum(dout * x * scale / s, half)
    dx = dout * scale - 2.0 * alpha * beta * x * inner
    return dx.astype(x.dtype, copy=False)


# --------------------------------------------------------------------------- private helpers


def _window_sum(v: np.ndarray, half: int) -> np.ndarray:
    """``out[:, i] = sum(v[:, max(0, i - half) : i + half + 1])`` along axis 1."""
    c = v.shape[1]
    pad = [(0, 0)] * v.ndim
    pad[1] = (half + 1, half)
    cs = np.cumsum(np.pad(v, pad), axis=1)
    return cs[:, 2 * half + 1 : 2 * half + 1 + c] - cs[:, :c]


def _check(x, size, alpha, beta, k):
    if not isinstance(x, np.ndarray) or x.ndim < 2:
        raise ValueError(
            "x must be a NumPy array of shape (N, C, ...) with channels on axis 1, got "
            f"{type(x).__name__} with shape {getattr(x, 'shape', None)}"
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"x must be a float array (float32 or float64), got dtype {x.dtype}")
    integer("size (the paper's n)", size, 1)
    if not (alpha >= 0 and beta >= 0 and k > 0):
        raise ValueError(
            f"need alpha >= 0, beta >= 0 and k > 0 (the paper: alpha=1e-4, beta=0.75, k=2), got "
            f"{alpha=}, {beta=}, {k=}"
        )
