"""Convolution, max pooling and average pooling from scratch in NumPy: loops, then im2col.

Three ways to compute the same convolution, from slowest to fastest:

- :func:`conv2d_naive`: four Python loops (sample, filter, output row, output column), each
  step one dot product over a ``C x F x F`` window. Easy to read and to trust. No BLAS.
- :func:`conv2d_vectorized`: a direct convolution with the loops turned inside out: only the
  ``F x F`` kernel taps are a Python loop; each tap shifts the whole batch and adds one thin
  matrix product over the channels (inner dimension ``C``). No unrolling, ``F*F`` BLAS calls.
- :func:`conv2d_forward` / :func:`conv2d_backward`: **im2col**. Copy every window into a column
  of a matrix, and the convolution becomes one matrix product, run by BLAS (Chellapilla, Puri
  and Simard, 2006). With ``X`` the unrolled input (one row per output pixel), ``W`` the filters
  (one column per filter) and ``Y`` the output::

      Y = X W,        dX = dY W^T,        dW = X^T dY,

  and :func:`col2im` folds ``dX`` back onto the image, adding where windows overlap.

(This module stores the transposes, ``X^T`` with one *column* per output pixel; the products
are the same.) On a CPU the matrix product is the floor: what im2col costs beyond it is the one
copy that unrolls the windows, the reordering of the output to NCHW, and in the backward pass
the fold. ``benchmarks/bench_conv.py`` measures each against the plain product.

Arrays are NCHW. float32 and float64 both work and keep their dtype. ``stride``, ``padding``
and ``dilation`` are ints or ``(h, w)`` pairs; a stride that does not tile the input is floored
as PyTorch does (the last rows/columns are never visited and get zero gradient).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .._validate import pair as _pair
from ..arith import conv_output_size, pool_output_size
from ..runtime import blas_threads

__all__ = [
    "conv2d_naive",
    "conv2d_vectorized",
    "conv2d_naive_backward",
    "conv2d_vectorized_backward",
    "conv2d_forward",
    "conv2d_backward",
    "im2col",
    "col2im",
    "maxpool2d_forward",
    "maxpool2d_backward",
    "avgpool2d_forward",
    "avgpool2d_backward",
]

# The backward pass makes dX^T a chunk of samples at a time, with at least this many columns.
_GEMM_COLUMNS = 1024
# Copies and folds of at least this many elements are split over NumPy's BLAS threads.
_PARALLEL_MIN = 1 << 18
_POOL = None  # (pid, ThreadPoolExecutor), made on first use

# --------------------------------------------------------------------------- convolution


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
    strong "direct convolution" baseline: it already uses BLAS, so against it im2col gains only
    what one large product (inner dimension ``C*kh*kw``) has over ``kh*kw`` thin ones.
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


def conv2d_naive_backward(dout, x, w, stride=1, padding=0, dilation=1):
    """Backward pass of :func:`conv2d_naive` with the same four loops: no BLAS, no unrolling.

    Shapes:
        dout ``(N, K, H2, W2)``, x ``(N, C, H, W)``, w ``(K, C, kh, kw)``
        -> dx ``(N, C, H, W)``, dw ``(K, C, kh, kw)``, db ``(K,)``.

    Each output value's gradient goes back to the window it came from: ``dw[k] += g * window``
    and ``dx[window] += g * w[k]``. The baseline without BLAS for a training step.
    """
    x, w, _, s, p, d, (oh, ow) = _check_conv(x, w, None, stride, padding, dilation)
    dout = _check_dout(dout, (x.shape[0], w.shape[0], oh, ow), x.dtype)
    n, k, kh, kw = x.shape[0], w.shape[0], w.shape[2], w.shape[3]
    xp = _pad(x, p)
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(n):
        for f in range(k):
            for r in range(oh):
                for c in range(ow):
                    rows = slice(r * s[0], r * s[0] + d[0] * (kh - 1) + 1, d[0])
                    cols = slice(c * s[1], c * s[1] + d[1] * (kw - 1) + 1, d[1])
                    g = dout[i, f, r, c]
                    dw[f] += g * xp[i, :, rows, cols]
                    dxp[i, :, rows, cols] += g * w[f]
    return _crop(dxp, p, *x.shape[2:]), dw, dout.sum(axis=(0, 2, 3))


def conv2d_vectorized_backward(dout, x, w, stride=1, padding=0, dilation=1):
    """Backward pass of :func:`conv2d_vectorized`: two thin matrix products per kernel tap.

    Shapes as :func:`conv2d_naive_backward`. For each tap ``(i, j)``, with ``shifted`` the view
    of the input that the tap sees: ``dw[:, :, i, j] = dY^T shifted^T`` and the shifted part of
    ``dx`` gets ``w[:, :, i, j]^T dY^T``; ``2*kh*kw`` BLAS calls with inner dimension ``C`` or
    ``N*H2*W2``, never one large product.
    """
    x, w, _, s, p, d, (oh, ow) = _check_conv(x, w, None, stride, padding, dilation)
    dout = _check_dout(dout, (x.shape[0], w.shape[0], oh, ow), x.dtype)
    n, c = x.shape[:2]
    k, _, kh, kw = w.shape
    xt = _pad(x, p).transpose(1, 0, 2, 3)  # (C, N, Hp, Wp), a view
    dy = dout.transpose(1, 0, 2, 3).reshape(k, -1)  # (K, N*H2*W2)
    dxt = np.zeros(xt.shape, dtype=x.dtype)
    dw = np.empty_like(w)
    for i in range(kh):
        for j in range(kw):
            rows, cols = _taps(i * d[0], s[0], oh), _taps(j * d[1], s[1], ow)
            dw[:, :, i, j] = dy @ xt[:, :, rows, cols].reshape(c, -1).T
            dxt[:, :, rows, cols] += (w[:, :, i, j].T @ dy).reshape(c, n, oh, ow)
    dx = _crop(dxt.transpose(1, 0, 2, 3), p, *x.shape[2:])
    return np.ascontiguousarray(dx), dw, dy.sum(axis=1)


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
    return _unroll(_windows(_pad(x, p), kh, kw, s, d, oh, ow))  # a strided view, one copy


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
    per_sample = cols.reshape(c, kh, kw, n, oh, ow).transpose(3, 0, 1, 2, 4, 5)  # a view
    xp = np.zeros((n, c, h + 2 * p[0], w_ + 2 * p[1]), dtype=cols.dtype)
    _fold(per_sample, xp, s, d)
    return _crop(xp, p, h, w_)


def conv2d_forward(x, w, b, stride=1, padding=0, dilation=1):
    """Convolution as im2col and one matrix product (BLAS).

    Shapes:
        x: ``(N, C, H, W)``, w: ``(K, C, kh, kw)``, b: ``(K,)`` or None
        -> out: ``(N, K, H2, W2)`` and a cache for :func:`conv2d_backward`.

    ``out = W2d @ cols`` with ``W2d = w.reshape(K, C*kh*kw)`` and ``cols = im2col(x)``: the
    paper's ``Y = X W``, transposed (``Y^T = W^T X^T``), then reordered from ``(K, N, H2, W2)``
    to NCHW. One product for the whole batch: split into one per sample, each would be too thin
    for BLAS to run near its best (AlexNet's conv3 has only 13x13 pixels per sample).

    Raises:
        ValueError: for mismatched channels (naming both shapes), bad shapes or hyperparameters.
    """
    x, w, b, s, p, d, (oh, ow) = _check_conv(x, w, b, stride, padding, dilation)
    n = x.shape[0]
    k, _, kh, kw = w.shape
    cols = _unroll(_windows(_pad(x, p), kh, kw, s, d, oh, ow))  # X^T: (C*kh*kw, N*H2*W2)
    prod = w.reshape(k, -1) @ cols  # Y^T: (K, N*H2*W2), the one matrix product
    out = np.empty((n, k, oh, ow), dtype=x.dtype)
    out[...] = prod.reshape(k, n, oh, ow).transpose(1, 0, 2, 3)  # to NCHW
    if b is not None:
        out += b[:, None, None]
    cache = (x.shape, w, b is not None, cols, s, p, d, (oh, ow))
    return out, cache


def conv2d_backward(dout, cache):
    """Backward pass of :func:`conv2d_forward`: two more matrix products and a fold.

    Shapes:
        dout: ``(N, K, H2, W2)`` -> dx ``(N, C, H, W)``, dw ``(K, C, kh, kw)``, db ``(K,)``
        (``db`` is None when the forward pass had no bias).

    In the paper's notation, with ``X`` the unrolled input: ``dW = X^T dY`` and ``dX = dY W^T``;
    ``dx = col2im(dX)``. Here both products are computed transposed, on the cached
    ``cols = X^T``: ``dW^T = dY^T X`` and ``dX^T = W2d^T dY^T``. ``dX^T`` is as large as the
    unrolled input, so it is made a few samples at a time (at least ``_GEMM_COLUMNS`` columns,
    enough for BLAS to run well) in one reused buffer, each chunk folded while it is in the cache.
    """
    x_shape, w, has_bias, cols, s, p, d, (oh, ow) = cache
    k, c, kh, kw = w.shape
    n, _, h, w_ = x_shape
    dout = _check_dout(dout, (n, k, oh, ow), w.dtype)
    dy = np.empty((k, n, oh, ow), dtype=w.dtype)
    dy[...] = dout.transpose(1, 0, 2, 3)
    dy = dy.reshape(k, -1)  # dY^T: (K, N*H2*W2)
    db = dy.sum(axis=1) if has_bias else None
    w2d = w.reshape(k, -1)
    dw = dy @ cols.T  # dW^T = dY^T X: (K, C*kh*kw); BLAS reads cols transposed, no copy
    dxp = np.zeros((n, c, h + 2 * p[0], w_ + 2 * p[1]), dtype=w.dtype)
    pixels = oh * ow
    g = min(n, -(-_GEMM_COLUMNS // pixels))  # samples per chunk of dX^T
    buf = np.empty((c * kh * kw, g * pixels), dtype=w.dtype)
    for i0 in range(0, n, g):  # dX^T = W2d^T dY^T, a chunk of samples at a time, then folded
        i1 = min(n, i0 + g)
        dcols = buf[:, : (i1 - i0) * pixels]
        if i1 - i0 < g:
            dcols = np.empty(dcols.shape, dtype=w.dtype)
        np.matmul(w2d.T, dy[:, i0 * pixels : i1 * pixels], out=dcols)
        _fold(dcols.reshape(c, kh, kw, i1 - i0, oh, ow).transpose(3, 0, 1, 2, 4, 5),
              dxp[i0:i1], s, d)  # fmt: skip
    return _crop(dxp, p, h, w_), dw.reshape(w.shape), db


# --------------------------------------------------------------------------- pooling


def maxpool2d_forward(x, kernel, stride=None, padding=0):
    """Max pooling over ``kernel x kernel`` windows (``stride`` defaults to ``kernel``).

    Shapes:
        x: ``(N, C, H, W)`` -> out: ``(N, C, H2, W2)``, ``H2 = (H + 2p - k) // s + 1``, and a
        cache.

    ``padding`` pads with ``-inf``, as PyTorch does, so a padded position never wins; like
    PyTorch it must be at most half the window (``2p <= k``), so that no window lies wholly in
    the padding. Overlapping windows (AlexNet's 3x3 at stride 2) are fine. No parameters. Ties
    go to the first maximum in row-major order, as in PyTorch.

    Raises:
        ValueError: for a non-4-D ``x``, a window larger than the padded input, or padding more
            than half the window.
    """
    x, (kh, kw), s, p, (oh, ow) = _check_pool(x, kernel, stride, padding)
    xp = _pad(x, p, value=-np.inf)
    win = _windows(xp, kh, kw, s, (1, 1), oh, ow)  # (N, C, kh, kw, OH, OW)
    flat = win.reshape(x.shape[0], x.shape[1], kh * kw, oh, ow)
    arg = flat.argmax(axis=2)  # (N, C, OH, OW)
    out = np.take_along_axis(flat, arg[:, :, None], axis=2)[:, :, 0]
    return out, (x.shape, x.dtype, arg, (kh, kw), s, p)


def maxpool2d_backward(dout, cache):
    """Backward pass of :func:`maxpool2d_forward`: each gradient goes to its window's maximum.

    Shapes: dout ``(N, C, H2, W2)`` -> dx ``(N, C, H, W)``; overlapping windows add up.
    """
    x_shape, dtype, arg, (kh, kw), s, p = cache
    dout = _check_dout(dout, arg.shape, dtype)
    oh, ow = arg.shape[2:]
    n, c, h, w_ = x_shape
    dxp = np.zeros((n, c, h + 2 * p[0], w_ + 2 * p[1]), dtype=dtype)
    for i in range(kh):
        for j in range(kw):
            hit = arg == i * kw + j
            dxp[:, :, _taps(i, s[0], oh), _taps(j, s[1], ow)] += np.where(hit, dout, 0)
    return _crop(dxp, p, h, w_)


def avgpool2d_forward(x, size, stride=None, padding=0):
    """Average pooling over ``size x size`` windows (``stride`` defaults to ``size``).

    Shapes:
        x: ``(N, C, H, W)`` -> out: ``(N, C, H2, W2)``, ``H2 = (H + 2p - k) // s + 1``, and a
        cache.

    ``padding`` pads with zeros and every window is divided by its full size ``kh*kw``, padded
    positions included: PyTorch's default ``F.avg_pool2d(..., count_include_pad=True)``. (With
    ``count_include_pad=False`` a border window would be divided by its real pixels only.)
    As in PyTorch, ``padding`` must be at most half the window. The sum is ``kh*kw`` strided adds
    over the whole batch, never a loop over pixels.

    Raises:
        ValueError: for a non-4-D ``x``, a window larger than the padded input, or padding more
            than half the window.
    """
    x, (kh, kw), s, p, (oh, ow) = _check_pool(x, size, stride, padding, name="size")
    xp = _pad(x, p)
    out = np.zeros((*x.shape[:2], oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            out += xp[:, :, _taps(i, s[0], oh), _taps(j, s[1], ow)]
    out /= kh * kw
    return out, (x.shape, x.dtype, (kh, kw), s, p, (oh, ow))


def avgpool2d_backward(dout, cache):
    """Backward pass of :func:`avgpool2d_forward`: each gradient is spread evenly over its window.

    Shapes: dout ``(N, C, H2, W2)`` -> dx ``(N, C, H, W)``; overlapping windows add up, and the
    share that falls on the padding is dropped.
    """
    x_shape, dtype, (kh, kw), s, p, (oh, ow) = cache
    n, c, h, w_ = x_shape
    dout = _check_dout(dout, (n, c, oh, ow), dtype)
    share = dout / (kh * kw)
    dxp = np.zeros((n, c, h + 2 * p[0], w_ + 2 * p[1]), dtype=dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, _taps(i, s[0], oh), _taps(j, s[1], ow)] += share
    return _crop(dxp, p, h, w_)


# --------------------------------------------------------------------------- private helpers


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


def _check_dout(dout, shape, dtype):
    dout = np.asarray(dout, dtype=dtype)
    if dout.shape != tuple(shape):
        raise ValueError(
            f"dout must have the forward output's shape {tuple(shape)}, got {dout.shape}."
        )
    return dout


def _pad(x, p, value=0):
    if p == (0, 0):
        return x
    return np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=value)


def _windows(xp, kh, kw, s, d, oh, ow):
    """A read-only strided view ``(N, C, kh, kw, oh, ow)`` of every window of padded ``xp``."""
    sn, sc, sh, sw = xp.strides
    return as_strided(
        xp,
        shape=(xp.shape[0], xp.shape[1], kh, kw, oh, ow),
        strides=(sn, sc, sh * d[0], sw * d[1], sh * s[0], sw * s[1]),
        writeable=False,
    )


def _check_pool(x, kernel, stride, padding, name="kernel"):
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must be NCHW (4 dimensions), got shape {x.shape}.")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    k = _pair(name, kernel, 1)
    s = _pair("stride", k if stride is None else stride, 1)
    p = _pair("padding", padding, 0)
    oh, ow = (pool_output_size(x.shape[2 + a], k[a], s[a], p[a], exact=False) for a in range(2))
    return x, k, s, p, (oh, ow)


def _taps(i, step, count):
    """The slice of a padded axis that kernel tap ``i`` sees at ``count`` outputs ``step`` apart."""
    return slice(i, i + step * (count - 1) + 1, step)


def _unroll(win):
    """im2col's one copy: window view ``(N, C, kh, kw, H2, W2)`` -> ``(C*kh*kw, N*H2*W2)``.

    The copy is split by channels over as many threads as NumPy's BLAS uses (NumPy releases
    the GIL while it copies), so that on two threads the copy does not take twice its share.
    """
    n, c, kh, kw, oh, ow = win.shape
    cols = np.empty((c * kh * kw, n * oh * ow), dtype=win.dtype)
    dst, src = cols.reshape(c, kh, kw, n, oh, ow), win.transpose(1, 2, 3, 0, 4, 5)
    _split(c, cols.size, lambda c0, c1: np.copyto(dst[c0:c1], src[c0:c1]))
    return cols


def _threads():
    """How many threads NumPy's BLAS runs on now, at most the machine's CPUs."""
    return max(1, min(blas_threads(), os.cpu_count() or 1))


def _split(count, size, work):
    """Run ``work(i0, i1)`` over ``range(count)`` in parts on :func:`_threads` threads."""
    t = min(_threads(), count) if size >= _PARALLEL_MIN else 1
    if t == 1:
        work(0, count)
        return
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():  # a forked child needs threads of its own
        _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=os.cpu_count() or 1))
    bounds = [count * i // t for i in range(t + 1)]
    futures = [_POOL[1].submit(work, a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    for f in futures:
        f.result()


def _fold(cols, xp, s, d):
    """Add per-sample windows ``cols`` ``(N, C, kh, kw, H2, W2)`` onto padded ``xp`` in place.

    Split by channels over :func:`_threads` threads, like :func:`_unroll`: each thread adds
    onto its own channels of ``xp``, so no two threads write the same pixel.
    """
    kh, kw, oh, ow = cols.shape[2:]

    def work(c0, c1):
        for i in range(kh):
            for j in range(kw):
                rows, colz = _taps(i * d[0], s[0], oh), _taps(j * d[1], s[1], ow)
                xp[:, c0:c1, rows, colz] += cols[:, c0:c1, i, j]

    _split(cols.shape[1], cols.size, work)


def _crop(xp, p, h, w):
    """The image inside padded ``xp`` (a contiguous copy only when there is padding)."""
    if p == (0, 0):
        return xp
    return np.ascontiguousarray(xp[:, :, p[0] : p[0] + h, p[1] : p[1] + w])
