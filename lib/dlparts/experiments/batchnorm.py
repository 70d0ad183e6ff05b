"""Helpers for the batch-normalization chapter's measured claims: seeded sweeps over learning
rates, the readings they are judged by (which rates train, steps to an accuracy), and the
paper's Algorithm 2 (population statistics computed after training).

Example::

    small = downsample(mnist_split(4000, 0, 1000))
    hists = sweep(lambda: scaled_sigmoid_mlp(bn=True), small, lrs=(0.5, 8.0), seeds=3, steps=200)
    rates_that_train(hists, (0.5, 8.0), 3)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..bn_experiments import sigmoid_mlp
from ..runtime import seed_everything
from ..train import History, fit

TRAINS_AT = 0.5
"""A run *trains* when its final test accuracy reaches this (chance is 0.1 on ten digits)."""


def downsample(data: dict, factor: int = 2) -> dict:
    """The same split with every image averaged over ``factor × factor`` blocks (28×28 digits
    become 14×14): a smaller problem that trains in fewer steps. Labels are unchanged."""
    if factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    return {
        k: F.avg_pool2d(v, factor) if k.startswith("x") and v.ndim == 4 else v
        for k, v in data.items()
    }


def scaled_sigmoid_mlp(bn: bool, gain: float = 4.0, n_in: int = 196, **kwargs) -> nn.Sequential:
    """:func:`dlparts.bn_experiments.sigmoid_mlp` with every weight drawn from
    N(0, gain² / fan_in) instead of one fixed σ.

    A sigmoid's slope is at most 1/4, so ``gain = 4`` keeps the spread of the inputs about the
    same from layer to layer at initialization: the network without BN starts to learn at once
    instead of sitting on a plateau, and a learning-rate comparison measures the rate alone.
    """
    if gain <= 0:
        raise ValueError(f"gain must be positive, got {gain}")
    model = sigmoid_mlp(bn=bn, n_in=n_in, **kwargs)
    for layer in model:
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, gain / math.sqrt(layer.in_features))
    return model


def sweep(
    make_model: Callable[[], nn.Module],
    data: dict,
    *,
    lrs: Sequence[float],
    seeds: int,
    steps: int,
    batch_size: int = 60,
    momentum: float = 0.0,
    eval_every: int = 25,
    device=None,
    desc: str = "",
) -> dict:
    """Train ``make_model()`` with SGD at every rate in ``lrs`` for seeds ``0 .. seeds-1``
    (seed *s* fixes both the initialization and the batch order, so runs at different rates or
    of different models with the same seed are paired). Returns ``{(lr, seed): History}``."""
    if seeds < 1 or steps < 1:
        raise ValueError(f"need seeds >= 1 and steps >= 1, got {seeds}, {steps}")
    out = {}
    for lr in lrs:
        for seed in range(seeds):
            seed_everything(seed)
            model = make_model()
            out[lr, seed] = fit(
                model,
                (data["x_train"], data["y_train"]),
                val=(data["x_test"], data["y_test"]),
                epochs=steps * batch_size // len(data["x_train"]) + 1,
                max_steps=steps,
                batch_size=batch_size,
                optimizer=torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum),
                eval_every=eval_every,
                seed=seed,
                device=device,
                desc=f"{desc} lr {lr:g}, seed {seed}".strip(),
            )
    return out


def final_acc(hist: History, last: int = 1) -> float:
    """Mean test accuracy over the last ``last`` evaluations (0.0 for a run that diverged
    before its first evaluation)."""
    if not hist.val_acc:
        return 0.0
    return float(np.mean(hist.val_acc[-last:]))


def steps_to(hist: History, threshold: float, censor: int) -> int:
    """The first evaluated step at which test accuracy reaches ``threshold``; ``censor`` (a
    step past the end of the run) when it never does, so that "never" counts as slowest."""
    s = hist.first_step_reaching("val_acc", threshold)
    return censor if s is None else int(s)


def finals(hists: dict, lr: float, seeds: int, last: int = 1) -> list[float]:
    """Final test accuracies at rate ``lr``, one per seed."""
    return [final_acc(hists[lr, s], last) for s in range(seeds)]


def rates_that_train(
    hists: dict, lrs: Sequence[float], seeds: int, at: float = TRAINS_AT, last: int = 1
) -> list[float]:
    """The rates whose mean final test accuracy over the seeds reaches ``at``."""
    return [lr for lr in lrs if np.mean(finals(hists, lr, seeds, last)) >= at]


def verdict(hists: dict, lr: float, seeds: int, at: float = TRAINS_AT, last: int = 1) -> str:
    """``"trains"`` or ``"stuck"`` (mean final accuracy below ``at``), with ``"diverged"``
    when every seed's loss became infinite or NaN."""
    if all(hists[lr, s].diverged for s in range(seeds)):
        return "diverged"
    return "trains" if np.mean(finals(hists, lr, seeds, last)) >= at else "stuck"


