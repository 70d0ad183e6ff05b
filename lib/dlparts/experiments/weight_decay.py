"""Chapter 4's weight-decay experiments: decay against L2 under momentum and under Adam, the
elastic net's grouping effect, and the hinge loss's margin against its penalty.

- :func:`train_decayed` trains the chapter's small ReLU MLP with one of four ways of shrinking
  the weights (``"sgd+l2"``, ``"sgdw"``, ``"adam+l2"``, ``"adamw"``), and records the sum of
  squared weights after every epoch; :func:`decay_sweep` runs a grid of methods, strengths and
  seeds (paired by seed).
- :func:`correlated_group` makes a regression problem whose signal lives in a group of strongly
  correlated inputs, on which :func:`dlparts.regularize.elastic_net_regression` shows the lasso
  picking a few of the group and the elastic net spreading the weight over all of it.
- :func:`fit_hinge` trains a linear multiclass hinge classifier with any margin ``Δ``, to show
  that ``(Δ, λ)`` and ``(1, λΔ)`` are the same problem up to a rescaling of the weights.

Decay and penalties act on weight matrices only (``ndim >= 2``); biases are never decayed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import runtime
from .._validate import integer, real
from ..models.mlp import mlp
from ..optim import SGDW
from ..regularize import penalty
from ..scratch.losses import svm_loss

__all__ = [
    "METHODS",
    "DecayRun",
    "correlated_group",
    "decay_sweep",
    "fit_hinge",
    "make_optimizer",
    "train_decayed",
]

METHODS = ("sgd+l2", "sgdw", "adam+l2", "adamw")
"""The four ways of shrinking weights :func:`make_optimizer` knows."""


def make_optimizer(model: nn.Module, method: str, weight_decay: float, lr: float, momentum=0.9):
    """The optimizer of ``method`` for ``model``, decaying its weight matrices only.

    - ``"sgd+l2"``: ``torch.optim.SGD(weight_decay=λ, momentum=μ)``, i.e. an L2 penalty
      ``λ/2·Σw²`` whose gradient goes through the momentum buffer;
    - ``"sgdw"``: :class:`dlparts.optim.SGDW`, decoupled decay ``w ← (1 − ηλ) w``;
    - ``"adam+l2"``: ``torch.optim.Adam(weight_decay=λ)``, the L2 gradient divided by Adam's RMS;
    - ``"adamw"``: ``torch.optim.AdamW(weight_decay=λ)``, decoupled decay ``ηλ`` per step.

    ``momentum`` is used by the two SGD methods only. Biases get ``weight_decay=0``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    weight_decay = real("weight_decay", weight_decay, minimum=0.0)
    lr = real("lr", lr, positive=True)
    ws = [p for p in model.parameters() if p.ndim >= 2]
    bs = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": ws, "weight_decay": weight_decay}, {"params": bs, "weight_decay": 0.0}]
    if method == "sgd+l2":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum)
    if method == "sgdw":
        return SGDW(groups, lr=lr, momentum=momentum)
    if method == "adam+l2":
        return torch.optim.Adam(groups, lr=lr)
    return torch.optim.AdamW(groups, lr=lr)


@dataclass
class DecayRun:
    """One training run: final accuracies, the sum of squared weights, and its curve."""

    method: str
    weight_decay: float
    train_acc: float
    val_acc: float
    weight_sq: float
    weight_sq_curve: list = field(default_factory=list, repr=False)
    train_err_curve: list = field(default_factory=list, repr=False)


