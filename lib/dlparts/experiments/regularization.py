"""Chapter 4's experiments: small regularized MLPs trained to convergence, over seeds.

The notebooks compare regularizers on one small problem (a slice of the shipped MNIST digits,
a small ReLU network, enough epochs for every variant to finish fitting) and repeat each run
over several seeds, so that a difference is read against its noise with
:func:`dlparts.claims.compare`. Everything here is plain PyTorch on tensors already in memory:
a run is a few seconds on one CPU thread.

Weight decay always goes through parameter groups: weight matrices (``ndim >= 2``) are
decayed, biases are not (see :func:`dlparts.regularize.weight_params`), and the L1 penalty
acts on the same weight matrices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import runtime
from .._validate import real
from ..augment import RandomShiftRotate
from ..models.mlp import mlp
from ..regularize import penalty
from ..scratch.losses import softmax_loss, svm_loss

__all__ = [
    "fit_linear",
    "generalization_gap",
    "RunResult",
    "param_groups",
    "train_mlp",
    "run_configs",
    "ablation_curve",
    "last_hidden",
    "silence_units",
    "unit_ablation",
    "sgdw_step_equals_l2",
]


def param_groups(model: nn.Module, weight_decay: float):
    """Two optimizer groups: weight matrices with ``weight_decay``, biases (ndim < 2) without."""
    ws = [p for p in model.parameters() if p.ndim >= 2]
    bs = [p for p in model.parameters() if p.ndim < 2]
    return [{"params": ws, "weight_decay": weight_decay}, {"params": bs, "weight_decay": 0.0}]


@torch.no_grad()
def accuracy(model: nn.Module, x, y, batch_size: int = 1000) -> float:
    """Accuracy of ``model`` on ``(x, y)`` in eval mode (the mode is restored); NaN when empty."""
    if len(x) == 0:
        return float("nan")
    was = model.training
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += int((model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum())
    model.train(was)
    return correct / len(x)


@dataclass
class RunResult:
    """One training run: final accuracies and the trained model."""

    train_acc: float
    val_acc: float
    test_acc: float
    model: nn.Module = field(repr=False)
    train_curve: list = field(default_factory=list, repr=False)
    val_curve: list = field(default_factory=list, repr=False)

    @property
    def gap(self) -> float:
        """Training accuracy minus validation accuracy."""
        return self.train_acc - self.val_acc


def train_mlp(
    data: dict,
    *,
    hidden=(128,),
    epochs: int = 60,
    lr: float = 0.05,
    momentum: float = 0.9,
    batch_size: int = 50,
    weight_decay: float = 0.0,
    l1: float = 0.0,
    p_input: float = 0.0,
    p_hidden: float = 0.0,
    augment: RandomShiftRotate | None = None,
    seed: int = 0,
    curve_every: int = 0,
) -> RunResult:
    """Train a ReLU MLP on ``data`` (a :func:`dlparts.data.mnist_split` dict) with SGD + momentum.

    Weight decay goes to weight matrices only (parameter groups); ``l1`` adds
    ``l1 * sum|w|`` over the same matrices to the loss. ``augment`` transforms each training
    batch. ``seed`` fixes the initialisation, the batch order and the dropout masks.
    ``curve_every > 0`` records training and validation accuracy every that many epochs.

    The run uses one CPU thread (:func:`dlparts.runtime.limit_threads`): the layers are too
    small to gain from more, and a second thread stalls when another program holds a core.
    The numbers are then the same whatever the thread count of the kernel.

    Returns:
        a :class:`RunResult` (accuracies measured in eval mode, on unaugmented digits).
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"need epochs >= 1 and batch_size >= 1, got {epochs=}, {batch_size=}")
    with runtime.limit_threads(1):
        torch.manual_seed(seed)
        x, y = data["x_train"], data["y_train"]
        net = mlp(hidden, p_input=p_input, p_hidden=p_hidden).to(x.device)
        opt = torch.optim.SGD(param_groups(net, weight_decay), lr=lr, momentum=momentum)
        weights = [p for p in net.parameters() if p.ndim >= 2]
        g = torch.Generator().manual_seed(seed)
        n = len(x)
        tc, vc = [], []
        for epoch in range(epochs):
            net.train()
            order = torch.randperm(n, generator=g).to(x.device)
            for i in range(0, n, batch_size):
                idx = order[i : i + batch_size]
                xb = x[idx]
                if augment is not None:
                    xb = augment(xb)
                loss = F.cross_entropy(net(xb), y[idx])
                if l1:
                    loss = loss + l1 * sum(w.abs().sum() for w in weights)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            if curve_every and ((epoch + 1) % curve_every == 0 or epoch + 1 == epochs):
                tc.append(accuracy(net, x, y))
                vc.append(accuracy(net, data["x_val"], data["y_val"]))
        return RunResult(
            train_acc=accuracy(net, x, y),
            val_acc=accuracy(net, data["x_val"], data["y_val"]),
            test_acc=accuracy(net, data["x_test"], data["y_test"]),
            model=net,
            train_curve=tc,
            val_curve=vc,
        )


