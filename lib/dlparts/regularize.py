"""Regularizers: weight penalties (L2, L1, elastic net), an exact elastic-net least-squares
solver, AlexNet's update rule and Monte Carlo dropout. The experiments chapter 4 runs with them
are in :mod:`dlparts.experiments.regularization` and :mod:`dlparts.experiments.weight_decay`,
its network in :mod:`dlparts.models.mlp`; SGD with decoupled weight decay is
:class:`dlparts.optim.SGDW`.

Penalty convention used throughout: ``R(W) = l1 * sum|w| + l2 * sum w**2`` (no factor 1/2), so
its gradient is ``l1 * sign(w) + 2 * l2 * w``. Plain SGD with ``weight_decay=wd`` therefore equals
SGD on the loss plus an L2 penalty with ``l2 = wd / 2``. Only weight matrices and kernels
(tensors with two or more dimensions) are penalized, not biases, as is usual.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._validate import integer as _integer

__all__ = [
    "AlexNetSGD",
    "elastic_net_regression",
    "mc_dropout_probs",
    "penalty",
    "penalty_loss",
    "sparsity",
    "weight_params",
]


def penalty(W, l1=0.0, l2=0.0):
    """NumPy penalty and gradient: ``R = l1*sum|W| + l2*sum W**2``, ``dR = l1*sign(W) + 2*l2*W``.

    ``l1 > 0`` and ``l2 > 0`` together is the elastic net. Returns ``(R, dW)`` with ``dW`` shaped
    like ``W`` (the subgradient 0 is used at ``W == 0``).
    """
    _check_strengths(l1, l2)
    W = np.asarray(W)
    r = l1 * np.abs(W).sum() + l2 * (W * W).sum()
    return float(r), (l1 * np.sign(W) + 2 * l2 * W).astype(W.dtype, copy=False)


def elastic_net_regression(x, y, l1=0.0, l2=0.0, steps=5000, tol=1e-10):
    """Least squares with the book's penalty, solved exactly (to ``tol``) by proximal gradient.

    Minimizes ``(1/2N)·‖y − x w‖² + l1·Σ|w| + l2·Σw²`` (no intercept: centre ``x`` and ``y``
    first) with FISTA: a gradient step on the smooth part, then soft-thresholding by
    ``l1·step``, so coefficients the L1 part removes are exactly 0. ``l1 > 0, l2 = 0`` is the
    lasso, ``l1 = 0`` ridge regression, both > 0 the elastic net of Zou & Hastie (2005) (their
    ``λ1``, ``λ2`` with the loss scaled by ``1/2N``).

    Args:
        x: ``(N, D)`` inputs; y: ``(N,)`` targets.
        steps: the most iterations; the loop stops once no coefficient moves by more than
            ``tol`` in a step.

    Returns:
        the ``(D,)`` coefficients (float64).
    """
    _check_strengths(l1, l2)
    steps = _integer("steps", steps, 1)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.ndim != 2 or len(x) != len(y) or len(y) == 0:
        raise ValueError(
            f"need x of shape (N, D) and y of shape (N,) with N > 0, got {x.shape} and {y.shape}"
        )
    n = len(y)
    lip = np.linalg.norm(x, 2) ** 2 / n + 2 * l2
    step = 1.0 / lip
    xty = x.T @ y / n
    xtx = x.T @ x / n
    w = np.zeros(x.shape[1])
    v, t = w.copy(), 1.0
    for _ in range(steps):
        grad = xtx @ v - xty + 2 * l2 * v
        u = v - step * grad
        w_new = np.sign(u) * np.maximum(np.abs(u) - step * l1, 0.0)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        v = w_new + (t - 1) / t_new * (w_new - w)
        moved = np.max(np.abs(w_new - w))
        w, t = w_new, t_new
        if moved < tol:
            break
    return w


def weight_params(model: nn.Module):
    """The parameters a penalty acts on: weight matrices and kernels (``ndim >= 2``), not biases."""
    return [p for p in model.parameters() if p.ndim >= 2]


def penalty_loss(l1=0.0, l2=0.0):
    """An ``extra_loss`` for :func:`dlparts.train.fit`: ``f(model, out) -> l1*sum|w| + l2*sum w²``.

    Example: ``fit(model, data, extra_loss=penalty_loss(l2=5e-4))``.
    """
    _check_strengths(l1, l2)

    def extra(model, out):
        total = out.new_zeros(())
        for w in weight_params(model):
            if l1:
                total = total + l1 * w.abs().sum()
            if l2:
                total = total + l2 * (w * w).sum()
        return total

    return extra


def sparsity(weights, tol=1e-3):
    """Fraction of entries with ``|w| < tol`` (a NumPy array, a tensor, or a list of them)."""
    if isinstance(weights, (list, tuple)):
        flat = np.concatenate([np.asarray(_np(w)).ravel() for w in weights])
    else:
        flat = np.asarray(_np(weights)).ravel()
    if flat.size == 0:
        raise ValueError("no weights given")
    return float(np.mean(np.abs(flat) < tol))


class AlexNetSGD(torch.optim.Optimizer):
    """The update rule of Krizhevsky et al. (2012), Section 5, written exactly as in the paper:

    .. math::
        v_{i+1} = 0.9\\, v_i - 0.0005\\, \\epsilon\\, w_i - \\epsilon \\left\\langle
        \\frac{\\partial L}{\\partial w}\\Big|_{w_i} \\right\\rangle_{D_i}, \\qquad
        w_{i+1} = w_i + v_{i+1}

    With a constant learning rate this equals ``torch.optim.SGD(momentum=0.9,
    weight_decay=0.0005)``; they differ when the rate changes, because here the velocity carries
    the old rate and PyTorch's buffer does not. The decay applies to every parameter given.
    """

    def __init__(self, params, lr=0.01, momentum=0.9, weight_decay=0.0005):
        if lr <= 0 or not 0 <= momentum < 1 or weight_decay < 0:
            raise ValueError(
                f"need lr > 0, 0 <= momentum < 1, weight_decay >= 0; got {lr=}, {momentum=}, "
                f"{weight_decay=}"
            )
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            eps, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                state = self.state[w]
                v = state.get("v")
                if v is None:
                    v = state["v"] = torch.zeros_like(w)
                v.mul_(mu).add_(w, alpha=-wd * eps).add_(w.grad, alpha=-eps)
                w.add_(v)
        return loss


@torch.no_grad()
def mc_dropout_probs(model: nn.Module, x, n_samples=50, batch_size=1000, seed=0):
    """Softmax outputs of ``n_samples`` thinned networks (dropout masks) on ``x``.

    Dropout layers are put in training mode (each forward pass samples new masks); every other
    layer stays in eval mode. The masks are drawn from PyTorch's generator seeded with ``seed``
    (so the result repeats) inside :func:`torch.random.fork_rng`: the global generator, and the
    model's modes, are left as they were found.

    Returns:
        tensor ``(n_samples, N, C)`` of probabilities; ``.mean(0)`` is the Monte Carlo ensemble.
    """
    n_samples = _integer("n_samples", n_samples, 1)
    batch_size = _integer("batch_size", batch_size, 1)
    seed = _integer("seed", seed, 0)
    dev = next(model.parameters()).device
    modes = {m: m.training for m in model.modules()}
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.train()
    devices = [dev] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        try:
            out = _sample_softmax(model, x, n_samples, batch_size, dev)
        finally:
            for m, t in modes.items():
                m.train(t)
    return torch.stack(out)


def _sample_softmax(model, x, n_samples, batch_size, dev):
    out = []
    for _ in range(n_samples):
        parts = [
            torch.softmax(model(x[i : i + batch_size].to(dev)), dim=1).cpu()
            for i in range(0, len(x), batch_size)
        ]
        out.append(torch.cat(parts))
    return out


# --------------------------------------------------------------------------- private helpers


def _check_strengths(l1, l2):
    for name, v in (("l1", l1), ("l2", l2)):
        if not np.isfinite(v) or v < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")


def _np(w):
    return w.detach().cpu().numpy() if isinstance(w, torch.Tensor) else w
