"""The ReLU-against-tanh race of AlexNet's Figure 1 (``chapters/02_alexnet/02_relu``).

The paper trained one four-layer convolutional network twice, with ReLU and with tanh units,
each at the learning rate that trained it fastest, and counted the steps to 25% training error.
:func:`steps_to_error` runs one such race with plain SGD and stops as soon as the target is
reached; :func:`race` repeats it over a grid of learning rates and several seeds and keeps, for
each activation, the rate that is fastest on average; :func:`plain_cnn` builds the deeper plain
networks of the depth sweep.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import runtime

__all__ = ["Race", "plain_cnn", "race", "steps_to_error"]

_ACTS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def steps_to_error(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    target: float = 0.25,
    max_steps: int = 500,
    batch_size: int = 32,
    window: int = 20,
    seed: int = 0,
) -> tuple[int | None, np.ndarray]:
    """Train with plain SGD until the training error reaches ``target``.

    The training error is the error on the training batches, averaged over the last ``window``
    steps (as the paper's curves are). Batches are drawn without replacement, reshuffled every
    epoch, in an order fixed by ``seed``.

    Returns:
        ``(steps, errors)``: the first step at which the averaged error is at most ``target``
        (``None`` if it is not reached within ``max_steps`` or the loss diverges), and the
        per-step batch errors up to that step.
    """
    if not 0 < target < 1:
        raise ValueError(f"target must be an error rate in (0, 1), got {target!r}")
    if max_steps < window or window < 1:
        raise ValueError(f"need 1 <= window <= max_steps, got {window=}, {max_steps=}")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    model.train()
    n = len(x)
    perm, pos = torch.randperm(n, generator=gen), 0
    errors: list[float] = []
    for step in range(1, max_steps + 1):
        if pos + batch_size > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos : pos + batch_size].to(x.device)
        pos += batch_size
        out = model(x[idx])
        loss = F.cross_entropy(out, y[idx])
        if not torch.isfinite(loss):
            return None, np.asarray(errors)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        errors.append(float((out.argmax(1) != y[idx]).float().mean()))
        if step >= window and np.mean(errors[-window:]) <= target:
            return step, np.asarray(errors)
    return None, np.asarray(errors)


@dataclass
class Race:
    """Steps to the target for each activation, learning rate and seed.

    ``steps[act][lr]`` is a list over seeds (``None`` = not reached within ``max_steps``).
    """

    steps: dict
    max_steps: int
    seeds: tuple

    def mean_steps(self, act: str, lr: float) -> float:
        """Mean steps over seeds; ``inf`` if any seed did not reach the target."""
        s = self.steps[act][lr]
        return math.inf if any(v is None for v in s) else float(np.mean(s))

    def best_lr(self, act: str) -> float:
        """The rate with the fewest mean steps (ties: the smaller rate)."""
        rates = sorted(self.steps[act])
        return min(rates, key=lambda lr: (self.mean_steps(act, lr), lr))

    def best(self, act: str) -> list:
        """Per-seed steps at the activation's fastest rate."""
        return self.steps[act][self.best_lr(act)]

    def reached(self, act: str) -> bool:
        return math.isfinite(self.mean_steps(act, self.best_lr(act)))

    def merged(self, other: Race) -> Race:
        """This race and ``other`` (run on the same seeds and step budget) as one.

        Lets a notebook add an activation to a race already run, without rerunning it.

        Raises:
            ValueError: when the seeds or ``max_steps`` differ, or an activation is in both.
        """
        if tuple(other.seeds) != tuple(self.seeds) or other.max_steps != self.max_steps:
            raise ValueError(
                f"can only merge races over the same seeds and max_steps, got seeds "
                f"{self.seeds} / {other.seeds} and max_steps {self.max_steps} / {other.max_steps}"
            )
        both = set(self.steps) & set(other.steps)
        if both:
            raise ValueError(f"activations {sorted(both)} are in both races; rename one")
        return Race({**self.steps, **other.steps}, self.max_steps, self.seeds)

    def ratio(self, slow: str = "tanh", fast: str = "relu") -> float:
        """Mean steps of ``slow`` over mean steps of ``fast``, each at its fastest rate.

        ``inf`` when only ``fast`` reaches the target, ``0`` when only ``slow`` does, ``nan``
        when neither does.
        """
        a, b = self.mean_steps(slow, self.best_lr(slow)), self.mean_steps(fast, self.best_lr(fast))
        if math.isinf(a) and math.isinf(b):
            return math.nan
        if math.isinf(b):
            return 0.0
        return a / b


def race(
    build: Callable[[str], nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    rates: dict,
    seeds: Sequence[int] = (0, 1, 2),
    target: float = 0.25,
    max_steps: int = 500,
    batch_size: int = 32,
    window: int = 20,
    progress: Callable[[str], None] | None = None,
    skip_after_failure: bool = False,
) -> Race:
    """Run :func:`steps_to_error` for every activation in ``rates`` (``{act: [lr, ...]}``).

    ``build(act)`` returns a fresh network; it is called after seeding with the run's seed, so
    seed *i* gives every network its own repeatable initialisation and the same batch order.

    ``skip_after_failure=True`` stops trying a rate once one seed has failed to reach the target:
    such a rate can no longer be the fastest (:meth:`Race.mean_steps` is then ``inf``), so the
    choice of rate is unchanged and the skipped seeds are recorded as ``None``.
    """
    steps: dict = {}
    for act, lrs in rates.items():
        steps[act] = {}
        for lr in lrs:
            per_seed: list = []
            for seed in seeds:
                if skip_after_failure and None in per_seed:
                    per_seed.append(None)
                    continue
                runtime.seed_everything(seed)
                model = build(act).to(x.device)
                s, _ = steps_to_error(
                    model,
                    x,
                    y,
                    lr=lr,
                    target=target,
                    max_steps=max_steps,
                    batch_size=batch_size,
                    window=window,
                    seed=seed,
                )
                per_seed.append(s)
                if progress is not None:
                    progress(f"{act} lr={lr} seed {seed}: {s if s else 'not reached'}")
            steps[act][lr] = per_seed
    return Race(steps, max_steps, tuple(seeds))


def plain_cnn(activation: str, depth: int, width: int = 8, input_size: int = 28) -> nn.Sequential:
    """A plain stack of ``depth`` 3×3 convolutions without normalization, then a linear layer.

    One 2×2 max pooling after the first convolution; each activation gets the initialisation
    made for it (He for ReLU, Glorot with tanh's gain 5/3 for tanh, Glorot for the sigmoid),
    zero biases, so that depth, not a bad scale, is what changes.

    Shape:
        - Input: ``(N, 1, input_size, input_size)`` (``input_size`` even)
        - Output: ``(N, 10)``
    """
    if activation not in _ACTS:
        raise ValueError(f"activation must be one of {sorted(_ACTS)}, got {activation!r}")
    if depth < 1 or width < 1 or input_size < 2 or input_size % 2:
        raise ValueError(f"need depth, width >= 1 and an even input_size, got {depth=}, {width=}")
    layers: list[nn.Module] = []
    c = 1
    for i in range(depth):
        conv = nn.Conv2d(c, width, 3, padding=1)
        if activation == "relu":
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
        else:
            nn.init.xavier_normal_(conv.weight, gain=nn.init.calculate_gain(activation))
        nn.init.zeros_(conv.bias)
        layers += [conv, _ACTS[activation]()]
        if i == 0:
            layers.append(nn.MaxPool2d(2))
        c = width
    layers += [nn.Flatten(), nn.Linear(width * (input_size // 2) ** 2, 10)]
    return nn.Sequential(*layers)
