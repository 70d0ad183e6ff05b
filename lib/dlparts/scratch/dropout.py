"""Dropout from scratch (NumPy), in its inverted form and in the original 2012/2014 form.

Two conventions for ``p`` exist, and they are opposite:

* here and in PyTorch (``torch.nn.Dropout(p)``), ``p`` is the probability of **dropping** a unit;
* in the dropout paper (Srivastava et al., 2014), ``p`` is the probability of **keeping**
  (retaining) a unit: their ``p = 0.5`` for hidden units and ``p = 0.8`` for inputs are
  ``p = 0.5`` and ``p = 0.2`` here. :func:`drop_prob_from_keep_prob` converts.

Inverted dropout (what every framework does): at training time keep each unit with probability
``1 - p`` and multiply the kept ones by ``1 / (1 - p)``; at test time do nothing. The original
form keeps units without scaling at training time and multiplies every activation by the keep
probability ``1 - p`` at test time. Both give a test-time output equal to the training-time
expectation.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._validate import probability, real

__all__ = [
    "dropout_backward",
    "dropout_forward",
    "dropout_forward_original",
    "drop_prob_from_keep_prob",
]


def dropout_forward(x, p, training=True, rng=None):
    """Inverted dropout: zero each unit with probability ``p``, scale survivors by ``1/(1-p)``.

    Args:
        x: array of any shape (float32 or float64; the dtype is kept).
        p: probability of **dropping** a unit, in ``[0, 1)`` (PyTorch's convention).
        training: at test time (``False``) dropout is the identity.
        rng: ``None``, an int seed or a ``numpy.random.Generator`` (for repeatable masks).

    Returns:
        ``(out, mask)``: ``out = x * mask`` with the same shape and dtype as ``x``. ``mask`` holds
        ``0`` for dropped units and ``1/(1-p)`` for kept ones (the scale lives in the mask, so the
        backward pass is one multiplication). When ``training`` is false or ``p == 0``, ``out``
        is ``x`` itself and ``mask`` is ``None``.

    Raises:
        ValueError: if ``p`` is not in ``[0, 1)``.
    """
    p = _check_p(p)
    if not training or p == 0.0:
        return x, None
    x = np.asarray(x)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    keep = _rng(rng).random(x.shape) >= p
    mask = keep.astype(dtype) / dtype.type(1.0 - p)
    return (x * mask).astype(dtype, copy=False), mask


def dropout_backward(dout, mask):
    """Gradient of inverted dropout: ``dx = dout * mask`` (``dout`` itself when ``mask`` is None).

    Shape: ``dout`` and ``mask`` have the shape of the forward input.
    """
    if mask is None:
        return dout
    dout = np.asarray(dout)
    if dout.shape != mask.shape:
        raise ValueError(
            f"dout has shape {dout.shape} but the mask has {mask.shape}; pass the mask that "
            "dropout_forward returned for this very input."
        )
    return dout * mask


def dropout_forward_original(x, p, training=True, rng=None):
    """Dropout as first published: no scaling while training, multiply by ``1 - p`` at test time.

    ``p`` is again the probability of dropping. Returns ``(out, mask)`` with a 0/1 mask while
    training and ``(x * (1 - p), None)`` at test time. Same expectation as
    :func:`dropout_forward`; only where the factor goes differs.
    """
    p = _check_p(p)
    x = np.asarray(x)
    if not training:
        return x * x.dtype.type(1.0 - p) if np.issubdtype(x.dtype, np.floating) else x * (
            1 - p
        ), None
    if p == 0.0:
        return x, None
    mask = (_rng(rng).random(x.shape) >= p).astype(
        x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    )
    return x * mask, mask


def drop_prob_from_keep_prob(p_keep):
    """Convert the dropout paper's ``p`` (probability of keeping) to PyTorch's (of dropping).

    ``drop_prob_from_keep_prob(0.8) == 0.2`` (the paper's input layers);
    ``drop_prob_from_keep_prob(0.5) == 0.5`` (its hidden layers).
    """
    p_keep = real("a keep probability p_keep", p_keep, positive=True, maximum=1.0)
    return 1.0 - p_keep


# --------------------------------------------------------------------------- private helpers


def _check_p(p) -> float:
    try:
        return probability("p", p)
    except ValueError:
        raise ValueError(
            f"p is the probability of dropping a unit and must lie in [0, 1), got {p!r}. "
            "(If you have the dropout paper's keep probability, pass 1 - p_keep.)"
        ) from None


def _rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (numbers.Integral, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    raise ValueError(
        f"rng must be None, an int seed or a numpy Generator, got {type(rng).__name__}"
    )
