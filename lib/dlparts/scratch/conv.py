"""Convolution and max pooling from scratch in NumPy: loops, then im2col and matrix products.

Three ways to compute the same convolution, from slowest to fastest:

- :func:`conv2d_naive`: four Python loops (sample, filter, output row, output column), each
  step one dot product over a ``C x F x F`` window. Easy to read and to trust.
- :func:`conv2d_vectorized`: a direct convolution with the loops turned inside out: only the
  ``F x F`` kernel taps are a Python loop; each tap shifts the whole batch and adds one small
  matrix product over the channels. No unrolling. The fair baseline for im2col.
- :func:`conv2d_forward` / :func:`conv2d_backward`: **im2col**. Copy every window into a column
  of a matrix, and the convolution becomes one matrix product, run by BLAS (Chellapilla, Puri
  and Simard, 2006). With ``X`` the unrolled input (one row per output pixel), ``W`` the filters
  (one column per filter) and ``Y`` the output::

      Y = X W,        dX = dY W^T,        dW = X^T dY,

  and :func:`col2im` folds ``dX`` back onto the image, adding where windows overlap.
  (This module stores the transposes, ``X^T`` with one *column* per output pixel, so each
  sample's output comes out already in NCHW order; the products are the same.)

Arrays are NCHW. float32 and float64 both work and keep their dtype. ``stride``, ``padding``
and ``dilation`` are ints or ``(h, w)`` pairs; a stride that does not tile the input is floored
as PyTorch does (the last rows/columns are never visited and get zero gradient).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .._validate import pair as _pair
from ..arith import conv_output_size
from ..runtime import limit_threads  # noqa: F401  (re-exported: timing cells use it)

__all__ = [
    "conv2d_naive",
    "conv2d_vectorized",
    "conv2d_forward",
    "conv2d_backward",
    "im2col",
    "col2im",
    "maxpool2d_forward",
    "maxpool2d_backward",
    "limit_threads",
]


# --------------------------------------------------------------------------- checks


def _float_dtype(*arrays):
    dt = np.result_type(*[a.dtype for a in arrays if a is not None])
    return dt if np.issubdtype(dt, np.floating) else np.dtype(np.float64)


def _check_conv(x, w, b, stride, padding, dilation):
    x = np.asarray(x)
    w = np.asarray(w)
    if x.ndim != 4:
        raise ValueError(f"x must be NCHW (4 dimensions), got shape {x.shape}.")
    if w.ndim != 4:
        raise ValueError(f"w must be (out_channels, in_channels, kh, kw), got shape {w.shape}.")
    if x.shape[1] != w.shape[1]:
        raise ValueError(
            f"Channel mismatch: x has shape {x.shape} ({x.shape[1]} channels) but w has shape "
            f"{w.shape} (filters over {w.shape[1]} channels); w.shape[1] must equal x.shape[1]."
        )
    if b is not None:
        b = np.asarray(b)
        if b.shape != (w.shape[0],):
            raise ValueError(
                f"b must have shape ({w.shape[0]},), one bias per filter of w {w.shape}; "
                f"got {b.shape}."
            )
    dt = _float_dtype(x, w, b)
    x, w = x.astype(dt, copy=False), w.astype(dt, copy=False)
    b = None if b is None else b.astype(dt, copy=False)
    s = _pair("stride", stride, 1)
    p = _pair("padding", padding, 0)
    d = _pair("dilation", dilation, 1)
    oh = conv_output_size(x.shape[2], w.shape[2], s[0], p[0], d[0], exact=False)
    ow = conv_output_size(x.shape[3], w.shape[3], s[1], p[1], d[1], exact=False)
    return x, w, b, s, p, d, (oh, ow)


def _pad(x, p):
    if p == (0, 0):
        return x
    return np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))


def _windows(xp, kh, kw, s, d, oh, ow):
    """A read-only strided view ``(N, C, kh, kw, oh, ow)`` of every window of padded ``xp``."""
    sn, sc, sh, sw = xp.strides
    return as_strided(
        xp,
        shape=(xp.shape[0], xp.shape[1], kh, kw, oh, ow),
        strides=(sn, sc, sh * d[0], sw * d[1], sh * s[0], sw * s[1]),
        writeable=False,
    )


# --------------------------------------------------------------------------- naive and vectorized


def conv2d_naive(x, w, b, stride=1, padding=0, dilation=1):
    """Convolution (really cross-correlation, as in every framework) with four Python loops.

    Shapes:
        x: ``(N, C, H, W)``, w: ``(K, C, kh, kw)``, b: ``(K,)`` or None
        -> out: ``(N, K, H2, W2)``, ``H2 = (H + 2p - d(kh - 1) - 1) // s + 1``.

    Raises:
        ValueError: for mismatched channels (naming both shapes), bad shapes or hyperparameters.
    """
    x, w, b, s, p, d, (oh, ow) = _check_conv(x, w, b, stride, padding, dilation)
    n, _, _, _ = x.shape
    k, _, kh, kw = w.shape
    xp = _pad(x, p)
    out = np.zeros((n, k, oh, ow), dtype=x.dtype)
    for i in range(n):  # every sample
        for f in range(k):  # every filter
            for r in range(oh):  # every output row
                for c in range(ow):  # every output column
                    r0, c0 = r * s[0], c * s[1]
                    window = xp[i, :, r0 : r0 + d[0] * (kh - 1) + 1 : d[0],
                                c0 : c0 + d[1] * (kw - 1) + 1 : d[1]]  # fmt: skip
                    out[i, f, r, c] = np.sum(window * w[f])
            if b is not None:
                out[i, f] += b[f]
    return out


def conv2d_vectorized(x, w, b, stride=1, padding=0, dilation=1):
    """Convolution by sliding the whole input under each kernel tap: ``kh*kw`` vectorized steps.

    Same arguments and result as :func:`conv2d_naive`. Instead of looping over output pixels,
    loop over the ``kh*kw`` kernel offsets ``(i, j)``: for each, take the shifted (strided) view
    of the input that tap ``(i, j)`` sees at every output pixel, and add
    ``w[:, :, i, j] @ shifted`` (a ``K x C`` matrix times a ``C x N*H2*W2`` one) to the output.
    No window is unrolled; the only Python loop is over the kernel's ``kh*kw`` taps. This is the
    strong "direct convolution" baseline that im2col must beat.
    """
    x, w, b, s, p, d, (oh, ow) = _check_conv(x, w, b, stride, padding, dilation)
    n, c = x.shape[:2]
    k, _, kh, kw = w.shape
    xt = _pad(x, p).transpose(1, 0, 2, 3)  # (C, N, Hp, Wp), a view
    out = np.zeros((k, n * oh * ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * d[0], j * d[1]
            shifted = xt[:, :, r0 : r0 + s[0] * (oh - 1) + 1 : s[0],
                         c0 : c0 + s[1] * (ow - 1) + 1 : s[1]]  # fmt: skip
            out += w[:, :, i, j] @ shifted.reshape(c, -1)
    if b is not None:
        out += b[:, None]
    return out.reshape(k, n, oh, ow).transpose(1, 0, 2, 3).copy()


# --------------------------------------------------------------------------- im2col


def im2col(x, kh, kw, stride=1, padding=0, dilation=1):
    """Unroll every ``C x kh x kw`` window of ``x`` into a column: the paper's ``X``, transposed.

    Shapes:
        x: ``(N, C, H, W)`` -> cols: ``(C*kh*kw, N*H2*W2)``. Column ``(n*H2 + h2)*W2 + w2``
        holds the window that output pixel ``(h2, w2)`` of sample ``n`` sees, in ``(c, i, j)``
        order, the same order as ``w.reshape(K, -1)``. One strided view, one copy.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must be NCHW (4 dimensions), got shape {x.shape}.")
    kh, kw = _pair("kernel", (kh, kw), 1)
    s, p = _pair("stride", stride, 1), _pair("padding", padding, 0)
    d = _pair("dilation", dilation, 1)
    oh = conv_output_size(x.shape[2], kh, s[0], p[0], d[0], exact=False)
    ow = conv_output_size(x.shape[3], kw, s[1], p[1], d[1], exact=False)
    win = _windows(_pad(x, p), kh, kw, s, d, oh, ow)  # (N, C, kh, kw, H2, W2), a view
    n, c = x.shape[:2]
    return win.transpose(1, 2, 3, 0, 4, 5).reshape(c * kh * kw, n * oh * ow)  # the one copy


