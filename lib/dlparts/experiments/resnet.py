"""Experiments of chapter 5 (the road to ResNet): degradation, gradients at initialization,
the zero-γ and pre-activation blocks, and ten-crop testing.

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
from .._validate import integer
from ..augment.crops import center_crop_batch, random_crop_flip_batch, ten_crop_batch
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


def digits_test(n: int = 1000, pool: int = 2):
    """The book's fixed test digits (the same 1,000 in every chapter, or the first ``n``),
    average-pooled by ``pool`` as in :func:`digits_subset`: ``(x, y)``."""
    from .. import data

    split = data.mnist_split(n_train=0, n_val=0, n_test=n)
    x = split["x_test"]
    if pool > 1:
        x = F.avg_pool2d(x, pool)
    return x, split["y_test"]


def build(
    kind: str,
    depth: int,
    in_channels: int = 1,
    width: int = 4,
    *,
    block: str = "basic",
    zero_init_residual: bool = False,
):
    """The plain (``kind="plain"``) or option-A residual (``"residual"``) network of depth
    ``6n + 2``; both have exactly the same parameters. For the residual network, ``block``
    (``"basic"`` or ``"preact"``) and ``zero_init_residual`` are passed to
    :func:`dlparts.models.resnet_cifar`."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind == "plain":
        if block != "basic" or zero_init_residual:
            raise ValueError(
                "the plain network has basic blocks and no residual branch to zero: pass "
                f"block='basic' and zero_init_residual=False, got {block=!r}, "
                f"{zero_init_residual=!r}"
            )
        return models.plain_cifar(depth, in_channels=in_channels, width=width)
    return models.resnet_cifar(
        depth,
        in_channels=in_channels,
        width=width,
        block=block,
        zero_init_residual=zero_init_residual,
    )


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
    block="basic",
    zero_init_residual=False,
    crop=None,
):
    """Train one network on ``(x, y)`` and return what the notebook reads.

    The learning rate is divided by 10 after each fraction of ``epochs`` in ``drops``.
    ``block`` and ``zero_init_residual`` choose the residual network (see :func:`build`).
    ``crop``: train on a random ``crop × crop`` patch of each image, mirrored with probability
    1/2 (the ResNet paper's augmentation, shrunk); the final loss and error are then measured
    on the central patches.

    Returns:
        dict with ``loss`` and ``err`` (per training batch, in training mode, as the optimizer
        saw them), ``final_loss`` and ``final_err`` (the whole training set in evaluation mode
        after training), ``epoch_end_step``, ``milestone_steps`` (steps where the rate was
        divided), ``params``, ``seconds`` and the trained ``model``.
    """
    runtime.seed_everything(seed)
    dev = device or runtime.device()
    model = build(
        kind,
        depth,
        in_channels=x.shape[1],
        width=width,
        block=block,
        zero_init_residual=zero_init_residual,
    ).to(dev)
    transform = None
    if crop is not None:
        crop = integer("crop", crop, 1)
        gen = torch.Generator().manual_seed(seed)
        transform = lambda xb: random_crop_flip_batch(xb, crop, generator=gen)  # noqa: E731
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
        transform=transform,
    )
    x_eval = x if crop is None else center_crop_batch(x, crop)
    final_loss, final_acc = evaluate(model, (x_eval, y), device=dev)
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


# --- notebook 3: zero-γ, pre-activation blocks, ten-crop testing ----------------------------


def block_output_stds(model, x):
    """The standard deviation of every residual block's output on the batch ``x``, input side
    first, in training mode (batch statistics, as on the first training step) and without
    gradients. For a network whose blocks add unit-variance branches to their input, it grows
    with depth; with zero-γ blocks it stays at the stem's within a stage."""
    blocks = [
        m
        for m in model.modules()
        if isinstance(m, (models.BasicBlock, models.PreActBlock, models.Bottleneck))
    ]
    if not blocks:
        raise ValueError("block_output_stds needs a network of residual blocks, found none")
    stds = []
    hooks = [b.register_forward_hook(lambda m, i, o: stds.append(float(o.std()))) for b in blocks]
    was = model.training
    try:
        model.train()
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    return stds


def crop_eval(model, x, y, size, batch_size=500, device=None):
    """Test ``model`` on the central ``size × size`` patch of each image and on the average of
    its softmax over the ten patches of :func:`dlparts.augment.crops.ten_crop_batch` (four
    corners and the centre, and their mirror images), and over the first five (no mirrors).

    Returns:
        dict of ``center_err``, ``five_err``, ``ten_err`` (error rates) and ``center_nll``,
        ``five_nll``, ``ten_nll`` (mean negative log-likelihood of the true class).
    """
    size = integer("size", size, 1)
    dev = device or next(model.parameters()).device
    was = model.training
    model.eval()
    probs = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            crops = ten_crop_batch(x[i : i + batch_size].to(dev), size)  # (10, B, C, s, s)
            ten, b = crops.shape[:2]
            logits = model(crops.reshape(ten * b, *crops.shape[2:]))
            probs.append(F.softmax(logits, 1).reshape(ten, b, -1).cpu())
    model.train(was)
    p = torch.cat(probs, 1)  # (10, N, classes)
    yy = y.cpu()
    out = {}
    for name, q in (("center", p[4]), ("five", p[:5].mean(0)), ("ten", p.mean(0))):
        out[f"{name}_err"] = float((q.argmax(1) != yy).float().mean())
        out[f"{name}_nll"] = float(-torch.log(q[torch.arange(len(yy)), yy].clamp_min(1e-12)).mean())
    return out
