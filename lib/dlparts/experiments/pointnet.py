"""Chapter 6 (PointNet): the training recipe and the scores its notebooks share.

The classification, segmentation and digit notebooks train PointNets the same way (Adam, a
cosine learning-rate schedule, the feature-transform regularizer at weight 0.001, a random
rotation about the vertical axis plus jitter as augmentation): :func:`train_pointnet` is that
recipe, :func:`final_accuracies` runs it over seeds. For segmentation, :func:`predict_parts`
restricts each point's prediction to the parts of its shape's class (as the papers score it),
:func:`instance_miou` is the papers' instance mIoU and :func:`majority_part_baseline` the score
of a constant prediction, the floor a trained network has to clear.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import points as P
from .. import runtime
from ..train import History, evaluate, fit


def augment(x: torch.Tensor) -> torch.Tensor:
    """The papers' augmentation: a random rotation about the vertical axis, then jitter."""
    return P.jitter(P.random_rotate_z(x))


def train_pointnet(
    model,
    train,
    *,
    epochs: int,
    val=None,
    lr: float = 1e-3,
    batch_size: int = 32,
    reg: float = 1e-3,
    transform=augment,
    seed: int = 0,
    desc: str = "PointNet",
    progress: bool = True,
) -> History:
    """Train ``model`` on ``train = (x, y)`` with the chapter's recipe and return its History.

    Adam at ``lr`` with a cosine schedule over ``epochs``, mini-batches of ``batch_size`` in an
    order seeded by ``seed``, ``transform`` on every training batch, and, for a model with an
    ``orthogonality_loss()`` (a PointNet with a feature transform), ``reg`` times that loss
    added (the paper's 0.001; ``reg=0`` turns it off). ``val = (x, y)`` is evaluated at each
    epoch's end (classification only: ``History.val_acc``).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    runtime.seed_everything(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    extra = None
    if reg and hasattr(model, "orthogonality_loss"):

        def extra(m, out):
            return reg * m.orthogonality_loss()

    return fit(
        model,
        train,
        epochs=epochs,
        optimizer=opt,
        scheduler=sched,
        batch_size=batch_size,
        val=val,
        transform=transform,
        extra_loss=extra,
        seed=seed,
        desc=desc,
        progress=progress,
    )


def final_accuracies(make, train, val, seeds, **kwargs) -> list[float]:
    """Final validation accuracy of ``make()`` trained by :func:`train_pointnet` once per seed.

    The seed sets the initialization (``make`` is called after seeding) and the batch order.
    ``val`` is evaluated once, after training (no per-epoch evaluation, to save time).
    ``kwargs`` go to :func:`train_pointnet` (``epochs`` is required there).
    """
    accs = []
    for s in seeds:
        runtime.seed_everything(int(s))
        model = make()
        train_pointnet(model, train, seed=int(s), **kwargs)
        accs.append(float(evaluate(model, val)[1]))
    return accs


def class_part_ranges(classes, part_names, offsets) -> list[range]:
    """For each class (in label order) the range of its global part ids."""
    return [range(offsets[c], offsets[c] + len(part_names[c])) for c in classes]


@torch.no_grad()
def predict_parts(model, x, y, ranges, n_parts: int, batch_size: int = 64) -> torch.Tensor:
    """Per-point part predictions ``(B, N)``, each restricted to the parts of its shape's class.

    ``model(x)`` gives logits ``(B, n_parts, N)``; ``ranges[k]`` are the part ids of class ``k``.
    The model is put in eval mode.
    """
    model.eval()
    dev = next(model.parameters()).device
    logits = torch.cat(
        [model(x[i : i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)]
    )
    mask = torch.full((len(x), n_parts), float("-inf"))
    for k, r in enumerate(ranges):
        mask[y == k, r.start : r.stop] = 0
    return (logits + mask[:, :, None]).argmax(1)


def instance_miou(pred, parts, y, ranges) -> float:
    """The papers' instance mIoU: per shape, the IoU of each part of its class (1 for a part
    absent from both prediction and truth), averaged over the parts, then over the shapes."""
    ious = []
    for p, t, k in zip(pred, parts, y):
        per_part = []
        for j in ranges[int(k)]:
            union = int(((p == j) | (t == j)).sum())
            inter = int(((p == j) & (t == j)).sum())
            per_part.append(1.0 if union == 0 else inter / union)
        ious.append(float(np.mean(per_part)))
    return float(np.mean(ious))


def majority_part_baseline(train_parts, train_y, test_y, n_points: int, ranges) -> torch.Tensor:
    """The constant prediction: every point of a test shape gets the part most frequent in the
    training shapes of its class. Returns predictions ``(B, n_points)``."""
    best = []
    for k, r in enumerate(ranges):
        counts = torch.bincount(train_parts[train_y == k].flatten(), minlength=r.stop)[r.start :]
        best.append(r.start + int(counts.argmax()) if counts.sum() else r.start)
    best = torch.tensor(best)
    return best[test_y][:, None].expand(-1, n_points).clone()