def col2im(cols, x_shape, kh, kw, stride=1, padding=0, dilation=1):
    """Fold columns back onto the image, adding where windows overlap (the adjoint of im2col).

    Shapes:
        cols: ``(C*kh*kw, N*H2*W2)`` -> ``(N, C, H, W)`` (the padding is cropped away).

    One strided add per kernel offset ``(i, j)``: ``kh*kw`` vectorized adds in all, never a loop
    over pixels. Applied to ``dY W^T`` it gives the gradient with respect to the input.
    """
    n, c, h, w_ = x_shape
    kh, kw = _pair("kernel", (kh, kw), 1)
    s, p = _pair("stride", stride, 1), _pair("padding", padding, 0)
    d = _pair("dilation", dilation, 1)
    oh = conv_output_size(h, kh, s[0], p[0], d[0], exact=False)
    ow = conv_output_size(w_, kw, s[1], p[1], d[1], exact=False)
    cols = np.asarray(cols)
    if cols.shape != (c * kh * kw, n * oh * ow):
        raise ValueError(
            f"cols must have shape {(c * kh * kw, n * oh * ow)} for x_shape {tuple(x_shape)} "
            f"and a {kh}x{kw} kernel, got {cols.shape}."
        )
    cols = cols.reshape(c, kh, kw, n, oh, ow)
    xp = np.zeros((c, n, h + 2 * p[0], w_ + 2 * p[1]), dtype=cols.dtype)  # channel-major
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * d[0], j * d[1]
            rows = slice(r0, r0 + s[0] * (oh - 1) + 1, s[0])
            colz = slice(c0, c0 + s[1] * (ow - 1) + 1, s[1])
            xp[:, :, rows, colz] += cols[:, i, j]
    return xp[:, :, p[0] : p[0] + h, p[1] : p[1] + w_].transpose(1, 0, 2, 3).copy()


