"""Experiments of chapter 5 (the road to ResNet): degradation, and gradients at initialization.

The degradation experiment (notebook 2) trains plain and residual CIFAR-style networks
(:func:`dlparts.models.plain_cifar`, :func:`dlparts.models.resnet_cifar`) of several depths on
one small, fixed set of 14×14 digits, long enough for the shallow networks to fit it, over
several seeds, with the paper's recipe shrunk (BN after every convolution, He initialization,
SGD with momentum 0.9 and weight decay 1e-4, the learning rate divided by 10 late in training).
What it compares is the final *training* loss, measured on the whole training set in
evaluation mode.

Example::

    x, y = digits_subset(256)
    runs = degradation_sweep(x, y, depths=(8, 20), seeds=(0, 1, 2), epochs=25)
    final = final_losses(runs, "plain", 20)     # one value per seed
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .. import models, runtime
from ..train import evaluate, fit

KINDS = ("plain", "residual")


def digits_subset(n: int, seed: int = 0, pool: int = 2):
    """``n`` training digits of the shipped MNIST subset, average-pooled by ``pool`` (28 → 14),
    as ``(x, y)`` tensors; the same digits for the same ``(n, seed)``."""
    from .. import data

    split = data.mnist_split(n_train=n, n_val=0, n_test=1000, seed=seed)
    x = split["x_train"]
    if pool > 1:
        x = F.avg_pool2d(x, pool)
    return x, split["y_train"]


def build(kind: str, depth: int, in_channels: int = 1, width: int = 4):
    """The plain (``kind="plain"``) or option-A residual (``"residual"``) network of depth
    ``6n + 2``; both have exactly the same parameters."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    fn = models.plain_cifar if kind == "plain" else models.resnet_cifar
    return fn(depth, in_channels=in_channels, width=width)


def train_one(
    kind,
    depth,
    x,
    y,
    *,
    width=4,
    epochs=25,
    batch_size=32,
    lr=0.05,
    seed=0,
    drops=(0.75,),
    weight_decay=1e-4,
    device=None,
    progress=True,
):
    """Train one network on ``(x, y)`` and return what the notebook reads.

    The learning rate is divided by 10 after each fraction of ``epochs`` in ``drops``.

    Returns:
        dict with ``loss`` and ``err`` (per training batch, in training mode, as the optimizer
        saw them), ``final_loss`` and ``final_err`` (the whole training set in evaluation mode
        after training), ``epoch_end_step``, ``milestone_steps`` (steps where the rate was
        divided), ``params``, ``seconds`` and the trained ``model``.
    """
    runtime.seed_everything(seed)
    dev = device or runtime.device()
    model = build(kind, depth, in_channels=x.shape[1], width=width).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    milestones = sorted({max(1, int(round(f * epochs))) for f in drops})
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)
    hist = fit(
        model,
        (x, y),
        epochs=epochs,
        optimizer=opt,
        scheduler=sched,
        batch_size=batch_size,
        device=dev,
        seed=seed,
        progress=progress,
        desc=f"{kind}-{depth} seed {seed}",
    )
    final_loss, final_acc = evaluate(model, (x, y), device=dev)
    return {
        "kind": kind,
        "depth": depth,
        "seed": seed,
        "loss": np.asarray(hist.loss, dtype=float),
        "err": 1.0 - np.asarray(hist.acc, dtype=float),
        "final_loss": float(final_loss),
        "final_err": float(1.0 - final_acc),
        "epoch_end_step": list(hist.epoch_end_step),
        "milestone_steps": [hist.epoch_end_step[m - 1] for m in milestones if m <= epochs],
        "params": sum(p.numel() for p in model.parameters()),
        "seconds": hist.seconds,
        "diverged": hist.diverged,
        "model": model,
    }


def degradation_sweep(x, y, depths, seeds=(0, 1, 2), kinds=KINDS, **kw):
    """:func:`train_one` for every kind, depth and seed: ``{(kind, depth, seed): run}``."""
    return {
        (kind, d, s): train_one(kind, d, x, y, seed=s, **kw)
        for d in depths
        for kind in kinds
        for s in seeds
    }


def final_losses(runs, kind, depth, metric="final_loss"):
    """The values of ``metric`` over the seeds of one (kind, depth), in seed order."""
    keys = sorted(k for k in runs if k[0] == kind and k[1] == depth)
    return [runs[k][metric] for k in keys]


def log10(values):
    """``log10`` of positive values (losses are compared as ratios: a loss of 0.02 against
    0.2 is the same step as 0.2 against 2)."""
    return [math.log10(max(float(v), 1e-12)) for v in values]


def smooth(values, window):
    """Running mean over ``window`` steps (``len(values) - window + 1`` points)."""
    v = np.asarray(values, dtype=float)
    if window <= 1 or len(v) < window:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    return (c[window:] - c[:-window]) / window


def curve_band(runs, kind, depth, metric="loss", window=8):
    """Mean, minimum and maximum over seeds of a smoothed per-step curve, and its steps."""
    curves = np.stack(
        [smooth(runs[k][metric], window) for k in sorted(runs) if k[:2] == (kind, depth)]
    )
    steps = np.arange(curves.shape[1]) + window
    return steps, curves.mean(0), curves.min(0), curves.max(0)


# --- notebook 3: gradients per layer --------------------------------------------------------


def conv_grad_norms(model, xb, yb):
    """The norm of every 3×3 convolution's weight gradient on one batch, input side first
    (the model in training mode, as in training)."""
    model.train()
    model.zero_grad()
    F.cross_entropy(model(xb), yb).backward()
    return [
        float(m.weight.grad.norm())
        for m in model.modules()
        if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)
    ]


def imbalance(norms):
    """How far a gradient profile is from balance: ``|log10(first / last)|`` (0 = the first
    and last layers get gradients of the same size; 1 = a factor of ten)."""
    return abs(math.log10(norms[0] / norms[-1]))
