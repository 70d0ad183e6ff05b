"""A whole convolutional network from scratch in NumPy: CS231n's three-layer convnet.

The architecture, the constructor's arguments and the ``loss`` interface are those of the
``ThreeLayerConvNet`` of the CS231n assignment (Li, Karpathy and Johnson), so a student can check
one against the other::

    conv (F filters, filter_size x filter_size, stride 1, padding (filter_size - 1) // 2)
      -> ReLU -> 2x2 max pool, stride 2 -> affine (hidden_dim) -> ReLU -> affine (num_classes)
      -> softmax

Every layer is a forward/backward pair from :mod:`dlparts.scratch.conv` and
:mod:`dlparts.scratch.layers`; the convolution is im2col and one matrix product.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _validate
from .conv import conv2d_backward, conv2d_forward, maxpool2d_backward, maxpool2d_forward
from .layers import affine_backward, affine_forward, relu_backward, relu_forward
from .losses import softmax_loss

__all__ = ["ThreeLayerConvNet"]


class ThreeLayerConvNet:
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax, in NumPy.

    Args:
        input_dim: ``(C, H, W)`` of one input image (``(1, 28, 28)`` for MNIST).
        num_filters: ``F``, the number of convolutional filters.
        filter_size: ``HH = WW``, an odd positive int (the padding ``(filter_size - 1) // 2``
            keeps ``H x W``).
        hidden_dim: units in the hidden affine layer.
        num_classes: scores per image (at least 2).
        weight_scale: weights are drawn from ``N(0, weight_scale**2)``; biases are zero.
        reg: L2 strength; the loss adds ``0.5 * reg * sum(W**2)`` over ``W1``, ``W2``, ``W3``.
        dtype: ``np.float32`` (training) or ``np.float64`` (gradient checks).
        rng: keyword only. ``None`` (the default) draws from NumPy's global state
            (``np.random.randn``), exactly as CS231n, so ``np.random.seed`` makes it repeatable;
            an int seed or a ``numpy.random.Generator`` draws from that generator instead.

    Attributes:
        params: ``W1`` ``(F, C, HH, WW)``, ``b1`` ``(F,)``, ``W2`` ``(F * H//2 * W//2,
            hidden_dim)``, ``b2`` ``(hidden_dim,)``, ``W3`` ``(hidden_dim, num_classes)``,
            ``b3`` ``(num_classes,)``, all in ``dtype``.
        reg, dtype: as given.

    Shapes:
        ``loss(X)``: X ``(N, C, H, W)`` -> scores ``(N, num_classes)``.
    """

    def __init__(
        self,
        input_dim=(3, 32, 32),
        num_filters=32,
        filter_size=7,
        hidden_dim=100,
        num_classes=10,
        weight_scale=1e-3,
        reg=0.0,
        dtype=np.float32,
        *,
        rng=None,
    ):
        if isinstance(input_dim, (str, bytes)) or not hasattr(input_dim, "__len__"):
            raise ValueError(f"input_dim must be (C, H, W), e.g. (1, 28, 28), got {input_dim!r}.")
        if len(input_dim) != 3:
            raise ValueError(
                f"input_dim must be (C, H, W) of one image, three numbers, got {input_dim!r} "
                f"({len(input_dim)} numbers); for a grayscale image use (1, H, W)."
            )
        c = _validate.integer("input_dim[0] (channels)", input_dim[0], 1)
        h = _validate.integer("input_dim[1] (height)", input_dim[1], 2)
        w = _validate.integer("input_dim[2] (width)", input_dim[2], 2)
        f = _validate.integer("num_filters", num_filters, 1)
        k = _validate.integer("filter_size", filter_size, 1)
        if k % 2 == 0:
            raise ValueError(
                f"filter_size must be odd, so that padding (filter_size - 1) // 2 keeps the "
                f"image size; got {k}. Use {k - 1} or {k + 1}."
            )
        hidden = _validate.integer("hidden_dim", hidden_dim, 1)
        classes = _validate.integer("num_classes", num_classes, 2)
        scale = _validate.real("weight_scale", weight_scale, positive=True)
        self.reg = _validate.real("reg", reg, minimum=0.0)
        try:
            dt = np.dtype(dtype)
        except TypeError as err:
            raise ValueError(f"dtype must be np.float32 or np.float64, got {dtype!r}.") from err
        if not np.issubdtype(dt, np.floating):
            raise ValueError(f"dtype must be a floating type (np.float32 or np.float64), got {dt}.")
        self.dtype = dt.type
        if rng is not None and not isinstance(rng, np.random.Generator):
            if isinstance(rng, bool) or not isinstance(rng, numbers.Integral):
                raise ValueError(
                    f"rng must be None (NumPy's global state), an int seed or a "
                    f"numpy.random.Generator, got {type(rng).__name__}."
                )
            rng = np.random.default_rng(int(rng))
        self.input_dim = (c, h, w)
        shapes = {
            "W1": (f, c, k, k),
            "W2": (f * (h // 2) * (w // 2), hidden),
            "W3": (hidden, classes),
        }
        self.params = {}
        for i, (name, shape) in enumerate(shapes.items(), start=1):
            self.params[name] = (scale * _normal(rng, shape)).astype(dt)
            self.params[f"b{i}"] = np.zeros(shape[0] if i == 1 else shape[1], dtype=dt)

    def _check_x(self, X):
        X = np.asarray(X)
        if X.ndim != 4 or X.shape[1:] != self.input_dim or X.shape[0] == 0:
            raise ValueError(
                f"X must have shape (N, C, H, W) = (N, {', '.join(map(str, self.input_dim))}) "
                f"with N >= 1, the input_dim the net was built for; got {X.shape}."
            )
        return X.astype(self.dtype, copy=False)

    def loss(self, X, y=None):
        """Scores, or the loss and its gradients.

        Args:
            X: ``(N, C, H, W)`` images.
            y: ``(N,)`` integer labels in ``0..num_classes-1``, or None.

        Returns:
            ``scores`` ``(N, num_classes)`` when ``y`` is None; otherwise ``(loss, grads)`` with
            ``loss`` a float (mean softmax cross-entropy plus ``0.5 * reg * sum(W**2)`` over
            ``W1..W3``) and ``grads`` a dict with the keys and shapes of :attr:`params`.
        """
        X = self._check_x(X)
        p = self.params
        pad = (p["W1"].shape[2] - 1) // 2
        a1, conv_cache = conv2d_forward(X, p["W1"], p["b1"], stride=1, padding=pad)
        r1, relu1_cache = relu_forward(a1)
        m1, pool_cache = maxpool2d_forward(r1, 2, 2)
        a2, aff2_cache = affine_forward(m1, p["W2"], p["b2"])
        r2, relu2_cache = relu_forward(a2)
        scores, aff3_cache = affine_forward(r2, p["W3"], p["b3"])
        if y is None:
            return scores

        data_loss, dscores = softmax_loss(scores, y)
        weights = ("W1", "W2", "W3")
        reg_loss = (
            0.5 * self.reg * sum(float(np.sum(p[k].astype(np.float64) ** 2)) for k in weights)
        )
        grads = {}
        dr2, grads["W3"], grads["b3"] = affine_backward(dscores, aff3_cache)
        da2 = relu_backward(dr2, relu2_cache)
        dm1, grads["W2"], grads["b2"] = affine_backward(da2, aff2_cache)
        dr1 = maxpool2d_backward(dm1, pool_cache)
        da1 = relu_backward(dr1, relu1_cache)
        _, grads["W1"], grads["b1"] = conv2d_backward(da1, conv_cache)
        for k in weights:
            grads[k] = grads[k] + self.dtype(self.reg) * p[k]
        grads = {k: grads[k].astype(self.dtype, copy=False) for k in p}
        return data_loss + reg_loss, grads


# --------------------------------------------------------------------------- private helpers


def _normal(rng, shape):
    """Standard normal draws from ``rng`` (None: NumPy's global state, as CS231n)."""
    if rng is None:
        return np.random.randn(*shape)
    return rng.standard_normal(shape)