def conv2d_forward(x, w, b, stride=1, padding=0, dilation=1):
    """Convolution as im2col and one matrix product (BLAS).

    Shapes:
        x: ``(N, C, H, W)``, w: ``(K, C, kh, kw)``, b: ``(K,)`` or None
        -> out: ``(N, K, H2, W2)`` and a cache for :func:`conv2d_backward`.

    ``out = W2d @ cols`` with ``W2d = w.reshape(K, C*kh*kw)``: the paper's ``Y = X W``, transposed
    (``Y^T = W^T X^T``), then reordered from ``(K, N, H2, W2)`` to NCHW.
    """
    x, w, b, s, p, d, (oh, ow) = _check_conv(x, w, b, stride, padding, dilation)
    n = x.shape[0]
    k, _, kh, kw = w.shape
    cols = im2col(x, kh, kw, s, p, d)  # X^T: (C*kh*kw, N*H2*W2)
    out = w.reshape(k, -1) @ cols  # Y^T: (K, N*H2*W2), the one matrix product
    if b is not None:
        out += b[:, None]
    out = out.reshape(k, n, oh, ow).transpose(1, 0, 2, 3).copy()
    cache = (x.shape, w, b is not None, cols, s, p, d)
    return out, cache


def conv2d_backward(dout, cache):
    """Backward pass of :func:`conv2d_forward`: two more matrix products and a fold.

    Shapes:
        dout: ``(N, K, H2, W2)`` -> dx ``(N, C, H, W)``, dw ``(K, C, kh, kw)``, db ``(K,)``
        (``db`` is None when the forward pass had no bias).

    In the paper's notation, with ``X`` the unrolled input: ``dW = X^T dY`` and ``dX = dY W^T``;
    ``dx = col2im(dX)``. Here both products are computed transposed, on ``cols = X^T``.
    """
    x_shape, w, has_bias, cols, s, p, d = cache
    k, c, kh, kw = w.shape
    n = x_shape[0]
    dout = np.asarray(dout, dtype=w.dtype)
    if (
        dout.ndim != 4
        or dout.shape[:2] != (n, k)
        or n * dout.shape[2] * dout.shape[3] != cols.shape[1]
    ):
        raise ValueError(
            f"dout must have the forward output's shape (N={n}, K={k}, H2, W2), with "
            f"N*H2*W2={cols.shape[1]}; got {dout.shape}."
        )
    dy = dout.transpose(1, 0, 2, 3).reshape(k, -1)  # dY^T: (K, N*H2*W2)
    db = dy.sum(axis=1) if has_bias else None
    w2 = w.reshape(k, -1)
    dw = dy @ cols.T  # (X^T dY)^T = dY^T X: (K, C*kh*kw)
    dcols = w2.T @ dy  # (dY W^T)^T = W dY^T: (C*kh*kw, N*H2*W2)
    dx = col2im(dcols, x_shape, kh, kw, s, p, d)
    return dx, dw.reshape(w.shape), db