def run_configs(
    data_for_seed, configs: dict, seeds, progress=None, keep_models=False, **common
) -> dict:
    """Train every configuration on every seed.

    Args:
        data_for_seed: ``f(seed) -> data dict`` (each seed may draw its own training slice).
        configs: name -> keyword arguments for :func:`train_mlp` (``augment=True`` builds a
            ``RandomShiftRotate(2, 10, seed=seed)``).
        seeds: the seeds; run *i* of every configuration uses seed ``seeds[i]`` (paired).
        progress: optional ``f(iterable, desc) -> iterable`` (e.g. a progress bar).
        common: keyword arguments shared by all configurations.

    Returns:
        name -> list of :class:`RunResult`, one per seed (the models of seeds after the first
        are dropped to save memory unless ``keep_models``).
    """
    out = {name: [] for name in configs}
    seeds = list(seeds)
    it = seeds if progress is None else progress(seeds, "seeds")
    for s in it:
        data = data_for_seed(s)
        for name, cfg in configs.items():
            kw = {**common, **cfg}
            if kw.get("augment") is True:
                kw["augment"] = RandomShiftRotate(2, 10, seed=s)
            elif not kw.get("augment"):
                kw["augment"] = None
            r = train_mlp(data, seed=s, **kw)
            if s != seeds[0] and not keep_models:
                r.model = None
            out[name].append(r)
    return out


@torch.no_grad()
def last_hidden(net: nn.Module, x):
    """The last hidden layer's ReLU activations of an :func:`~dlparts.models.mlp.mlp` (eval
    mode, no dropout) and the output layer: ``(h, out_linear)``."""
    linears = _hidden_linears(net)
    if len(linears) < 2:
        raise ValueError("the net has no hidden layer")
    h = x.flatten(1)
    for lin in linears[:-1]:
        h = torch.relu(lin(h))
    return h, linears[-1]


@torch.no_grad()
def silence_units(net: nn.Module, x, y, units) -> float:
    """Accuracy of ``net`` with the given units of its last hidden layer set to zero (eval
    mode, the other units left as they are: no rescaling)."""
    h, out = last_hidden(net, x)
    mask = torch.ones(h.shape[1], device=h.device)
    if len(units):
        mask[torch.as_tensor(list(units), dtype=torch.long, device=h.device)] = 0.0
    return float((out(h * mask).argmax(1) == y).float().mean())


@torch.no_grad()
def unit_ablation(net: nn.Module, x, y) -> np.ndarray:
    """Accuracy lost when each unit of the last hidden layer is removed on its own.

    Removing unit ``k`` subtracts ``h_k · W[:, k]`` from the logits, so all units are done in
    one pass. Returns an array of length ``width``: full accuracy minus the accuracy without
    that unit (positive = the unit mattered).
    """
    h, out = last_hidden(net, x)
    logits = out(h)
    full = (logits.argmax(1) == y).float().mean()
    drops = []
    for k in range(h.shape[1]):
        lk = logits - h[:, k : k + 1] * out.weight[:, k][None]
        drops.append(float(full - (lk.argmax(1) == y).float().mean()))
    return np.array(drops)


def ablation_curve(net: nn.Module, rank_data, eval_data, counts) -> dict:
    """Accuracy lost on ``eval_data`` when the ``m`` most important units are removed together.

    The units of the last hidden layer are ranked by :func:`unit_ablation` on ``rank_data``
    (e.g. validation digits), then silenced on ``eval_data`` (e.g. test digits), so the
    ranking is not fitted to the digits it is measured on.

    Returns:
        ``{m: accuracy lost}`` for every ``m`` in ``counts``.
    """
    order = np.argsort(-unit_ablation(net, *rank_data), kind="stable")
    full = silence_units(net, *eval_data, [])
    return {m: full - silence_units(net, *eval_data, order[:m].tolist()) for m in counts}


