"""The batch-normalization chapter's experiments: a recorder for the inputs of the sigmoids and
the training loop that uses it, seeded sweeps over learning rates and the readings they are
judged by (which rates train, steps to an accuracy), the paper's Algorithm 2 (population
statistics computed after training) against running averages of several momenta, and the
batch-size comparison of batch and group normalization.

The networks live in :mod:`dlparts.models` (:func:`~dlparts.models.sigmoid_mlp`, the paper's
Figure 1 network, and :class:`~dlparts.models.SmallConvNet`).

Example::

    d = mnist_split(4000, 0, 1000)
    run = train_mlp(sigmoid_mlp(bn=True), d, steps=3000, lr=0.5)
    run.hist.first_step_reaching("val_acc", 0.9), run.percentiles[-1]

    small = downsample(d)
    hists = sweep(lambda: scaled_sigmoid_mlp(bn=True), small, lrs=(0.5, 8.0), seeds=3, steps=200)
    rates_that_train(hists, (0.5, 8.0), 3)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import _validate
from ..models.mlp import SmallConvNet, sigmoid_mlp
from ..runtime import seed_everything
from ..train import History, fit

__all__ = [
    "PERCENTILES",
    "TRAINS_AT",
    "MLPRun",
    "RunningStats",
    "SmallConvNet",
    "accuracy_in_train_mode",
    "bn_after_sigmoid_mlp",
    "downsample",
    "final_acc",
    "finals",
    "fit_steps",
    "norm_batch_sweep",
    "population_statistics",
    "rates_that_train",
    "relu_mlp",
    "running_stat_lag",
    "scaled_sigmoid_mlp",
    "sigmoid_inputs",
    "sigmoid_mlp",
    "spread",
    "steps_to",
    "sweep",
    "tail_fraction",
    "train_mlp",
    "unit_spread",
    "verdict",
]

PERCENTILES = (15, 50, 85)

TRAINS_AT = 0.5
"""A run *trains* when its final test accuracy reaches this (chance is 0.1 on ten digits)."""


def fit_steps(
    model: nn.Module,
    data: dict,
    *,
    steps: int,
    optimizer,
    batch_size: int = 60,
    eval_every: int | None = None,
    seed: int = 0,
    device=None,
    progress: bool = True,
    desc: str = "training",
    on_step=None,
) -> History:
    """Train ``model`` for exactly ``steps`` optimizer steps of ``batch_size`` on ``data`` (a
    :func:`dlparts.data.mnist_split` dict), as many epochs as that takes, evaluating on the
    test digits every ``eval_every`` steps (``None``: only at the end). The one training loop
    of this chapter's experiments; ``seed`` fixes the batch order."""
    steps = _validate.integer("steps", steps, 1)
    batch_size = _validate.integer("batch_size", batch_size, 1)
    return fit(
        model,
        (data["x_train"], data["y_train"]),
        val=(data["x_test"], data["y_test"]),
        epochs=steps * batch_size // len(data["x_train"]) + 1,
        max_steps=steps,
        batch_size=batch_size,
        optimizer=optimizer,
        eval_every=eval_every or steps,
        on_step=on_step,
        seed=seed,
        device=device,
        progress=progress,
        desc=desc,
    )


@torch.no_grad()
def sigmoid_inputs(
    model: nn.Module, x: torch.Tensor, batch_stats: bool = True
) -> list[torch.Tensor]:
    """The inputs of every ``nn.Sigmoid`` (or ``nn.ReLU``) in ``model`` for the batch ``x``: a
    list of ``(N, units)`` tensors.

    With ``batch_stats`` (the default) batch normalization uses the statistics of ``x`` itself,
    as in training, so the result is the distribution a training step sees; the running
    statistics are left unchanged. Otherwise the model runs in evaluation mode. Either way its
    mode is restored.
    """
    acts = [m for m in model.modules() if isinstance(m, (nn.Sigmoid, nn.ReLU))]
    seen: list[torch.Tensor] = []
    hooks = [
        m.register_forward_hook(lambda _m, inp, _o: seen.append(inp[0].detach())) for m in acts
    ]
    was_training = model.training
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    model.train(batch_stats)
    try:
        model(x)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
        for k, v in model.named_buffers():
            v.copy_(buffers[k])
    return [s.flatten(1) for s in seen]


