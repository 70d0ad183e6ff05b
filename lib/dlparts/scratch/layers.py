"""The fully connected (affine) layer and the ReLU from scratch in NumPy, CS231n style.

Each layer is a pair: ``*_forward(...) -> (out, cache)`` and ``*_backward(dout, cache)``.
float32 and float64 both work and keep their dtype (an integer input is computed in float64).

The affine layer flattens each sample, so it can sit directly on a convolutional feature map::

    out = x.reshape(N, D) @ w + b,     dx = dout @ w.T,     dw = x2d.T @ dout,     db = sum(dout)

with ``D = d1 * d2 * ...`` the size of one sample. (PyTorch's ``nn.Linear`` stores the
transpose, ``weight`` of shape ``(M, D)``, and computes ``x @ weight.T + bias``.)
"""

from __future__ import annotations

import numpy as np

__all__ = ["affine_forward", "affine_backward", "relu_forward", "relu_backward"]


def affine_forward(x, w, b):
    """A fully connected layer: ``out = x.reshape(N, D) @ w + b``.

    Shapes:
        x: ``(N, d1, ..., dk)`` (each sample flattened to ``D = d1 * ... * dk`` values; a plain
        ``(N, D)`` matrix works too), w: ``(D, M)``, b: ``(M,)`` -> out: ``(N, M)``.

    Returns:
        ``(out, cache)``; ``out`` in the common floating dtype of ``x``, ``w`` and ``b``.

    Raises:
        ValueError: when ``x`` has no sample axis, ``w`` is not a matrix, one sample of ``x`` does
            not hold ``w.shape[0]`` values, or ``b`` is not ``(M,)``.
    """
    x, w, b = _float(x), _float(w), _float(b)
    if x.ndim < 1:
        raise ValueError(
            f"x must have a leading sample axis, shape (N, d1, ...), got a scalar {x.shape}."
        )
    if w.ndim != 2:
        raise ValueError(f"w must be a (D, M) matrix, got shape {w.shape}.")
    n = x.shape[0]
    d = int(np.prod(x.shape[1:], dtype=np.int64))
    if d != w.shape[0]:
        raise ValueError(
            f"each sample of x (shape {x.shape}) flattens to D = {d} values, but w has shape "
            f"{w.shape}, so expects D = {w.shape[0]}; w must be ({d}, M)."
        )
    if b.shape != (w.shape[1],):
        raise ValueError(
            f"b must have shape ({w.shape[1]},), one bias per output of w {w.shape}; got {b.shape}."
        )
    dt = np.result_type(x.dtype, w.dtype, b.dtype)
    x2 = x.reshape(n, d).astype(dt, copy=False)
    w = w.astype(dt, copy=False)
    out = x2 @ w + b.astype(dt, copy=False)
    return out, (x.shape, x2, w)


def affine_backward(dout, cache):
    """Backward pass of :func:`affine_forward`.

    Shapes:
        dout: ``(N, M)`` -> dx: ``(N, d1, ..., dk)`` (the shape of the forward's ``x``),
        dw: ``(D, M)``, db: ``(M,)``.

    ``dx = dout @ w.T`` reshaped back, ``dw = x2d.T @ dout``, ``db = dout.sum(axis=0)``.
    """
    x_shape, x2, w = cache
    dout = np.asarray(dout, dtype=w.dtype)
    expected = (x2.shape[0], w.shape[1])
    if dout.shape != expected:
        raise ValueError(
            f"dout must have the forward output's shape (N, M) = {expected}, got {dout.shape}."
        )
    dx = (dout @ w.T).reshape(x_shape)
    dw = x2.T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    """The rectified linear unit, ``out = max(0, x)`` element-wise.

    Shapes: x of any shape -> out of the same shape and dtype; the cache is ``x``.
    """
    x = _float(x)
    return np.maximum(x, x.dtype.type(0)), x


def relu_backward(dout, cache):
    """Backward pass of :func:`relu_forward`: ``dx = dout * (x > 0)``.

    At ``x == 0`` the subgradient 0 is used, as in PyTorch.
    """
    x = cache
    dout = np.asarray(dout)
    if dout.shape != x.shape:
        raise ValueError(
            f"dout must have the forward input's shape {x.shape}, got {dout.shape}; pass the "
            "cache that relu_forward returned for this very input."
        )
    return np.where(x > 0, dout, 0).astype(x.dtype, copy=False)


# --------------------------------------------------------------------------- private helpers


def _float(a):
    a = np.asarray(a)
    return a if np.issubdtype(a.dtype, np.floating) else a.astype(np.float64)
