"""Optimizers the book needs and PyTorch does not ship: SGD with *decoupled* weight decay (SGDW).

PyTorch's ``torch.optim.SGD(weight_decay=λ)`` adds ``λ·w`` to the gradient before the momentum
buffer: it is an L2 penalty ``λ/2·Σw²`` and nothing else, with or without momentum. With
momentum ``μ`` that term is accumulated in the buffer like any gradient, so once the buffer has
built up each step removes about ``ηλ/(1−μ)`` of each weight, not ``ηλ``. :class:`SGDW`
(Loshchilov & Hutter 2019, Algorithm 1) keeps the decay out of the buffer: each step removes
exactly ``ηλ`` of each weight. Without momentum the two are the same algorithm.

Learning-rate convention: as in PyTorch's ``AdamW``, the decay here is multiplied by the
learning rate ``lr``. The paper multiplies it by a schedule multiplier ``η_t`` only (its
Algorithms 1 and 2 keep ``η_t`` separate from the step size ``α``): with a constant schedule the
paper's ``λ`` is this module's ``lr·λ``.
"""

from __future__ import annotations

import math

import torch

from ._validate import integer, real

__all__ = ["SGDW", "effective_decay", "measured_decay_per_step"]


class SGDW(torch.optim.Optimizer):
    """SGD with heavy-ball momentum and decoupled weight decay.

    For each parameter ``w`` with data gradient ``g`` (no penalty term in it):

    .. math::
        b \\leftarrow \\mu\\, b + g, \\qquad w \\leftarrow w - \\eta\\, b - \\eta\\lambda\\, w

    where the decay uses the weights from before the step, as in the paper. The buffer ``b`` is
    PyTorch's (no dampening), so with ``weight_decay=0`` this is ``torch.optim.SGD`` with the same
    ``lr`` and ``momentum``, and with ``momentum=0`` it is ``torch.optim.SGD(weight_decay=λ)``.

    Args:
        params: parameters or parameter groups (give biases their own group with
            ``weight_decay=0`` to leave them undecayed).
        lr: learning rate ``η > 0``.
        momentum: ``μ`` in ``[0, 1)``.
        weight_decay: ``λ >= 0``; each step multiplies the weights by ``1 − ηλ``.

    Raises:
        ValueError: for a non-positive ``lr``, a ``momentum`` outside ``[0, 1)`` or a negative
            ``weight_decay`` (in the constructor or in a group).
    """

    def __init__(self, params, lr=0.01, momentum=0.0, weight_decay=0.0):
        _check_hyper(lr, momentum, weight_decay)
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})
        for group in self.param_groups:
            _check_hyper(group["lr"], group["momentum"], group["weight_decay"])

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                d = w.grad
                if mu:
                    buf = self.state[w].get("momentum_buffer")
                    if buf is None:
                        buf = self.state[w]["momentum_buffer"] = d.clone()
                    else:
                        buf.mul_(mu).add_(d)
                    d = buf
                if wd:
                    w.mul_(1 - lr * wd)
                w.add_(d, alpha=-lr)
        return loss


def effective_decay(lr, weight_decay, momentum=0.0, decoupled=False) -> float:
    """The fraction of each weight one step removes, once the momentum buffer has built up.

    Decoupled decay (:class:`SGDW`, ``AdamW``) removes ``lr·λ``; an L2 term through a momentum
    buffer (``torch.optim.SGD(weight_decay=λ, momentum=μ)``) removes about ``lr·λ/(1−μ)``, the
    slow rate of the heavy-ball recurrence for small ``lr·λ``.
    """
    lr = real("lr", lr, positive=True)
    weight_decay = real("weight_decay", weight_decay, minimum=0.0)
    momentum = real("momentum", momentum, minimum=0.0)
    if momentum >= 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}.")
    return lr * weight_decay if decoupled else lr * weight_decay / (1 - momentum)


def measured_decay_per_step(make_optimizer, steps: int = 400, size: int = 4) -> float:
    """Measure the fraction of a weight an optimizer removes per step when the data gradient is 0.

    ``make_optimizer(params) -> optimizer`` is called on one weight vector of ones; the vector
    gets a zero gradient at every step, so only the decay acts. The rate is read over the second
    half of the run (after the momentum buffer's transient): ``1 − (w_T / w_{T/2})^(2/T)``.
    """
    steps = integer("steps", steps, 4)
    size = integer("size", size, 1)
    w = torch.nn.Parameter(torch.ones(size, dtype=torch.float64))
    opt = make_optimizer([w])
    half = None
    for t in range(steps):
        w.grad = torch.zeros_like(w)
        opt.step()
        if t + 1 == steps // 2:
            half = float(w.detach()[0])
    end = float(w.detach()[0])
    if not (half > 0 and end > 0):
        raise ValueError(
            f"the weight left (0, 1) under this optimizer (w = {half} then {end}): use a smaller "
            "lr * weight_decay"
        )
    return 1 - math.exp(math.log(end / half) / (steps - steps // 2))


# --------------------------------------------------------------------------- private helpers


def _check_hyper(lr, momentum, weight_decay):
    real("lr", lr, positive=True)
    m = real("momentum", momentum, minimum=0.0)
    if m >= 1:
        raise ValueError(f"momentum must be in [0, 1), got {m}: a buffer with μ >= 1 never decays.")
    real("weight_decay", weight_decay, minimum=0.0)
