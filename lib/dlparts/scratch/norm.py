"""The normalization family from scratch, in NumPy: layer normalization (Ba, Kiros and Hinton,
2016) and group normalization (Wu and He, 2018), beside batch normalization (Ioffe and
Szegedy, 2015, in :mod:`dlparts.scratch.batchnorm`) and AlexNet's local response normalization
(:mod:`dlparts.scratch.lrn`), which this module also exports so that one import reaches the
whole family.

The four differ only in which values share a mean and a variance. For an image batch
``(N, C, H, W)``:

- batch norm: per channel, over ``N, H, W`` (depends on the other examples in the batch);
- layer norm: per example, over ``C, H, W`` (here: over every dimension but the batch one);
- group norm: per example and per group of ``C / G`` channels, over those channels and
  ``H, W``; ``G = 1`` is layer norm over ``C, H, W``, ``G = C`` is instance norm;
- LRN: per position, over ``n`` neighbouring channels, without subtracting a mean.

Layer and group norm use the same statistics in training and at test time, so they keep no
running averages, and a prediction never depends on the rest of its batch.

Every pair computes, with ``xhat = (x - mean) / sqrt(var + eps)`` (biased variance) over a set
of ``M`` values, the same backward as batch norm within each set::

    dxhat = dout * gamma
    dx = (M * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)) / (M * sqrt(var + eps))
"""

from __future__ import annotations

import numpy as np

from .. import _validate
from .batchnorm import batchnorm_backward, batchnorm_forward
from .lrn import lrn_backward, lrn_forward

__all__ = [
    "batchnorm_backward",
    "batchnorm_forward",
    "groupnorm_backward",
    "groupnorm_forward",
    "layernorm_backward",
    "layernorm_forward",
    "lrn_backward",
    "lrn_forward",
]


def layernorm_forward(x, gamma, beta, eps=1e-5):
    """Layer normalization, forward pass: each example normalized over all its values.

    The same as ``torch.nn.functional.layer_norm(x, x.shape[1:], gamma, beta, eps)``: for a
    fully connected layer ``(N, D)`` the statistics of each row over its ``D`` features, for an
    image batch ``(N, C, H, W)`` those of each image over ``C·H·W`` values.

    Args:
        x: ``(N, D)`` or ``(N, C, H, W)`` (any ``(N, ...)`` with at least one feature dimension).
        gamma, beta: scale and shift of the feature shape ``x.shape[1:]`` (one per value of an
            example, as PyTorch's ``elementwise_affine``).
        eps: added to the variance before the square root.

    Returns:
        ``(out, cache)``: ``out`` like ``x``; ``cache`` for :func:`layernorm_backward`.

    Raises:
        ValueError: for a 1-D ``x``, an example with a single value (its variance is 0),
            ``gamma``/``beta`` of another shape, a non-positive ``eps`` or non-finite ``x``.
    """
    x = _as_float(x)
    if x.ndim < 2:
        raise ValueError(
            f"layernorm expects x of shape (N, D) or (N, C, H, W), got shape {x.shape}; add a "
            "batch dimension with x[None]."
        )
    feat = x.shape[1:]
    if int(np.prod(feat)) < 2:
        raise ValueError(
            f"layer normalization needs at least two values per example, got x of shape "
            f"{x.shape}: the variance of one number is 0, so every output would be beta."
        )
    eps = _validate.real("eps", eps, positive=True)
    hint = "layer norm has one scale and one shift per value of an example (x.shape[1:])."
    g = _param("gamma", gamma, feat, x.dtype, hint)
    b = _param("beta", beta, feat, x.dtype, hint)
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=axes, keepdims=True)
    inv_std = (1.0 / np.sqrt(var + x.dtype.type(eps))).astype(x.dtype)
    xhat = xc * inv_std
    out = g * xhat + b
    return out, {"xhat": xhat, "inv_std": inv_std, "gamma": g, "axes": axes}


def layernorm_backward(dout, cache):
    """Layer normalization, backward pass.

    Args:
        dout: upstream gradient, the shape of the forward's ``x``.
        cache: from :func:`layernorm_forward`.

    Returns:
        ``(dx, dgamma, dbeta)``: ``dx`` like ``x``; ``dgamma``, ``dbeta`` of shape
        ``x.shape[1:]`` (sums over the batch).
    """
    xhat, inv_std, g, axes = cache["xhat"], cache["inv_std"], cache["gamma"], cache["axes"]
    dout = np.asarray(dout, dtype=xhat.dtype)
    if dout.shape != xhat.shape:
        raise ValueError(f"dout must have the forward input's shape {xhat.shape}, got {dout.shape}")
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dx = _normalize_backward(dout * g, xhat, inv_std, axes)
    return dx.astype(xhat.dtype, copy=False), dgamma, dbeta


