"""Weight initialization from scratch: He (Kaiming) and Xavier (Glorot).

The rule behind both: choose the weights' variance so that a signal keeps its scale as it passes
through many layers. For a layer ``y = W x`` with ``fan_in`` inputs, independent zero-mean
weights of variance ``Var(w)`` and inputs with second moment ``E[x^2]``,

    Var(y) = fan_in · Var(w) · E[x^2].

- Xavier / Glorot (2010), for symmetric activations near-linear at 0 (tanh): keep the variance in
  the forward *and* backward pass, a compromise ``Var(w) = 2 / (fan_in + fan_out)``.
- He / Kaiming (2015), for ReLU: a ReLU zeroes half of a symmetric input, so
  ``E[relu(y)^2] = Var(y) / 2``; keeping the scale needs ``Var(w) = 2 / fan_in``.

Functions here follow ``torch.nn.init``'s names and conventions (in-place, trailing underscore,
``fan_in`` counted over input channels × kernel size), so they can be checked against it.
"""

from __future__ import annotations

import math

import torch

from ._validate import integer

__all__ = [
    "activation_scales",
    "calculate_gain",
    "fans",
    "he_normal_",
    "he_uniform_",
    "init_model",
    "xavier_normal_",
    "xavier_uniform_",
]


def fans(tensor: torch.Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight: ``(in · k_h · k_w, out · k_h · k_w)`` for a convolution
    weight ``(out, in, k_h, k_w)``, ``(in, out)`` for a linear weight ``(out, in)``.

    Raises:
        ValueError: for a tensor with fewer than 2 dimensions (a bias has no fan-in).
    """
    if tensor.dim() < 2:
        raise ValueError(
            f"fans need a weight with at least 2 dimensions (out, in, ...), got shape "
            f"{tuple(tensor.shape)}; biases are usually initialized to zero instead."
        )
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def calculate_gain(nonlinearity: str = "relu", param: float | None = None) -> float:
    """The factor ``g`` with ``Var(w) = g² / fan``: sqrt(2) for ReLU, sqrt(2 / (1 + a²)) for a
    leaky ReLU of slope ``a``, 5/3 for tanh, 1 for linear/sigmoid (torch's values)."""
    if nonlinearity in ("linear", "identity", "sigmoid", "conv2d", "conv1d"):
        return 1.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        a = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + a * a))
    if nonlinearity == "tanh":
        return 5.0 / 3
    raise ValueError(
        f"unknown nonlinearity {nonlinearity!r}; use 'relu', 'leaky_relu', 'tanh', 'sigmoid' or "
        "'linear'."
    )


def he_normal_(tensor, mode="fan_in", nonlinearity="relu", a=0.0, generator=None):
    """He initialization: ``w ~ N(0, gain² / fan)`` (gain² = 2 for ReLU), in place.

    ``mode="fan_in"`` keeps activations' scale in the forward pass, ``"fan_out"`` gradients' in
    the backward pass (torchvision's ResNets use ``fan_out``).
    """
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    with torch.no_grad():
        return tensor.normal_(0.0, std, generator=generator)


def he_uniform_(tensor, mode="fan_in", nonlinearity="relu", a=0.0, generator=None):
    """He initialization with ``w ~ U(-b, b)``, ``b = gain · sqrt(3 / fan)`` (same variance)."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    with torch.no_grad():
        return tensor.uniform_(-bound, bound, generator=generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Xavier/Glorot initialization: ``w ~ N(0, gain² · 2 / (fan_in + fan_out))``, in place."""
    fan_in, fan_out = fans(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    with torch.no_grad():
        return tensor.normal_(0.0, std, generator=generator)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Xavier/Glorot with ``w ~ U(-b, b)``, ``b = gain · sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = fans(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        return tensor.uniform_(-bound, bound, generator=generator)


_SCHEMES = ("he", "xavier", "he_fan_out")


def init_model(model, scheme="he", generator=None, linear=True):
    """Initialize every convolution and linear weight of ``model`` (biases to 0; BatchNorm to
    weight 1, bias 0). ``scheme``: ``"he"`` (fan_in), ``"he_fan_out"`` or ``"xavier"``.
    ``linear=False`` leaves ``nn.Linear`` layers at PyTorch's default (torchvision's ResNets do
    this). Returns the model."""
    from torch import nn

    if scheme not in _SCHEMES:
        raise ValueError(f"scheme must be one of {_SCHEMES}, got {scheme!r}.")
    layers = (nn.Conv1d, nn.Conv2d, nn.Conv3d) + ((nn.Linear,) if linear else ())
    for m in model.modules():
        if isinstance(m, layers):
            if scheme == "xavier":
                xavier_normal_(m.weight, generator=generator)
            else:
                mode = "fan_out" if scheme == "he_fan_out" else "fan_in"
                he_normal_(m.weight, mode=mode, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
    return model


def activation_scales(
    depth=30, width=512, scheme="he", nonlinearity="relu", n=1000, seed=0, gain=1.0
):
    """Push ``n`` standard-normal inputs through ``depth`` fully connected layers of ``width``
    units (no biases, no normalization) and return each layer's activation standard deviation.

    ``scheme``: ``"he"``, ``"xavier"`` or ``"small"`` (``N(0, 0.01²)``, AlexNet's 2012
    initialization); ``nonlinearity``: ``"relu"`` or ``"tanh"``; ``gain`` multiplies every
    weight (1 = the scheme as defined; 1.1 shows what a 10% error in the scale compounds to).
    Returns ``depth`` floats.
    """
    depth, width = integer("depth", depth, 1), integer("width", width, 1)
    acts = {"relu": torch.relu, "tanh": torch.tanh}
    if nonlinearity not in acts:
        raise ValueError(f"nonlinearity must be 'relu' or 'tanh', got {nonlinearity!r}.")
    if scheme not in ("he", "xavier", "small"):
        raise ValueError(f"scheme must be 'he', 'xavier' or 'small', got {scheme!r}.")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, width, generator=g)
    out = []
    for _ in range(depth):
        w = torch.empty(width, width)
        if scheme == "he":
            he_normal_(w, nonlinearity=nonlinearity, generator=g)
        elif scheme == "xavier":
            xavier_normal_(w, generator=g)
        else:
            w.normal_(0.0, 0.01, generator=g)
        x = acts[nonlinearity](x @ (gain * w).T)
        out.append(float(x.std()))
    return out


# --------------------------------------------------------------------------- private helpers


def _fan(tensor, mode):
    fan_in, fan_out = fans(tensor)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    raise ValueError(f"mode must be 'fan_in' (forward pass) or 'fan_out' (backward), got {mode!r}.")