def sgdw_step_equals_l2(momentum: float, steps: int = 20, lam: float = 0.01, seed: int = 0):
    """Largest weight difference between SGD + L2 penalty (``λ/2·Σw²``, i.e. torch's
    ``weight_decay=λ``) and decoupled SGDW (``w ← w − ηλw`` outside the momentum buffer),
    trained on the same random regression problem.

    Equal for ``momentum == 0``; different once momentum carries the decay term.
    """
    g = torch.Generator().manual_seed(seed)
    x, t = torch.randn(32, 5, generator=g), torch.randn(32, 1, generator=g)
    w0 = torch.randn(5, 1, generator=g)
    lr = 0.05

    def grad(w):
        return 2 * x.T @ (x @ w - t) / len(x)

    wa, wb = w0.clone(), w0.clone()
    va, vb = torch.zeros_like(w0), torch.zeros_like(w0)
    for _ in range(steps):
        va = momentum * va + grad(wa) + lam * wa  # L2 through the momentum buffer
        wa = wa - lr * va
        vb = momentum * vb + grad(wb)  # SGDW: decay outside the buffer
        wb = wb - lr * vb - lr * lam * wb
    return float((wa - wb).abs().max())


def fit_linear(
    x_train,
    y_train,
    *,
    loss="svm",
    l1=0.0,
    l2=0.0,
    lr=0.1,
    steps=300,
    val=None,
    seed=0,
    eval_every=10,
):
    """Train a linear classifier ``scores = x @ W + b`` by full-batch gradient descent, in NumPy.

    The lecture's setting: a data loss (``"svm"``: :func:`~dlparts.scratch.losses.svm_loss`, or
    ``"softmax"``) plus ``R(W)`` from :func:`dlparts.regularize.penalty`. The L1 part uses a proximal step
    (soft-thresholding), so weights it drives to zero are exactly zero, as in the lasso.

    Args:
        x_train: ``(N, D)`` features; y_train: ``(N,)`` labels.
        val: optional ``(x_val, y_val)`` evaluated every ``eval_every`` steps.

    Returns:
        dict with ``W`` ``(D, C)``, ``b`` ``(C,)``, and lists ``step``, ``loss``, ``train_acc``,
        ``val_acc``.
    """
    if loss not in ("svm", "softmax"):
        raise ValueError(f"loss must be 'svm' or 'softmax', got {loss!r}")
    l1 = real("l1", l1, minimum=0.0)
    l2 = real("l2", l2, minimum=0.0)
    x = np.asarray(x_train, dtype=np.float64).reshape(len(x_train), -1)
    y = np.asarray(y_train)
    c = int(y.max()) + 1 if val is None else int(max(y.max(), np.max(val[1]))) + 1
    rng = np.random.default_rng(seed)
    W = 0.001 * rng.standard_normal((x.shape[1], c))
    b = np.zeros(c)
    loss_fn = svm_loss if loss == "svm" else softmax_loss
    xv = None if val is None else np.asarray(val[0], dtype=np.float64).reshape(len(val[0]), -1)
    out = {"step": [], "loss": [], "train_acc": [], "val_acc": []}
    for step in range(1, steps + 1):
        scores = x @ W + b
        data_loss, dscores = loss_fn(scores, y)
        r, dR = penalty(W, 0.0, l2)
        W -= lr * (x.T @ dscores + dR)
        b -= lr * dscores.sum(0)
        if l1:  # proximal step for the L1 part: soft-threshold by lr * l1
            W = np.sign(W) * np.maximum(np.abs(W) - lr * l1, 0.0)
        if step % eval_every == 0 or step == steps:
            out["step"].append(step)
            out["loss"].append(data_loss + r + l1 * np.abs(W).sum())
            out["train_acc"].append(float(np.mean((x @ W + b).argmax(1) == y)))
            if xv is not None:
                out["val_acc"].append(float(np.mean((xv @ W + b).argmax(1) == np.asarray(val[1]))))
    out["W"], out["b"] = W, b
    return out


def generalization_gap(hist):
    """``(train accuracy, validation accuracy, gap)`` at the end of a :func:`dlparts.train.fit`
    run made with ``eval_train=True`` and ``val=...``."""
    if not hist.train_eval_acc or not hist.val_acc:
        raise ValueError(
            "the run recorded no train/val accuracy; call fit(..., val=..., eval_train=True)"
        )
    tr, va = hist.train_eval_acc[-1], hist.val_acc[-1]
    return tr, va, tr - va


# --------------------------------------------------------------------------- private helpers


def _hidden_linears(net: nn.Module):
    return [m for m in net if isinstance(m, nn.Linear)]
