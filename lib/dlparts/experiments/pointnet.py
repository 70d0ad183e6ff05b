"""Chapter 6 (PointNet): the training recipe and the scores its notebooks share.

The classification, segmentation and digit notebooks train PointNets the same way (Adam, a
cosine learning-rate schedule, the feature-transform regularizer at weight 0.001, a random
rotation about the vertical axis plus jitter as augmentation): :func:`train_pointnet` is that
recipe, :func:`final_accuracies` runs it over seeds. For segmentation, :func:`predict_parts`
restricts each point's prediction to the parts of its shape's class (as the papers score it),
:func:`instance_miou` is the papers' instance mIoU and :func:`majority_part_baseline` the score
of a constant prediction, the floor a trained network has to clear.

For the theory: :func:`set_median_error` fits a tiny max- or mean-pooled set network to the
median of a set of numbers, the experiment behind the limits of PointNet's universal
approximation theorem. For the robustness notebook: :func:`accuracy_under` scores a trained
network on a test set corrupted at several levels (the corruptions are in :mod:`dlparts.points`).

Width presets (keyword arguments for the models; the models' defaults are the papers' widths):
:data:`SMALL` (the narrow PointNet classifier of notebooks 01 and 04), :data:`SMALL_SEG` (the
same encoder for segmentation), :data:`SMALL_PP_SEG` (a narrow PointNet++ segmenter) and
:data:`DIGITS_PP` (a narrow PointNet++ for 2-D digits). Parameter counts:
:func:`dlparts.arith.count_params`.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import points as P
from .. import runtime
from .._validate import integer, real
from ..train import History, evaluate, fit

__all__ = [
    "DIGITS_PP",
    "SMALL",
    "SMALL_ENCODER",
    "SMALL_PP_SEG",
    "SMALL_SEG",
    "accuracy_under",
    "augment",
    "class_part_ranges",
    "final_accuracies",
    "instance_miou",
    "majority_part_baseline",
    "predict_parts",
    "set_median_error",
    "train_pointnet",
]

#: A narrow PointNet encoder (both T-Nets): shared MLPs (32, 32) and (32, 64, 256), T-Nets
#: (32, 64, 128) then (64, 32). The paper's are (64, 64), (64, 128, 1024), (64, 128, 1024), (512, 256).
SMALL_ENCODER = dict(mlp1=(32, 32), mlp2=(32, 64, 256), tnet_mlp=(32, 64, 128), tnet_fc=(64, 32))

#: :class:`~dlparts.models.PointNetCls` at :data:`SMALL_ENCODER` widths, head (128, 64).
SMALL = dict(SMALL_ENCODER, fc=(128, 64))

#: :class:`~dlparts.models.PointNetSeg` at :data:`SMALL_ENCODER` widths, per-point head (128, 64).
SMALL_SEG = dict(SMALL_ENCODER, seg_mlp=(128, 64))

#: A narrow :class:`~dlparts.models.PointNet2Seg`: 64 then 16 centroids, radii 0.2 and 0.4.
SMALL_PP_SEG = dict(
    npoints=(64, 16),
    radii=(0.2, 0.4),
    nsamples=(16, 16),
    mlps=((32, 32, 64), (64, 64, 128)),
    global_mlp=(128, 256),
    fp_mlps=((128, 128), (128, 64), (64, 64)),
)

#: A narrow :class:`~dlparts.models.PointNet2Cls` for 2-D digits (``in_dim=2``): 32 then 8
#: centroids; a digit with fewer points than 32 uses all its points as centroids.
DIGITS_PP = dict(
    in_dim=2,
    npoints=(32, 8),
    radii=(0.2, 0.4),
    nsamples=(8, 8),
    mlps=((32, 32, 64), (64, 64, 128)),
    global_mlp=(128, 256),
    fc=(128, 64),
    fewer_points="all",
)


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
    ``orthogonality_loss`` (a PointNet), ``reg`` times the loss of the feature transform that
    each forward pass returns (the paper's 0.001; ``reg=0`` turns it off). ``val = (x, y)`` is
    evaluated at each epoch's end (classification only: ``History.val_acc``).
    """
    epochs = integer("epochs", epochs, minimum=1)
    lr = real("lr", lr, positive=True)
    batch_size = integer("batch_size", batch_size, minimum=1)
    reg = real("reg", reg, minimum=0.0)
    seed = integer("seed", seed)
    _check_xy("train", train)
    if val is not None:
        _check_xy("val", val)
    runtime.seed_everything(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    extra, kwargs = None, None
    if reg and hasattr(model, "orthogonality_loss"):
        kwargs = {"return_transform": True}

        def extra(m, out):
            return reg * m.orthogonality_loss(out[1])

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
        forward_kwargs=kwargs,
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
    missing = [c for c in classes if c not in part_names or c not in offsets]
    if missing:
        raise ValueError(f"classes {missing} have no entry in part_names or offsets")
    return [range(offsets[c], offsets[c] + len(part_names[c])) for c in classes]


@torch.no_grad()
def predict_parts(model, x, y, ranges, n_parts: int, batch_size: int = 64) -> torch.Tensor:
    """Per-point part predictions ``(B, N)``, each restricted to the parts of its shape's class.

    ``model(x)`` gives logits ``(B, n_parts, N)``; ``ranges[k]`` are the part ids of class ``k``.
    The model is put in eval mode.
    """
    _check_labels(y, ranges, len(x))
    batch_size = integer("batch_size", batch_size, minimum=1)
    n_parts = integer("n_parts", n_parts, minimum=1)
    if max(r.stop for r in ranges) > n_parts:
        raise ValueError(
            f"ranges name part ids up to {max(r.stop for r in ranges) - 1}, but n_parts={n_parts}"
        )
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
    absent from both prediction and truth, as in PointNet's evaluation code), averaged over the
    parts, then over the shapes.

    Shape: ``pred``, ``parts`` (B, N) part ids; ``y`` (B,) class labels; ``ranges[k]`` the part
    ids of class ``k`` (:func:`class_part_ranges`).
    """
    pred, parts = torch.as_tensor(pred), torch.as_tensor(parts)
    if pred.shape != parts.shape or pred.dim() != 2 or len(pred) == 0:
        raise ValueError(
            "pred and parts must both be (B, N) part ids with B >= 1, got "
            f"{tuple(pred.shape)} and {tuple(parts.shape)}"
        )
    _check_labels(y, ranges, len(pred))
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


def set_median_error(
    latent: int,
    *,
    pooling: str = "max",
    n_points: int = 8,
    steps: int = 200,
    seed: int = 0,
    width: int = 32,
    batch_size: int = 128,
    lr: float = 1e-2,
    n_eval: int = 4096,
) -> float:
    """Fit ``gamma(pool_i h(x_i))`` to the median of ``n_points`` numbers uniform in [-1, 1] and
    return its test RMSE relative to the median's standard deviation (1.0: no better than
    predicting the average median; 0: exact).

    ``h``: an MLP 1 -> ``width`` -> ``width`` -> ``latent`` applied to each number; ``pool``:
    ``"max"`` (PointNet's max over the set, per channel) or ``"mean"`` (a sum decomposition, as
    in Deep Sets); ``gamma``: an MLP ``latent`` -> ``width`` -> ``width`` -> 1. Trained for
    ``steps`` Adam steps (cosine schedule from ``lr``) on fresh sets of ``batch_size``; scored on
    ``n_eval`` fresh sets. The seed sets the weights and every set drawn.
    """
    latent = integer("latent", latent, minimum=1)
    n_points = integer("n_points", n_points, minimum=1)
    steps = integer("steps", steps, minimum=1)
    seed = integer("seed", seed)
    width = integer("width", width, minimum=1)
    batch_size = integer("batch_size", batch_size, minimum=2)
    lr = real("lr", lr, positive=True)
    n_eval = integer("n_eval", n_eval, minimum=2)
    if pooling not in ("max", "mean"):
        raise ValueError(f"pooling must be 'max' or 'mean', got {pooling!r}")
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        h = torch.nn.Sequential(
            torch.nn.Linear(1, width),
            torch.nn.ReLU(),
            torch.nn.Linear(width, width),
            torch.nn.ReLU(),
            torch.nn.Linear(width, latent),
        )
        gamma = torch.nn.Sequential(
            torch.nn.Linear(latent, width),
            torch.nn.ReLU(),
            torch.nn.Linear(width, width),
            torch.nn.ReLU(),
            torch.nn.Linear(width, 1),
        )
    params = [*h.parameters(), *gamma.parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)

    def net(x):
        z = h(x[..., None])
        z = z.amax(1) if pooling == "max" else z.mean(1)
        return gamma(z)[:, 0]

    for _ in range(steps):
        x = torch.rand(batch_size, n_points, generator=gen) * 2 - 1
        loss = ((net(x) - _median(x)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        x = torch.rand(n_eval, n_points, generator=gen) * 2 - 1
        y = _median(x)
        return float(((net(x) - y) ** 2).mean().sqrt() / y.std())


def accuracy_under(model, x, y, corrupt, levels, *, seed: int = 0, batch_size: int = 256):
    """Test accuracy of ``model`` on ``(x, y)`` corrupted at each of ``levels``.

    ``corrupt(x, level, generator)`` returns the corrupted points (a function of
    :mod:`dlparts.points`, e.g. ``lambda x, f, g: P.drop_fraction(x, f, generator=g)``). Each
    level draws from a fresh generator seeded by ``seed``, so two networks scored with the same
    seed see the same corrupted shapes. Returns one accuracy per level.
    """
    seed = integer("seed", seed)
    batch_size = integer("batch_size", batch_size, minimum=1)
    _check_xy("(x, y)", (x, y))
    out = []
    for level in levels:
        xc = corrupt(x, level, torch.Generator().manual_seed(seed))
        out.append(float(evaluate(model, (xc, y), batch_size=batch_size)[1]))
    return out


# --------------------------------------------------------------------------- private helpers


def _check_xy(name, data):
    if not (isinstance(data, tuple | list) and len(data) == 2):
        raise ValueError(f"{name} must be a pair (x, y), got {type(data).__name__}")
    x, y = data
    if not (torch.is_tensor(x) and torch.is_tensor(y)) or len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"{name} must be a pair of tensors (x, y) with the same, non-zero length, got "
            f"lengths {len(x) if hasattr(x, '__len__') else '?'} and "
            f"{len(y) if hasattr(y, '__len__') else '?'}"
        )


def _check_labels(y, ranges, n):
    y = torch.as_tensor(y)
    if y.shape != (n,):
        raise ValueError(
            f"y must hold one class label per shape, shape ({n},), got {tuple(y.shape)}"
        )
    if n and (int(y.min()) < 0 or int(y.max()) >= len(ranges)):
        raise ValueError(
            f"class labels must be in 0..{len(ranges) - 1} (one range per class), got "
            f"{int(y.min())}..{int(y.max())}"
        )


def _median(x):
    """The median of each row (the mean of the two middle values for an even count)."""
    n = x.shape[1]
    return x.sort(1).values[:, (n - 1) // 2 : n // 2 + 1].mean(1)
