"""Chapter 4's experiments: small regularized MLPs trained to convergence, over seeds.

The notebooks compare regularizers on one small problem (a slice of the shipped MNIST digits,
a small ReLU network, enough epochs for every variant to finish fitting) and repeat each run
over several seeds, so that a difference is read against its noise with
:func:`dlparts.claims.compare`. Everything here is plain PyTorch on tensors already in memory:
a run is a few seconds on one CPU thread.

Weight decay always goes through parameter groups: weight matrices (``ndim >= 2``) are
decayed, biases are not (see :func:`dlparts.regularize.weight_params`), and the L1 penalty
acts on the same weight matrices.

Besides the penalties, the training loop knows the other tools of the chapter: the max-norm
constraint of the dropout paper (:func:`max_norm_`, applied after every step by
:func:`add_max_norm`), early stopping on a validation quantity, and, for the page that shows
the bug, the forgotten ``model.train()`` after an evaluation. :func:`bootstrap` and
:func:`ensemble_probs` build bagged ensembles to set beside Monte Carlo dropout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import runtime
from .._validate import integer, real
from ..augment import RandomShiftRotate
from ..models.mlp import mlp
from ..regularize import penalty
from ..scratch.losses import softmax_loss, svm_loss

__all__ = [
    "accuracy",
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
    "max_norm_",
    "add_max_norm",
    "unit_norms",
    "weight_norm",
    "bootstrap",
    "ensemble_probs",
    "ensemble_curve",
]

MONITORS = ("val_loss", "val_acc")


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
    val_loss_curve: list = field(default_factory=list, repr=False)
    monitor_curve: list = field(default_factory=list, repr=False)
    epochs_run: int = 0
    best_epoch: int | None = None

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
    max_norm: float | None = None,
    early_stopping: int = 0,
    monitor: str = "val_loss",
    forget_train: bool = False,
    seed: int = 0,
    curve_every: int = 0,
) -> RunResult:
    """Train a ReLU MLP on ``data`` (a :func:`dlparts.data.mnist_split` dict) with SGD + momentum.

    Weight decay goes to weight matrices only (parameter groups); ``l1`` adds
    ``l1 * sum|w|`` over the same matrices to the loss. ``augment`` transforms each training
    batch. ``seed`` fixes the initialisation, the batch order and the dropout masks (drawn
    inside :func:`torch.random.fork_rng`, so the global generator is left as it was).
    ``curve_every > 0`` records training and validation accuracy and the validation loss every
    that many epochs (``train_curve``, ``val_curve``, ``val_loss_curve``).

    ``max_norm=c`` projects the incoming weight vector of every hidden unit back onto the ball
    of radius ``c`` after each step (:func:`add_max_norm`). ``early_stopping=k > 0`` evaluates
    the validation digits after every epoch, stops once ``monitor`` (``"val_loss"``, lowest
    is best, or ``"val_acc"``, highest) has not improved for ``k`` epochs, and returns the net
    of the best epoch (``best_epoch``, counted from 1; the monitored value of every epoch run
    is in ``monitor_curve``). ``forget_train=True`` reproduces a
    common bug: the net is evaluated after every epoch with ``model.eval()`` and never put
    back with ``model.train()``, so dropout is on for the first epoch only.

    ``data`` may lack the test split (``x_test``/``y_test``): ``test_acc`` is then NaN, for a
    search that must not see the test digits.

    The run uses one CPU thread (:func:`dlparts.runtime.limit_threads`): the layers are too
    small to gain from more, and a second thread stalls when another program holds a core.
    The numbers are then the same whatever the thread count of the kernel.

    Returns:
        a :class:`RunResult` (accuracies measured in eval mode, on unaugmented digits).
    """
    epochs = integer("epochs", epochs, 1)
    batch_size = integer("batch_size", batch_size, 1)
    early_stopping = integer("early_stopping", early_stopping, 0)
    if monitor not in MONITORS:
        raise ValueError(f"monitor must be one of {MONITORS}, got {monitor!r}")
    if max_norm is not None:
        max_norm = real("max_norm", max_norm, positive=True)
    x, y = data["x_train"], data["y_train"]
    xv, yv = data["x_val"], data["y_val"]
    if early_stopping and len(xv) == 0:
        raise ValueError("early stopping needs validation digits: data['x_val'] is empty")
    devices = [x.device] if x.device.type == "cuda" else []
    with runtime.limit_threads(1), torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        net = mlp(hidden, p_input=p_input, p_hidden=p_hidden).to(x.device)
        opt = torch.optim.SGD(param_groups(net, weight_decay), lr=lr, momentum=momentum)
        if max_norm is not None:
            add_max_norm(opt, _hidden_linears(net)[:-1], max_norm)
        weights = [p for p in net.parameters() if p.ndim >= 2]
        g = torch.Generator().manual_seed(seed)
        n = len(x)
        tc, vc, vl, mc = [], [], [], []
        best, best_epoch, best_state = None, None, None
        net.train()
        epoch = 0
        for epoch in range(1, epochs + 1):
            if not forget_train:
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
            if forget_train:
                net.eval()  # the bug: an evaluation, and no net.train() after it
            v = None
            if curve_every and (epoch % curve_every == 0 or epoch == epochs):
                v = _loss_and_accuracy(net, xv, yv)
                tc.append(accuracy(net, x, y))
                vc.append(v[1])
                vl.append(v[0])
            if early_stopping:
                v_loss, v_acc = v if v is not None else _loss_and_accuracy(net, xv, yv)
                mc.append(v_loss if monitor == "val_loss" else v_acc)
                score = v_loss if monitor == "val_loss" else -v_acc
                if best is None or score < best:
                    best, best_epoch = score, epoch
                    best_state = {k: t.detach().clone() for k, t in net.state_dict().items()}
                elif epoch - best_epoch >= early_stopping:
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        xt, yt = data.get("x_test", x[:0]), data.get("y_test", y[:0])
        return RunResult(
            train_acc=accuracy(net, x, y),
            val_acc=accuracy(net, xv, yv),
            test_acc=accuracy(net, xt, yt),
            model=net,
            train_curve=tc,
            val_curve=vc,
            val_loss_curve=vl,
            monitor_curve=mc,
            epochs_run=epoch,
            best_epoch=best_epoch,
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


@torch.no_grad()
def max_norm_(weights, c: float) -> int:
    """Project each unit's incoming weight vector onto the ball of radius ``c``, in place.

    The constraint of Srivastava et al. (2014, Section 5.1): ``||w||_2 <= c`` for the vector
    ``w`` of weights into each unit; a vector already inside the ball is left untouched, one
    outside it is scaled down onto its surface. A weight tensor's first dimension indexes the
    units (``nn.Linear``: ``(out_features, in_features)``, a convolution:
    ``(out_channels, in_channels, kh, kw)``), so the norm is taken over all the others.

    Args:
        weights: an ``nn.Module`` (every ``nn.Linear`` and convolution in it), one tensor or
            layer, or a list of tensors/layers.
        c: the radius (> 0).

    Returns:
        how many units' weight vectors were projected.
    """
    c = real("c", c, positive=True)
    projected = 0
    for w in _weight_tensors(weights):
        norms = w.flatten(1).norm(dim=1)
        over = norms > c
        if over.any():
            scale = torch.where(over, c / norms, torch.ones_like(norms))
            w.mul_(scale.view(-1, *([1] * (w.ndim - 1))))
            projected += int(over.sum())
    return projected


def add_max_norm(optimizer: torch.optim.Optimizer, weights, c: float):
    """Apply :func:`max_norm_` to ``weights`` after every ``optimizer.step()``.

    A step post-hook: the gradient step is taken as usual, then the weights are projected,
    which is projected gradient descent on the constraint set. Returns the hook's handle
    (``handle.remove()`` takes it off).
    """
    c = real("c", c, positive=True)
    _weight_tensors(weights)  # check them now, not at the first step

    def hook(opt, args, kwargs):
        max_norm_(weights, c)

    return optimizer.register_step_post_hook(hook)


@torch.no_grad()
def unit_norms(net: nn.Module, hidden_only: bool = True) -> torch.Tensor:
    """The L2 norms of the incoming weight vectors of the units of an
    :func:`~dlparts.models.mlp.mlp`, hidden layers first (the output layer too unless
    ``hidden_only``), as one 1-d tensor."""
    linears = _hidden_linears(net)
    if hidden_only:
        linears = linears[:-1]
    if not linears:
        raise ValueError("the net has no hidden layer; pass hidden_only=False")
    return torch.cat([lin.weight.norm(dim=1) for lin in linears]).cpu()


@torch.no_grad()
def weight_norm(net: nn.Module) -> float:
    """``sum w**2`` over the weight matrices of ``net`` (``ndim >= 2``; biases left out)."""
    return float(sum((p.detach() ** 2).sum() for p in net.parameters() if p.ndim >= 2))


def bootstrap(data: dict, seed: int) -> dict:
    """``data`` with its training digits replaced by a bootstrap sample: as many digits as
    before, drawn with replacement (seeded by ``seed``); the other splits are unchanged.

    About ``1 - 1/e``, 63%, of the distinct digits appear in a sample, some of them more than
    once: the resampling that gives bagging (bootstrap aggregating) its name.
    """
    seed = integer("seed", seed, 0)
    n = len(data["x_train"])
    if n == 0:
        raise ValueError("data['x_train'] is empty: there is nothing to resample")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, n, (n,), generator=g).to(data["x_train"].device)
    return {**data, "x_train": data["x_train"][idx], "y_train": data["y_train"][idx]}


@torch.no_grad()
def ensemble_probs(models, x, batch_size: int = 1000) -> torch.Tensor:
    """Softmax outputs of each model on ``x``, in eval mode (modes restored).

    Returns:
        tensor ``(len(models), N, C)``; ``.mean(0)`` is the ensemble's averaged prediction.
    """
    models = list(models)
    if not models:
        raise ValueError("need at least one model")
    batch_size = integer("batch_size", batch_size, 1)
    out = []
    for m in models:
        was = m.training
        m.eval()
        parts = [
            torch.softmax(m(x[i : i + batch_size]), dim=1).cpu()
            for i in range(0, len(x), batch_size)
        ]
        m.train(was)
        out.append(torch.cat(parts))
    return torch.stack(out)


def ensemble_curve(probs, y, counts=None) -> np.ndarray:
    """Accuracy of the average of the first ``m`` members' probabilities, for each ``m``.

    Args:
        probs: ``(M, N, C)`` probabilities (from :func:`ensemble_probs` or
            :func:`dlparts.regularize.mc_dropout_probs`).
        y: ``(N,)`` labels.
        counts: the ``m`` to report (default ``1 .. M``).

    Returns:
        array of accuracies, one per count.
    """
    probs = torch.as_tensor(probs)
    y = torch.as_tensor(y).cpu()
    if probs.ndim != 3 or probs.shape[1] != len(y):
        raise ValueError(
            f"probs must be (M, N, C) with N = len(y) = {len(y)}, got {tuple(probs.shape)}"
        )
    n_members = probs.shape[0]
    counts = range(1, n_members + 1) if counts is None else counts
    csum = probs.cumsum(0)
    accs = []
    for m in counts:
        m = integer("count", m, 1, n_members)
        accs.append(float((csum[m - 1].argmax(1) == y).float().mean()))
    return np.array(accs)


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


@torch.no_grad()
def _loss_and_accuracy(net: nn.Module, x, y, batch_size: int = 1000):
    """Mean cross-entropy and accuracy of ``net`` on ``(x, y)`` in eval mode (mode restored)."""
    was = net.training
    net.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        out = net(x[i : i + batch_size])
        loss += float(F.cross_entropy(out, y[i : i + batch_size], reduction="sum"))
        correct += int((out.argmax(1) == y[i : i + batch_size]).sum())
    net.train(was)
    return loss / len(x), correct / len(x)


def _weight_tensors(weights):
    """The weight tensors :func:`max_norm_` acts on, from a module, a tensor or a list."""
    if isinstance(weights, torch.Tensor):
        items = [weights]
    elif isinstance(weights, nn.Module):
        items = [
            m.weight
            for m in weights.modules()
            if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))
        ]
    else:
        items = []
        for w in weights:
            items += [w] if isinstance(w, torch.Tensor) else _weight_tensors(w)
    for w in items:
        if not isinstance(w, torch.Tensor) or w.ndim < 2:
            raise ValueError(
                "max-norm acts on weight matrices and kernels (tensors with 2 or more "
                f"dimensions, the first indexing the units), got a tensor of shape "
                f"{tuple(w.shape)}: pass the layers' weights, not their biases"
            )
    if not items:
        raise ValueError("no weights given: pass a module, a weight tensor or a list of them")
    return items