def groupnorm_forward(x, gamma, beta, groups, eps=1e-5):
    """Group normalization, forward pass (Wu and He, 2018).

    The channels of each example are split into ``groups`` consecutive groups of ``C / groups``
    channels; each group is normalized with the mean and biased variance of its
    ``(C / groups)·H·W`` values, then every channel is scaled and shifted by its own
    ``gamma``, ``beta``. The same as ``torch.nn.functional.group_norm(x, groups, gamma, beta,
    eps)``.

    Args:
        x: ``(N, C, H, W)`` (any ``(N, C, ...)`` works: ``(N, C)`` or ``(N, C, L)`` too).
        gamma, beta: per channel, of shape ``(C,)`` or ``(1, C, 1, 1)`` (the gradients come
            back in the shape given).
        groups: the number of groups ``G``; must divide ``C``. ``G = 1`` normalizes each
            example over all its values (layer norm), ``G = C`` each channel of each example
            (instance norm).
        eps: added to the variance before the square root.

    Returns:
        ``(out, cache)``: ``out`` like ``x``; ``cache`` for :func:`groupnorm_backward`.

    Raises:
        ValueError: for fewer than 2 dimensions, ``C`` not divisible by ``groups``, a group of a
            single value, ``gamma``/``beta`` of another shape, a non-positive ``eps`` or
            non-finite ``x``.
    """
    x = _as_float(x)
    if x.ndim < 2:
        raise ValueError(
            f"groupnorm expects x of shape (N, C, H, W), got shape {x.shape}; add a batch "
            "dimension with x[None]."
        )
    n, c = x.shape[:2]
    groups = _validate.integer("groups", groups, 1)
    if c % groups:
        divisors = [d for d in range(1, c + 1) if c % d == 0]
        raise ValueError(
            f"groups must divide the number of channels C={c} (each group holds C / groups "
            f"channels), got groups={groups}; choose one of {divisors}."
        )
    eps = _validate.real("eps", eps, positive=True)
    per_group = (c // groups) * int(np.prod(x.shape[2:]))
    if per_group < 2:
        raise ValueError(
            f"group normalization needs at least two values per group, got {per_group} for x "
            f"of shape {x.shape} with groups={groups}: use fewer groups."
        )
    bshape = (1, c) + (1,) * (x.ndim - 2)
    params = []
    for name, v in (("gamma", gamma), ("beta", beta)):
        shape = np.shape(v)
        if shape not in ((c,), bshape):
            raise ValueError(
                f"{name} must have shape ({c},) or {bshape} (one value per channel) for x of "
                f"shape {x.shape}, got {shape}."
            )
        params.append(np.asarray(v, dtype=x.dtype).reshape(bshape))
    g, b = params
    xg = x.reshape(n, groups, -1)
    mean = xg.mean(axis=2, keepdims=True)
    xc = xg - mean
    var = (xc * xc).mean(axis=2, keepdims=True)
    inv_std = (1.0 / np.sqrt(var + x.dtype.type(eps))).astype(x.dtype)
    xhat = (xc * inv_std).reshape(x.shape)
    out = g * xhat + b
    cache = {
        "xhat": xhat,
        "inv_std": inv_std,
        "gamma": g,
        "groups": groups,
        "param_shape": np.shape(gamma),
    }
    return out, cache


def groupnorm_backward(dout, cache):
    """Group normalization, backward pass.

    Args:
        dout: upstream gradient, the shape of the forward's ``x``.
        cache: from :func:`groupnorm_forward`.

    Returns:
        ``(dx, dgamma, dbeta)``: ``dx`` like ``x``; ``dgamma`` and ``dbeta`` in the shape that
        ``gamma`` had in the forward pass, ``(C,)`` or ``(1, C, 1, 1)``.
    """
    xhat, inv_std, g = cache["xhat"], cache["inv_std"], cache["gamma"]
    dout = np.asarray(dout, dtype=xhat.dtype)
    if dout.shape != xhat.shape:
        raise ValueError(f"dout must have the forward input's shape {xhat.shape}, got {dout.shape}")
    n, groups = xhat.shape[0], cache["groups"]
    axes = (0,) + tuple(range(2, xhat.ndim))
    shape = cache["param_shape"]
    dbeta = dout.sum(axis=axes).reshape(shape)
    dgamma = (dout * xhat).sum(axis=axes).reshape(shape)
    dxhat = (dout * g).reshape(n, groups, -1)
    dx = _normalize_backward(dxhat, xhat.reshape(n, groups, -1), inv_std, (2,))
    return dx.reshape(xhat.shape).astype(xhat.dtype, copy=False), dgamma, dbeta


# --------------------------------------------------------------------------- private helpers


def _as_float(x, name="x"):
    x = np.asarray(x)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{name} must be a real array, got dtype {x.dtype}.")
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)
    x = x.astype(dtype, copy=False)
    _validate.finite_array(name, x)
    return x


def _param(name, value, shape, dtype, hint):
    v = np.asarray(value)
    if v.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {v.shape}; {hint}")
    return v.astype(dtype, copy=False)


def _normalize_backward(dxhat, xhat, inv_std, axes):
    """dx for ``xhat = (x - mean(x)) * inv_std`` with mean and biased variance over ``axes``
    (``inv_std`` broadcasts against ``xhat``)."""
    m = int(np.prod([xhat.shape[a] for a in axes]))
    s1 = dxhat.sum(axis=axes, keepdims=True)
    s2 = (dxhat * xhat).sum(axis=axes, keepdims=True)
    return inv_std / m * (m * dxhat - s1 - xhat * s2)