@dataclass
class MLPRun:
    """One training run: fit's ``hist``; ``record_step`` with, per recorded step, the 15th, 50th
    and 85th percentiles of one sigmoid's input over the test digits (``percentiles``,
    ``(steps, 3)``); and ``snapshots``: at a few steps, the inputs of every hidden layer's
    sigmoids for ``probe`` digits (a list over steps of lists over layers of ``(probe, units)``
    arrays)."""

    hist: History
    record_step: list = field(default_factory=list)
    percentiles: np.ndarray | None = None
    snapshot_step: list = field(default_factory=list)
    snapshots: list = field(default_factory=list)
    lr: float = 0.0
    bn: bool = False


def train_mlp(
    model: nn.Module,
    data: dict,
    *,
    steps: int,
    lr: float,
    batch_size: int = 60,
    eval_every: int = 50,
    unit: tuple[int, int] = (2, 0),
    n_snapshots: int = 0,
    probe: int = 200,
    seed: int = 0,
    device=None,
    progress: bool = True,
    desc: str = "training",
) -> MLPRun:
    """Train with plain SGD (``lr``, ``batch_size``) for ``steps`` steps on ``data`` (a
    :func:`dlparts.data.mnist_split` dict), evaluating test accuracy every ``eval_every`` steps.
    The sigmoid inputs are recorded as a training step would see them (batch statistics of the
    test digits, see :func:`sigmoid_inputs`).

    ``unit = (layer, index)`` picks the sigmoid whose input distribution is recorded at every
    evaluation (layer 2 is the last of three hidden layers). ``n_snapshots`` > 0 also keeps the
    inputs of all sigmoids for the first ``probe`` test digits at that many evenly spaced steps
    (step 0 included).
    """
    from ..runtime import device as default_device

    dev = device or default_device()
    model.to(dev)
    x_test = data["x_test"].to(dev)
    layer, index = unit
    run = MLPRun(
        hist=History(), lr=lr, bn=any(isinstance(m, nn.BatchNorm1d) for m in model.modules())
    )
    pct: list = []
    snap_at = set()
    if n_snapshots > 0:
        snap_at = {int(round(s)) for s in np.linspace(0, steps, n_snapshots)}

    def record(step, m):
        if step % eval_every == 0 or step == steps:
            inputs = sigmoid_inputs(m, x_test)
            v = inputs[layer][:, index].float().cpu().numpy()
            run.record_step.append(step)
            pct.append(np.percentile(v, PERCENTILES))
        if step in snap_at:
            inputs = sigmoid_inputs(m, x_test[:probe])
            run.snapshot_step.append(step)
            run.snapshots.append([a.float().cpu().numpy() for a in inputs])

    record(0, model)
    run.hist = fit_steps(
        model,
        data,
        steps=steps,
        batch_size=batch_size,
        optimizer=torch.optim.SGD(model.parameters(), lr=lr),
        eval_every=eval_every,
        on_step=record,
        seed=seed,
        device=dev,
        progress=progress,
        desc=desc,
    )
    run.percentiles = np.array(pct)
    return run


def downsample(data: dict, factor: int = 2) -> dict:
    """The same split with every image averaged over ``factor × factor`` blocks (28×28 digits
    become 14×14): a smaller problem that trains in fewer steps. Labels are unchanged."""
    if factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    return {
        k: F.avg_pool2d(v, factor) if k.startswith("x") and v.ndim == 4 else v
        for k, v in data.items()
    }


