"""Batch normalization from scratch (Ioffe and Szegedy, 2015), in NumPy.

Training mode normalizes each feature (or each channel of an image batch) with the mini-batch's
mean and *biased* variance, then scales by ``gamma`` and shifts by ``beta``; it also updates the
running statistics in place, exactly as ``torch.nn.functional.batch_norm`` does::

    running_mean := momentum * batch_mean + (1 - momentum) * running_mean
    running_var  := momentum * batch_var_unbiased + (1 - momentum) * running_var

(PyTorch's ``momentum`` is the weight of the *new* value; the paper's moving average and
Keras's ``momentum`` weigh the old one.) Evaluation mode normalizes with the running statistics
and changes nothing.

Layer and group normalization, which take their statistics per example instead, are in
:mod:`dlparts.scratch.norm`, which also exports these two functions.

Shapes:
    x: ``(N, D)`` (a fully connected layer: statistics per feature over the ``N`` rows) or
    ``(N, C, H, W)`` (a convolutional layer: statistics per channel over ``N * H * W`` values).
    gamma, beta, running_mean, running_var: ``(D,)`` or ``(C,)``.
"""

from __future__ import annotations

import numpy as np

from .. import _validate


def batchnorm_forward(
    x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5, training=True
):
    """Batch normalization, forward pass.

    Args:
        x: ``(N, D)`` or ``(N, C, H, W)``.
        gamma, beta: scale and shift, ``(D,)`` or ``(C,)``.
        running_mean, running_var: ``(D,)`` or ``(C,)`` NumPy arrays, updated in place when
            ``training`` (PyTorch's rule; the variance update uses the unbiased estimate
            ``sum((x - mean)**2) / (m - 1)`` with ``m`` values per feature). ``None`` skips the
            update in training (PyTorch's ``track_running_stats=False``).
        momentum: weight of the batch statistic in the running average (PyTorch's convention).
        eps: added to the variance before the square root.
        training: batch statistics (True) or running statistics (False).

    Returns:
        ``(out, cache)``: ``out`` has the shape of ``x``; ``cache`` is for
        :func:`batchnorm_backward`.

    Raises:
        ValueError: for a 3-D (or other) input, parameters of the wrong length, or a training
            batch with a single value per feature/channel (its variance is undefined).
    """
    x = _check(x, gamma, beta, running_mean, running_var, momentum, eps, training)
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    bshape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)
    x = x.astype(dtype, copy=False)
    g = np.asarray(gamma, dtype=dtype).reshape(bshape)
    b = np.asarray(beta, dtype=dtype).reshape(bshape)
    if training:
        m = x.size // x.shape[1]
        mean = x.mean(axis=axes)
        xc = x - mean.reshape(bshape)
        var = (xc * xc).mean(axis=axes)  # biased: the variance of this batch
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += momentum * var * (m / (m - 1))  # unbiased, as PyTorch
    else:
        mean = np.asarray(running_mean, dtype=dtype)
        var = np.asarray(running_var, dtype=dtype)
        xc = x - mean.reshape(bshape)
    inv_std = (1.0 / np.sqrt(var + dtype.type(eps))).astype(dtype)
    xhat = xc * inv_std.reshape(bshape)
    out = g * xhat + b
    cache = {"xhat": xhat, "gamma": g, "inv_std": inv_std, "axes": axes, "bshape": bshape}
    cache["training"] = bool(training)
    return out, cache


def batchnorm_backward(dout, cache):
    """Batch normalization, backward pass.

    Args:
        dout: upstream gradient, the shape of the forward's ``x``.
        cache: from :func:`batchnorm_forward`.

    Returns:
        ``(dx, dgamma, dbeta)``: ``dx`` like ``x``; ``dgamma`` and ``dbeta`` ``(D,)`` or ``(C,)``.

    With ``xhat = (x - mean) * inv_std`` and ``m`` values per feature, the training-mode
    gradient (the batch mean and variance depend on ``x``) is::

        dx = gamma * inv_std / m * (m * dout - sum(dout) - xhat * sum(dout * xhat))

    In evaluation mode the statistics are constants, and ``dx = gamma * inv_std * dout``.
    """
    xhat, g, inv_std = cache["xhat"], cache["gamma"], cache["inv_std"]
    axes, bshape = cache["axes"], cache["bshape"]
    dout = np.asarray(dout, dtype=xhat.dtype)
    if dout.shape != xhat.shape:
        raise ValueError(f"dout must have the forward input's shape {xhat.shape}, got {dout.shape}")
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * xhat).sum(axis=axes)
    scale = g * inv_std.reshape(bshape)
    if not cache["training"]:
        return dout * scale, dgamma, dbeta
    m = xhat.size // xhat.shape[1]
    dx = scale / m * (m * dout - dbeta.reshape(bshape) - xhat * dgamma.reshape(bshape))
    return dx.astype(xhat.dtype, copy=False), dgamma, dbeta


# --------------------------------------------------------------------------- private helpers


def _check(x, gamma, beta, running_mean, running_var, momentum, eps, training):
    x = np.asarray(x)
    if x.ndim not in (2, 4):
        raise ValueError(
            f"batchnorm expects x of shape (N, D) or (N, C, H, W), got a {x.ndim}-D array of "
            f"shape {x.shape}; reshape a sequence (N, C, L) to (N, C, L, 1) "
            "or flatten it to (N, D)."
        )
    features = x.shape[1]
    expected = (features,)
    what = "D" if x.ndim == 2 else "C"
    for name, v in (
        ("gamma", gamma),
        ("beta", beta),
        ("running_mean", running_mean),
        ("running_var", running_var),
    ):
        if v is None:
            continue
        shape = np.shape(v)
        if shape != expected:
            raise ValueError(
                f"{name} must have shape ({what},) = {expected} for x of shape {x.shape} "
                f"(one value per {'feature' if x.ndim == 2 else 'channel'}), got {shape}."
            )
    for name, v in (("running_mean", running_mean), ("running_var", running_var)):
        if v is not None and not (isinstance(v, np.ndarray) and v.flags.writeable):
            raise ValueError(
                f"{name} must be a writable NumPy array (it is updated in place), "
                f"got {type(v).__name__}; pass np.zeros(C) / np.ones(C), or None to skip it."
            )
    # momentum: PyTorch's convention, the weight of the new batch in [0, 1]
    _validate.real("momentum", momentum, minimum=0.0, maximum=1.0)
    _validate.real("eps", eps, positive=True)  # it keeps 1/sqrt(var + eps) finite
    if training:
        m = x.size // features if features else 0
        if m <= 1:
            raise ValueError(
                f"batch normalization in training mode needs more than one value per "
                f"{'feature' if x.ndim == 2 else 'channel'} to estimate a variance, got x of "
                f"shape {x.shape} ({m} value per {'feature' if x.ndim == 2 else 'channel'}): "
                "the variance of a single number is 0 (biased) or undefined (unbiased, 0/0). "
                "Use a larger batch, or evaluation mode (training=False) with running statistics."
            )
    elif running_mean is None or running_var is None:
        raise ValueError(
            "evaluation mode (training=False) normalizes with running_mean and running_var; "
            "pass both arrays (they are updated during training)."
        )
    return x