@torch.no_grad()
def population_statistics(model: nn.Module, x: torch.Tensor, batch_size: int = 60) -> nn.Module:
    """Replace every BN layer's running statistics by the paper's population statistics
    (Algorithm 2, steps 8-11): with the weights frozen, the mean over the training batches of
    each batch's mean and of its unbiased variance. PyTorch computes this cumulative average
    when ``momentum=None``; each layer's momentum is restored afterwards. Returns ``model``
    (changed in place, left in evaluation mode)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        raise ValueError("the model has no batch-normalization layer")
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    try:
        for i in range(0, len(x) - batch_size + 1, batch_size):
            model(x[i : i + batch_size])
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom
        model.eval()
    return model


def running_stat_lag(model: nn.Module, x: torch.Tensor, batch_size: int = 60) -> list[float]:
    """Per BN layer, how far the running mean sits from the population mean of the current
    weights, in units of the population standard deviation (median over features)."""
    import copy

    ref = population_statistics(copy.deepcopy(model), x, batch_size)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    refs = [m for m in ref.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    out = []
    for m, r in zip(bns, refs):
        z = (m.running_mean - r.running_mean).abs() / torch.sqrt(r.running_var + r.eps)
        out.append(float(z.median()))
    return out


def spread(layers: Sequence[np.ndarray]) -> list[float]:
    """The standard deviation of each layer's sigmoid inputs (one array per layer)."""
    return [float(np.std(a)) for a in layers]


def tail_fraction(layers: Sequence[np.ndarray], bound: float = 4.0) -> list[float]:
    """Per layer, the fraction of sigmoid inputs beyond ``±bound`` (at 4 the sigmoid's slope
    is below 0.018, under a fourteenth of its slope at 0)."""
    return [float(np.mean(np.abs(a) > bound)) for a in layers]


def unit_spread(layers: Sequence[np.ndarray]) -> list[float]:
    """Per layer, the standard deviation of each unit's input over the examples, averaged over
    the units: how much a unit's input varies from one example to the next (arrays are
    ``(examples, units)``)."""
    return [float(np.mean(np.std(a, axis=0))) for a in layers]


def relu_mlp(bn: bool, hidden: int = 100, depth: int = 3, n_in: int = 196) -> nn.Sequential:
    """The sweep's network with ReLU units and Kaiming initialization (N(0, 2 / fan_in)); with
    ``bn`` each hidden layer is ``ReLU(BN(W u))``."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = n_in
    for _ in range(depth):
        linear = nn.Linear(width, hidden, bias=not bn)
        nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        if linear.bias is not None:
            nn.init.zeros_(linear.bias)
        layers += [linear, nn.BatchNorm1d(hidden), nn.ReLU()] if bn else [linear, nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def bn_after_sigmoid_mlp(gain: float = 4.0, hidden: int = 100, depth: int = 3, n_in: int = 196):
    """:func:`scaled_sigmoid_mlp` with BN *after* each sigmoid (``BN(sigmoid(W u + b))``): BN
    then normalizes the next layer's input, and nothing normalizes what enters the sigmoids."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = n_in
    for _ in range(depth):
        linear = nn.Linear(width, hidden)
        nn.init.normal_(linear.weight, 0.0, gain / math.sqrt(width))
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.Sigmoid(), nn.BatchNorm1d(hidden)]
        width = hidden
    out = nn.Linear(width, 10)
    nn.init.normal_(out.weight, 0.0, gain / math.sqrt(width))
    nn.init.zeros_(out.bias)
    layers.append(out)
    return nn.Sequential(*layers)