# --------------------------------------------------------------------------- max pooling


def maxpool2d_forward(x, kernel, stride=None):
    """Max pooling over ``kernel x kernel`` windows (``stride`` defaults to ``kernel``).

    Shapes:
        x: ``(N, C, H, W)`` -> out: ``(N, C, H2, W2)``, ``H2 = (H - k) // s + 1``, and a cache.

    Overlapping windows (AlexNet's 3x3 at stride 2) are fine. No parameters. Ties go to the
    first maximum in row-major order, as in PyTorch.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must be NCHW (4 dimensions), got shape {x.shape}.")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    kh, kw = _pair("kernel", kernel, 1)
    s = _pair("stride", (kh, kw) if stride is None else stride, 1)
    oh = conv_output_size(x.shape[2], kh, s[0], exact=False)
    ow = conv_output_size(x.shape[3], kw, s[1], exact=False)
    win = _windows(x, kh, kw, s, (1, 1), oh, ow)  # (N, C, kh, kw, OH, OW)
    flat = win.reshape(x.shape[0], x.shape[1], kh * kw, oh, ow)
    arg = flat.argmax(axis=2)  # (N, C, OH, OW)
    out = np.take_along_axis(flat, arg[:, :, None], axis=2)[:, :, 0]
    return out, (x.shape, x.dtype, arg, (kh, kw), s)


def maxpool2d_backward(dout, cache):
    """Backward pass of :func:`maxpool2d_forward`: each gradient goes to its window's maximum.

    Shapes: dout ``(N, C, H2, W2)`` -> dx ``(N, C, H, W)``; overlapping windows add up.
    """
    x_shape, dtype, arg, (kh, kw), s = cache
    dout = np.asarray(dout, dtype=dtype)
    if dout.shape != arg.shape:
        raise ValueError(
            f"dout must have the forward output's shape {arg.shape}, got {dout.shape}."
        )
    oh, ow = arg.shape[2:]
    dx = np.zeros(x_shape, dtype=dtype)
    for i in range(kh):
        for j in range(kw):
            hit = arg == i * kw + j
            dx[:, :, i : i + s[0] * (oh - 1) + 1 : s[0], j : j + s[1] * (ow - 1) + 1 : s[1]] += (
                np.where(hit, dout, 0)
            )
    return dx


# --------------------------------------------------------------------------- timing helper