def scaled_sigmoid_mlp(
    bn: bool, gain: float = 4.0, in_features: int = 196, **kwargs
) -> nn.Sequential:
    """:func:`dlparts.models.sigmoid_mlp` with every weight drawn from
    N(0, gain² / fan_in) instead of one fixed σ.

    A sigmoid's slope is at most 1/4, so ``gain = 4`` keeps the spread of the inputs about the
    same from layer to layer at initialization: the network without BN starts to learn at once
    instead of sitting on a plateau, and a learning-rate comparison measures the rate alone.
    """
    if gain <= 0:
        raise ValueError(f"gain must be positive, got {gain}")
    model = sigmoid_mlp(bn=bn, in_features=in_features, **kwargs)
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
            out[lr, seed] = fit_steps(
                model,
                data,
                steps=steps,
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
    bns = _bns(model)
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
    ref = population_statistics(copy.deepcopy(model), x, batch_size)
    out = []
    for m, r in zip(_bns(model), _bns(ref)):
        z = (m.running_mean - r.running_mean).abs() / torch.sqrt(r.running_var + r.eps)
        out.append(float(z.median()))
    return out


class RunningStats:
    """Running averages of every BN layer's batch statistics at several momenta, kept beside
    the layers' own during training.

    In training mode a BN layer normalizes with the batch's statistics whatever its
    ``momentum``: the momentum only decides which running averages evaluation mode will use.
    So one training run can show what every momentum would have given. Attach before training
    (forward pre-hooks on each BN layer update, for each momentum, the average of the batch
    mean and of the unbiased batch variance with PyTorch's rule), then :meth:`apply` one set to
    a copy of the trained model. Call :meth:`remove` once training is over, so that later
    training-mode passes (forgetting ``eval()``, :func:`population_statistics`) are not
    counted; a deep copy of the model is never tracked.

    Example::

        stats = RunningStats(model, momenta=(0.1, 0.01))
        fit(model, ...)
        stats.remove()
        slow = stats.apply(copy.deepcopy(model), 0.01)  # evaluation mode with momentum 0.01
    """

    def __init__(self, model: nn.Module, momenta: Sequence[float] = (0.1, 0.01, 0.001)):
        self.momenta = tuple(
            _validate.real("momentum", m, minimum=0.0, maximum=1.0) for m in momenta
        )
        if not self.momenta or any(m == 0 for m in self.momenta):
            raise ValueError(
                f"momenta must be one or more rates in (0, 1], got {tuple(momenta)}: a momentum "
                "of 0 never moves the average from its start."
            )
        self.layers = _bns(model)
        if not self.layers:
            raise ValueError("the model has no batch-normalization layer to track")
        self.mean = {
            m: [torch.zeros_like(b.running_mean) for b in self.layers] for m in self.momenta
        }
        self.var = {m: [torch.ones_like(b.running_var) for b in self.layers] for m in self.momenta}
        self.steps = 0
        self._hooks = [
            layer.register_forward_pre_hook(self._hook(i)) for i, layer in enumerate(self.layers)
        ]

    def _hook(self, i):
        @torch.no_grad()
        def update(module, inputs):
            # a deep copy of the model shares this hook: only the tracked layer counts
            if not module.training or module is not self.layers[i]:
                return
            x = inputs[0]
            dims = [0] + list(range(2, x.ndim))
            n = x.numel() // x.shape[1]
            mean = x.mean(dim=dims)
            var = x.var(dim=dims, unbiased=False) * (n / max(n - 1, 1))
            for m in self.momenta:
                self.mean[m][i].mul_(1 - m).add_(m * mean)
                self.var[m][i].mul_(1 - m).add_(m * var)
            if i == 0:
                self.steps += 1

        return update

    def remove(self) -> None:
        """Detach the hooks (the averages are kept)."""
        for h in self._hooks:
            h.remove()
        self._hooks = []

    @torch.no_grad()
    def apply(self, model: nn.Module, momentum: float) -> nn.Module:
        """Load the averages kept at ``momentum`` into ``model``'s BN layers (``model`` is a
        copy of the tracked one: same layers in the same order); returns it in evaluation mode."""
        if momentum not in self.mean:
            raise ValueError(f"momentum {momentum} was not tracked; tracked: {self.momenta}")
        layers = _bns(model)
        if len(layers) != len(self.layers):
            raise ValueError(
                f"the model has {len(layers)} BN layers, the tracked one {len(self.layers)}: "
                "apply the statistics to a copy of the tracked model"
            )
        for layer, mean, var in zip(layers, self.mean[momentum], self.var[momentum]):
            layer.running_mean.copy_(mean)
            layer.running_var.copy_(var)
        return model.eval()


@torch.no_grad()
def accuracy_in_train_mode(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, sort_by_class=False
) -> tuple[float, bool]:
    """Test accuracy as if ``model.eval()`` had been forgotten: the test digits in batches of
    ``batch_size`` (in class order with ``sort_by_class``), each normalized with its own
    statistics. Returns ``(accuracy, changed)``, ``changed`` telling whether those forward
    passes rewrote the running statistics; the model's state and mode are restored."""
    batch_size = _validate.integer("batch_size", batch_size, 1)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    was_training = model.training
    order = (
        torch.argsort(y.cpu(), stable=True).to(y.device)
        if sort_by_class
        else torch.arange(len(y), device=y.device)
    )
    model.train()
    correct = 0
    try:
        for i in range(0, len(y), batch_size):
            idx = order[i : i + batch_size]
            correct += int((model(x[idx]).argmax(1) == y[idx]).sum())
        changed = any(not torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    finally:
        model.load_state_dict(state)  # undo the running-statistics updates this caused
        model.train(was_training)
    return correct / len(y), changed


def norm_batch_sweep(
    make_model: Callable[[str], nn.Module],
    data: dict,
    *,
    norms: Sequence[str] = ("batch", "group"),
    batch_sizes: Sequence[int] = (2, 32),
    seeds: int = 3,
    images: int = 4000,
    lr: float = 0.05,
    lr_batch: int = 32,
    momentum: float = 0.9,
    device=None,
    desc: str = "",
) -> dict:
    """Train ``make_model(norm)`` for every normalization in ``norms`` at every batch size,
    seeds ``0 .. seeds-1``, and return ``{(norm, batch_size): [test accuracy per seed]}``, the
    accuracy measured in evaluation mode (BN with its running averages).

    Every run sees the same number of training ``images`` (so a batch of 2 takes 16 times the
    steps of a batch of 32), with SGD (``momentum``) at the learning rate scaled linearly with
    the batch, ``lr · batch_size / lr_batch`` (Wu and He's rule, after Goyal et al.). Seed *s*
    fixes the initialization and the order of the images, so runs with one seed are paired."""
    seeds = _validate.integer("seeds", seeds, 1)
    images = _validate.integer("images", images, 1)
    lr = _validate.real("lr", lr, positive=True)
    lr_batch = _validate.integer("lr_batch", lr_batch, 1)
    from ..runtime import device as default_device

    dev = device or default_device()
    out: dict = {}
    for norm in norms:
        for bs in batch_sizes:
            bs = _validate.integer("batch size", bs, 1)
            out[norm, bs] = []
            for seed in range(seeds):
                seed_everything(seed)
                model = make_model(norm).to(dev)
                rate = lr * bs / lr_batch
                hist = fit_steps(
                    model,
                    data,
                    steps=max(1, images // bs),
                    batch_size=bs,
                    optimizer=torch.optim.SGD(model.parameters(), lr=rate, momentum=momentum),
                    seed=seed,
                    device=dev,
                    desc=f"{desc} {norm} norm, batch {bs}, seed {seed}".strip(),
                )
                # fit evaluates the test digits at the end, in evaluation mode
                out[norm, bs].append(hist.val_acc[-1] if hist.val_acc else 0.0)
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


def relu_mlp(bn: bool, hidden: int = 100, depth: int = 3, in_features: int = 196) -> nn.Sequential:
    """The sweep's network with ReLU units and Kaiming initialization (N(0, 2 / fan_in)); with
    ``bn`` each hidden layer is ``ReLU(BN(W u))``."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for _ in range(depth):
        linear = nn.Linear(width, hidden, bias=not bn)
        nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        if linear.bias is not None:
            nn.init.zeros_(linear.bias)
        layers += [linear, nn.BatchNorm1d(hidden), nn.ReLU()] if bn else [linear, nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def bn_after_sigmoid_mlp(
    gain: float = 4.0, hidden: int = 100, depth: int = 3, in_features: int = 196
):
    """:func:`scaled_sigmoid_mlp` with BN *after* each sigmoid (``BN(sigmoid(W u + b))``): BN
    then normalizes the next layer's input, and nothing normalizes what enters the sigmoids."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
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


# --------------------------------------------------------------------------- private helpers


def _bns(model: nn.Module) -> list:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