def train_decayed(
    data: dict,
    method: str,
    weight_decay: float,
    *,
    lr: float,
    momentum: float = 0.9,
    hidden=(128,),
    epochs: int = 60,
    batch_size: int = 100,
    seed: int = 0,
) -> DecayRun:
    """Train the chapter's ReLU MLP on ``data`` (a :func:`dlparts.data.mnist_split` dict).

    ``seed`` fixes the initialisation and the batch order, so runs of different methods with
    the same seed start from the same weights and see the same batches. The sum of squared
    weights (weight matrices only) and the training error are recorded after every epoch.
    The run uses one CPU thread, whatever the kernel's setting, so its numbers repeat.
    """
    epochs = integer("epochs", epochs, 1)
    batch_size = integer("batch_size", batch_size, 1)
    seed = integer("seed", seed, 0)
    with runtime.limit_threads(1):
        torch.manual_seed(seed)
        x, y = data["x_train"], data["y_train"]
        net = mlp(hidden).to(x.device)
        opt = make_optimizer(net, method, weight_decay, lr, momentum)
        ws = [p for p in net.parameters() if p.ndim >= 2]
        g = torch.Generator().manual_seed(seed)
        sq, err = [], []
        for _ in range(epochs):
            net.train()
            order = torch.randperm(len(x), generator=g).to(x.device)
            for i in range(0, len(x), batch_size):
                idx = order[i : i + batch_size]
                loss = F.cross_entropy(net(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            sq.append(_weight_sq(ws))
            err.append(1 - _accuracy(net, x, y))
        return DecayRun(
            method=method,
            weight_decay=float(weight_decay),
            train_acc=1 - err[-1],
            val_acc=_accuracy(net, data["x_val"], data["y_val"]),
            weight_sq=sq[-1],
            weight_sq_curve=sq,
            train_err_curve=err,
        )


def decay_sweep(data_for_seed, runs, seeds, progress=None, **common) -> dict:
    """Train every ``(method, weight_decay)`` in ``runs`` on every seed.

    Args:
        data_for_seed: ``f(seed) -> data dict`` (each seed may draw its own training slice).
        runs: a list of ``(method, weight_decay)`` pairs, or of ``(method, weight_decay, kw)``
            with keyword arguments for :func:`train_decayed` that override ``common`` (e.g. a
            learning rate per method).
        seeds: run *i* of every entry uses seed ``seeds[i]`` (paired comparisons).
        progress: optional ``f(iterable, desc) -> iterable`` (e.g. a progress bar).

    Returns:
        ``{(method, weight_decay): [DecayRun per seed]}``.
    """
    seeds = [integer("seed", s, 0) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed")
    entries = [(r[0], r[1], r[2] if len(r) > 2 else {}) for r in runs]
    out = {(m, wd): [] for m, wd, _ in entries}
    for s in seeds if progress is None else progress(seeds, "seeds"):
        data = data_for_seed(s)
        for m, wd, kw in entries:
            out[(m, wd)].append(train_decayed(data, m, wd, seed=s, **{**common, **kw}))
    return out


def correlated_group(
    n: int = 200,
    group_size: int = 5,
    n_other: int = 15,
    rho: float = 0.95,
    noise: float = 0.5,
    rng=None,
) -> dict:
    """A regression problem whose signal is carried by a group of strongly correlated inputs.

    Inputs ``0 .. group_size-1`` are ``z + e_k`` scaled to unit variance, with one shared factor
    ``z`` and independent ``e_k`` sized so that any two correlate with ``rho``; the remaining
    ``n_other`` inputs are independent noise. The target is ``z·sqrt(group_size) + noise·ε``,
    so every member of the group carries the same information about it.

    Returns:
        dict with ``x`` ``(n, group_size + n_other)`` (columns centred and scaled to unit
        variance), ``y`` ``(n,)`` (centred) and ``group`` (the indices of the group).
    """
    n = integer("n", n, 2)
    group_size = integer("group_size", group_size, 2)
    n_other = integer("n_other", n_other, 0)
    rho = real("rho", rho, minimum=0.0, maximum=1.0)
    noise = real("noise", noise, minimum=0.0)
    rng = np.random.default_rng(rng)
    z = rng.standard_normal(n)
    e = rng.standard_normal((n, group_size))
    group = np.sqrt(rho) * z[:, None] + np.sqrt(1 - rho) * e
    x = np.concatenate([group, rng.standard_normal((n, n_other))], axis=1)
    x = (x - x.mean(0)) / x.std(0)
    y = z * np.sqrt(group_size) + noise * rng.standard_normal(n)
    return {"x": x, "y": y - y.mean(), "group": np.arange(group_size)}


def fit_hinge(x, y, *, margin=1.0, l2=0.0, lr=0.1, steps=200, w0=None, num_classes=None):
    """A linear classifier ``x @ W + b`` trained by full-batch gradient descent on the multiclass
    hinge loss with margin ``Δ = margin`` (:func:`~dlparts.scratch.losses.svm_loss`) plus
    ``l2·ΣW²`` (the bias is not penalized), in float64.

    ``w0`` is the initial ``W`` (default zeros; ``b`` starts at zero). Minimizing with
    ``(Δ, λ)`` at rate ``η·Δ`` from ``Δ·W0`` gives ``Δ`` times the weights of ``(1, λΔ)`` at
    rate ``η`` from ``W0``, step for step: only the product ``λΔ`` shapes the classifier.

    Returns:
        dict with ``W`` ``(D, C)``, ``b`` ``(C,)`` and ``train_acc``.
    """
    margin = real("margin", margin, positive=True)
    l2 = real("l2", l2, minimum=0.0)
    lr = real("lr", lr, positive=True)
    steps = integer("steps", steps, 1)
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y)
    c = int(y.max()) + 1 if num_classes is None else integer("num_classes", num_classes, 2)
    W = np.zeros((x.shape[1], c)) if w0 is None else np.array(w0, dtype=np.float64)
    if W.shape != (x.shape[1], c):
        raise ValueError(f"w0 must have shape {(x.shape[1], c)}, got {W.shape}")
    b = np.zeros(c)
    for _ in range(steps):
        _, ds = svm_loss(x @ W + b, y, margin=margin)
        _, dR = penalty(W, 0.0, l2)
        W = W - lr * (x.T @ ds + dR)
        b = b - lr * ds.sum(0)
    return {"W": W, "b": b, "train_acc": float(np.mean((x @ W + b).argmax(1) == y))}


# --------------------------------------------------------------------------- private helpers


@torch.no_grad()
def _accuracy(net, x, y, batch_size=1000):
    net.eval()
    correct = sum(
        int((net(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum())
        for i in range(0, len(x), batch_size)
    )
    net.train()
    return correct / len(x) if len(x) else float("nan")


@torch.no_grad()
def _weight_sq(ws):
    return float(sum((w * w).sum() for w in ws))
