"""One small, honest training loop that every chapter reuses.

It trains on tensors already in memory (the book's data sets are small), shows a progress bar
in a live notebook, records every step, evaluates every ``eval_every`` steps, and reports the
time it took. Nothing is hidden: read it top to bottom.

Example::

    hist = fit(model, (x_train, y_train), val=(x_val, y_val), epochs=5,
               optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    hist.val_acc[-1], hist.seconds
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .runtime import device as default_device
from .runtime import progress, progress_disabled


@dataclass
class History:
    """What a run recorded. Per step: ``step``, ``loss``, ``acc`` (training batch accuracy).
    Per evaluation: ``eval_step``, ``val_loss``, ``val_acc`` (and ``train_eval_acc`` when the
    full training set was evaluated too). ``seconds``: wall time of the whole run."""

    step: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    acc: list = field(default_factory=list)
    eval_step: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    train_eval_acc: list = field(default_factory=list)
    epoch_end_step: list = field(default_factory=list)
    seconds: float = 0.0
    diverged: bool = False

    def first_step_reaching(self, metric: str, threshold: float, above: bool = True):
        """The first recorded step at which ``metric`` crosses ``threshold`` (None if never).

        ``metric`` is ``"val_acc"``, ``"train_eval_acc"``, ``"acc"`` or ``"loss"``; ``above``
        says which side counts (accuracy rises, loss and error fall).
        """
        values = getattr(self, metric)
        steps = self.eval_step if metric in ("val_acc", "val_loss", "train_eval_acc") else self.step
        for s, v in zip(steps, values):
            if (v >= threshold) if above else (v <= threshold):
                return s
        return None

    def smoothed(self, metric: str = "loss", window: int = 20) -> np.ndarray:
        """A running mean of a per-step metric, for plotting noisy batch curves."""
        v = np.asarray(getattr(self, metric), dtype=float)
        if len(v) == 0:
            return v
        w = max(1, min(window, len(v)))
        c = np.cumsum(np.insert(v, 0, 0.0))
        head = c[1:w] / np.arange(1, w)
        return np.concatenate([head, (c[w:] - c[:-w]) / w])


def batches(n: int, batch_size: int, shuffle: bool = True, generator=None):
    """Index tensors covering ``range(n)`` in mini-batches (the last one may be smaller)."""
    idx = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for i in range(0, n, batch_size):
        yield idx[i : i + batch_size]


@torch.no_grad()
def evaluate(model, data, batch_size: int = 500, loss_fn=F.cross_entropy, device=None):
    """Mean loss and accuracy of ``model`` on ``data = (x, y)``, in eval mode.

    The model's train/eval mode is restored afterwards.
    """
    x, y = data
    dev = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for idx in batches(len(x), batch_size, shuffle=False):
        xb, yb = x[idx].to(dev), y[idx].to(dev)
        out = model(xb)
        total_loss += float(loss_fn(out, yb, reduction="sum"))
        correct += int((out.argmax(1) == yb).sum())
    model.train(was_training)
    return total_loss / len(x), correct / len(x)


def fit(
    model,
    train,
    *,
    epochs: int = 1,
    optimizer=None,
    lr: float = 0.1,
    batch_size: int = 64,
    val=None,
    loss_fn=F.cross_entropy,
    scheduler=None,
    scheduler_on: str = "epoch",
    transform=None,
    eval_every: int | None = None,
    eval_train: bool = False,
    max_steps: int | None = None,
    extra_loss=None,
    forward_kwargs=None,
    device=None,
    seed: int = 0,
    progress: bool = True,
    desc: str = "training",
    on_step=None,
) -> History:
    """Train ``model`` on ``train = (x, y)`` with mini-batch SGD (or the given optimizer).

    Args:
        epochs: passes over the training set (``max_steps`` can stop earlier).
        optimizer: a ``torch.optim`` optimizer; default plain SGD at ``lr``.
        val: ``(x, y)`` evaluated every ``eval_every`` steps (default: at each epoch's end).
        scheduler: stepped each epoch (``scheduler_on="epoch"``, given the validation loss if it
            is a ``ReduceLROnPlateau``) or each step (``"step"``).
        transform: called on each input batch (already on the device) in training only, e.g. a
            random augmentation.
        eval_train: also evaluate the whole training set at each evaluation (``train_eval_acc``).
        extra_loss: ``f(model, out) -> tensor`` added to the loss (e.g. a regularizer); ``out``
            is what the model returned for the batch.
        forward_kwargs: keyword arguments for every training forward pass, e.g.
            ``{"return_transform": True}`` for a model that then returns ``(logits, extras...)``:
            the first element is what ``loss_fn`` and the accuracy see, and ``extra_loss`` gets
            the whole tuple (evaluation calls the model without them).
        on_step: ``f(step, model)`` called after each optimizer step (for recording internals).
        seed: seeds the batch order, so runs are repeatable.

    A run whose loss becomes NaN or infinite stops and sets ``History.diverged``.
    """
    x, y = train
    dev = device or default_device()
    model.to(dev)
    if optimizer is None:
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    steps_per_epoch = (len(x) + batch_size - 1) // batch_size
    total = (
        steps_per_epoch * epochs if max_steps is None else min(max_steps, steps_per_epoch * epochs)
    )
    eval_every = eval_every or steps_per_epoch
    gen = torch.Generator().manual_seed(seed)
    hist = History()
    bar = _progress(total, desc, progress)
    start = time.perf_counter()
    step = 0

    def run_eval():
        hist.eval_step.append(step)
        if val is not None:
            vl, va = evaluate(model, val, loss_fn=loss_fn, device=dev)
            hist.val_loss.append(vl)
            hist.val_acc.append(va)
        if eval_train:
            hist.train_eval_acc.append(evaluate(model, train, loss_fn=loss_fn, device=dev)[1])

    model.train()
    for _epoch in range(epochs):
        for idx in batches(len(x), batch_size, generator=gen):
            if step >= total:
                break
            xb, yb = x[idx].to(dev, non_blocking=True), y[idx].to(dev, non_blocking=True)
            if transform is not None:
                xb = transform(xb)
            out = model(xb, **(forward_kwargs or {}))
            logits = out[0] if isinstance(out, tuple) else out
            loss = loss_fn(logits, yb)
            if extra_loss is not None:
                loss = loss + extra_loss(model, out)
            if not torch.isfinite(loss):
                hist.diverged = True
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None and scheduler_on == "step":
                scheduler.step()
            step += 1
            hist.step.append(step)
            hist.loss.append(float(loss.detach()))
            hist.acc.append(float((logits.detach().argmax(1) == yb).float().mean()))
            if on_step is not None:
                on_step(step, model)
            if step % eval_every == 0 and (val is not None or eval_train):
                run_eval()
            if bar is not None:
                bar.update(1)
                if step % 10 == 0:
                    bar.set_postfix(loss=f"{hist.loss[-1]:.3f}")
        if hist.diverged or step >= total:
            hist.epoch_end_step.append(step)
            break
        hist.epoch_end_step.append(step)
        if scheduler is not None and scheduler_on == "epoch":
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(hist.val_loss[-1] if hist.val_loss else hist.loss[-1])
            else:
                scheduler.step()
    if (val is not None or eval_train) and (not hist.eval_step or hist.eval_step[-1] != step):
        if not hist.diverged:
            run_eval()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    hist.seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()
    return hist


def _progress(total: int, desc: str, enabled: bool):
    if not enabled or progress_disabled():
        return None
    return progress(total=total, desc=desc, leave=False)
