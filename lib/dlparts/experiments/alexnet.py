"""The experiments of ``02_alexnet/05_augmentation_and_training``: the mini-AlexNet trained with
the paper's recipe on a small set of digits, with and without random crops and with overlapping
or non-overlapping pooling, over several seeds; then centre, five-crop and ten-crop testing of
each trained model.

The problem is sized so that every run *learns* (well above chance) within a few hundred SGD
steps on one CPU core, and trains long enough on few digits to overfit, which is what
augmentation is for. Test-time comparisons reuse the trained models: centre, five and ten crops
need no retraining.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..augment import center_crop_batch, pixel_pca, random_crop_flip_batch, ten_crop_batch
from ..models.alexnet import mini_alexnet
from ..train import evaluate, fit

__all__ = [
    "CROP_VIEWS",
    "PCA_SETTINGS",
    "AugmentationStudy",
    "channel_pca",
    "colourfulness",
    "crop_accuracies",
    "crop_probs",
    "dropout_subnetworks",
    "fancy_pca_batch",
    "fancy_pca_offset_scale",
    "per_class_accuracy",
    "reading_phrase",
    "run_augmentation_study",
    "tower_colourfulness",
    "train_mini_alexnet",
]

#: Test-time views read from the ten crops (indices in :func:`dlparts.augment.ten_crop` order).
CROP_VIEWS = {
    "centre": [4],
    "mirrored centre": [9],
    "5 crops": [0, 1, 2, 3, 4],
    "10 crops": list(range(10)),
}


def train_mini_alexnet(
    x_train,
    y_train,
    *,
    steps: int,
    pool: str = "overlap",
    crops: bool = True,
    flips: bool = False,
    seed: int = 0,
    batch_size: int = 32,
    lr: float = 0.02,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    drop_at: float = 0.75,
    width: int = 8,
    hidden: int = 128,
    lrn: bool = False,
    dropout: float = 0.5,
    fc8_std: float | None = 0.01,
    groups: int = 1,
    pca: dict | None = None,
    device=None,
    desc: str = "training",
):
    """Train one mini-AlexNet on padded digits ``x_train`` ``(N, 1, 32, 32)`` (or on any
    ``(N, C, H, W)`` images with ``H, W >= 28``, such as CIFAR-10's ``(N, 3, 32, 32)``).

    ``crops=True`` trains on a fresh random 28×28 crop of every digit at every use (mirrored with
    probability 1/2 when ``flips``); ``crops=False`` on the fixed centre crop. SGD with momentum
    and weight decay (the paper's 0.9 and 0.0005); the learning rate is divided by 10 after
    ``drop_at`` of the ``steps`` (a fixed stand-in for the paper's "divide by 10 when the
    validation error stops improving"). ``groups=2`` trains the two-tower layout.

    ``pca`` adds fancy PCA after the crop: a dict of :func:`fancy_pca_batch`'s keyword arguments
    (``eigvals``, ``eigvecs``, ``alpha_std``, ``sqrt``), one offset per image and use.

    Returns:
        ``(model, history)``; the model is in eval mode.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if x_train.ndim != 4 or x_train.shape[-1] < 28 or x_train.shape[-2] < 28:
        raise ValueError(
            f"x_train must be (N, C, H, W) with H, W >= 28, got {tuple(x_train.shape)}"
        )
    torch.manual_seed(seed)
    model = mini_alexnet(
        in_channels=x_train.shape[1],
        pool=pool,
        width=width,
        hidden=hidden,
        lrn=lrn,
        dropout=dropout,
        groups=groups,
    )
    if fc8_std is not None:  # small output layer: the first logits near 0, loss near ln 10
        torch.nn.init.normal_(model.classifier.fc8.weight, 0.0, fc8_std)
    model.to(device or "cpu")
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    milestone = max(1, int(drop_at * steps))
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[milestone], gamma=0.1)
    gen = torch.Generator().manual_seed(10_000 + seed)
    if crops:
        x = x_train

        def crop(b):
            return random_crop_flip_batch(b, 28, flip=flips, generator=gen)
    else:
        x, crop = center_crop_batch(x_train, 28).contiguous(), None
    if pca is not None:
        pca_gen = torch.Generator().manual_seed(20_000 + seed)

        def transform(b):
            b = crop(b) if crop is not None else b
            return fancy_pca_batch(b, generator=pca_gen, **pca)
    else:
        transform = crop
    steps_per_epoch = -(-len(x) // batch_size)
    hist = fit(
        model,
        (x, y_train),
        epochs=-(-steps // steps_per_epoch),
        max_steps=steps,
        batch_size=batch_size,
        optimizer=opt,
        scheduler=sched,
        scheduler_on="step",
        transform=transform,
        device=device,
        seed=seed,
        desc=desc,
    )
    model.eval()
    return model, hist


@torch.no_grad()
def crop_probs(model, x, size: int = 28, batch_size: int = 1000):
    """Softmax outputs of ``model`` on the ten crops of each image of ``x`` ``(N, C, H, W)``:
    shape ``(10, N, classes)``, in :func:`dlparts.augment.ten_crop` order."""
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    out = []
    for i in range(0, len(x), batch_size):
        patches = ten_crop_batch(x[i : i + batch_size].to(dev), size)
        out.append(torch.stack([model(p).softmax(1) for p in patches]))
    model.train(was)
    return torch.cat(out, dim=1).cpu()


def crop_accuracies(probs, y, views=None) -> dict[str, float]:
    """Accuracy of the averaged softmax over each view's crops (``CROP_VIEWS`` by default)."""
    views = CROP_VIEWS if views is None else views
    y = torch.as_tensor(y).cpu()
    return {
        name: float((probs[idx].mean(0).argmax(1) == y).float().mean())
        for name, idx in views.items()
    }


@dataclass
class AugmentationStudy:
    """Per-seed test accuracies of the runs of :func:`run_augmentation_study`.

    ``acc[setting][view]`` is a list over seeds; settings are ``"crops"`` (random crops,
    overlapping pooling: the paper's setting), ``"no augmentation"`` (centre crops, overlapping
    pooling) and ``"non-overlapping"`` (random crops, 2×2 pooling); views are those of
    :data:`CROP_VIEWS`. ``train_acc[setting]`` is the accuracy on the (centre-cropped) training
    digits, ``models[setting]`` the trained model of each seed, ``histories`` likewise, and
    ``probs[setting]`` the ten-crop softmax outputs ``(10, N, classes)`` of the settings tested
    on all crops.
    """

    seeds: list[int]
    steps: int
    acc: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    train_acc: dict[str, list[float]] = field(default_factory=dict)
    models: dict[str, list] = field(default_factory=dict)
    histories: dict[str, list] = field(default_factory=dict)
    probs: dict[str, list] = field(default_factory=dict)

    def errors(self, setting: str, view: str = "centre") -> list[float]:
        return [1.0 - a for a in self.acc[setting][view]]


SETTINGS = {
    "crops": dict(pool="overlap", crops=True),
    "no augmentation": dict(pool="overlap", crops=False),
    "non-overlapping": dict(pool="nonoverlap", crops=True),
    "crops + fancy PCA": dict(pool="overlap", crops=True),
    "crops + fancy PCA (sqrt)": dict(pool="overlap", crops=True),
}

#: The settings that add fancy PCA, with its options: the paper's ``α λ`` (pixels in [0, 1])
#: and the common ``α √λ``; both at the paper's ``alpha_std`` of 0.1. The eigenvalues are
#: computed by :func:`run_augmentation_study` from the training images.
PCA_SETTINGS = {
    "crops + fancy PCA": dict(alpha_std=0.1, sqrt=False),
    "crops + fancy PCA (sqrt)": dict(alpha_std=0.1, sqrt=True),
}


def run_augmentation_study(
    data,
    *,
    seeds,
    steps: int,
    settings=None,
    crop_tests=("crops", "no augmentation"),
    device=None,
    progress=None,
    **train_kw,
) -> AugmentationStudy:
    """Train every setting of ``SETTINGS`` (or ``settings``, a subset of its names) for each
    seed, then test each model on the centre crop and the ten crops of the test digits.

    The settings of :data:`PCA_SETTINGS` add fancy PCA with the eigenvalues of the training
    images' channel covariance (:func:`channel_pca`; pixels in [0, 1]).

    Args:
        data: a dict from :func:`dlparts.data.mnist_split` with ``size=32`` (padded digits).
        seeds: the seeds (each seeds the initialisation, the batch order and the crops).
        steps: SGD steps per run.
        crop_tests: the settings tested on all views of :data:`CROP_VIEWS`; the others are
            tested on the centre crop only (``acc[setting]`` then holds ``"centre"`` alone).
        progress: optional ``progress(iterable, desc=...)`` wrapper for the runs.
        train_kw: passed to :func:`train_mini_alexnet`.
    """
    names = list(SETTINGS) if settings is None else list(settings)
    study = AugmentationStudy(seeds=list(seeds), steps=steps)
    x_te, y_te = data["x_test"], data["y_test"]
    train_centre = (center_crop_batch(data["x_train"], 28), data["y_train"])
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        raise ValueError(f"unknown settings {unknown}; known: {list(SETTINGS)}")
    pcas = {}
    if any(n in PCA_SETTINGS for n in names):
        vals, vecs = channel_pca(center_crop_batch(data["x_train"], 28))
        pcas = {n: dict(eigvals=vals, eigvecs=vecs, **kw) for n, kw in PCA_SETTINGS.items()}
    jobs = [(name, s) for s in study.seeds for name in names]
    it = progress(jobs, desc="runs") if progress is not None else jobs
    for name, s in it:
        model, hist = train_mini_alexnet(
            data["x_train"],
            data["y_train"],
            steps=steps,
            seed=s,
            device=device,
            desc=f"{name}, seed {s}",
            pca=pcas.get(name),
            **SETTINGS[name],
            **train_kw,
        )
        if name in crop_tests:
            probs = crop_probs(model, x_te)
            accs = crop_accuracies(probs, y_te)
            study.probs.setdefault(name, []).append(probs)
        else:
            accs = {"centre": evaluate(model, (center_crop_batch(x_te, 28), y_te))[1]}
        for view, a in accs.items():
            study.acc.setdefault(name, {}).setdefault(view, []).append(a)
        study.train_acc.setdefault(name, []).append(evaluate(model, train_centre)[1])
        study.models.setdefault(name, []).append(model)
        study.histories.setdefault(name, []).append(hist)
    return study


def per_class_accuracy(probs, y, view: str = "centre", num_classes: int = 10) -> np.ndarray:
    """Accuracy of one view (a name of :data:`CROP_VIEWS`) for each true class: ``(classes,)``."""
    y = torch.as_tensor(y).cpu()
    pred = probs[CROP_VIEWS[view]].mean(0).argmax(1)
    out = np.full(num_classes, np.nan)
    for k in range(num_classes):
        mask = y == k
        if mask.any():
            out[k] = float((pred[mask] == k).float().mean())
    return out


def reading_phrase(comparison, quantity: str, than: str, spec: str = ".1%") -> str:
    """A sentence fragment reading a :class:`dlparts.claims.Comparison` (b against a).

    ``reading_phrase(c, "the test error with overlapping pooling", "without")`` gives
    "the test error with overlapping pooling is **lower** than without (-0.4% ± 0.1%)", or, when
    the difference is within noise, "the difference in the test error with overlapping pooling
    is **within noise at this scale** (+0.1% ± 0.3%)".
    """
    sign = "+" + spec
    numbers = f"({format(comparison.diff, sign)} ± {format(comparison.se, spec)})"
    if comparison.effect:
        return f"{quantity} is **{comparison.reading}** {than} {numbers}"
    return f"the difference in {quantity} is **{comparison.reading}** {numbers}"


def fancy_pca_offset_scale(eigvals, alpha_std: float = 0.1, pixel_max: float = 1.0) -> dict:
    """The typical size of fancy PCA's offset, relative to the pixel range.

    The paper's offset is ``sum_i a_i λ_i p_i`` with ``λ_i`` an eigenvalue (a variance) of the RGB
    covariance, so it scales with the *square* of the pixel units: eigenvalues computed on
    pixels in ``[0, pixel_max]`` are ``pixel_max²`` times those on ``[0, 1]``, and the offset
    relative to the range is ``pixel_max`` times larger. Common implementations use ``√λ``
    (a standard deviation) instead, which is independent of the units.

    Args:
        eigvals: eigenvalues from :func:`dlparts.augment.rgb_pca` on pixels in [0, 1].

    Returns:
        dict with ``"offset"`` (root-mean-square length of the offset, as a fraction of the
        range, at ``pixel_max``), ``"offset sqrt"`` (the same with ``√λ``, unit-free).
    """
    lam = np.asarray(eigvals, dtype=np.float64)
    if lam.shape != (3,) or np.any(lam < 0):
        raise ValueError(f"eigvals must be three non-negative numbers, got {eigvals!r}")
    if pixel_max <= 0:
        raise ValueError(f"pixel_max must be positive, got {pixel_max}")
    # E|sum a_i λ_i p_i|² = alpha_std² Σ λ_i² (orthonormal p_i); in units of the range:
    rms = alpha_std * float(np.sqrt(np.sum((lam * pixel_max**2) ** 2))) / pixel_max
    rms_sqrt = alpha_std * float(np.sqrt(np.sum(lam)))
    return {"offset": rms, "offset sqrt": rms_sqrt}


def channel_pca(x):
    """Eigen-decomposition of the covariance of the channels over all pixels of ``x``.

    The tensor form of :func:`dlparts.augment.rgb_pca`, for any number of channels: with
    grey images (one channel) the single eigenvalue is the pixel variance and fancy PCA becomes
    a random change of brightness.

    Args:
        x: float tensor ``(N, C, H, W)``.

    Returns:
        ``(eigvals, eigvecs)``: ``(C,)`` in decreasing order (a variance, in the square of the
        pixel units) and ``(C, C)`` with the unit eigenvectors as columns.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[0] * x.shape[2] * x.shape[3] < 2:
        raise ValueError(
            f"x must be a float tensor (N, C, H, W) with at least two pixels, got "
            f"{getattr(x, 'shape', type(x).__name__)}"
        )
    px = x.detach().double().permute(0, 2, 3, 1).reshape(-1, x.shape[1]).cpu().numpy()
    vals, vecs = pixel_pca(px)
    return torch.from_numpy(vals).float(), torch.from_numpy(vecs).float()


def fancy_pca_batch(
    x, eigvals, eigvecs, alpha_std: float = 0.1, sqrt: bool = False, generator=None
):
    """AlexNet's fancy PCA on a batch ``(N, C, H, W)``: one offset per image, added to every pixel.

    The offset is ``eigvecs @ (α · λ)`` with ``α ~ N(0, alpha_std²)`` drawn per image and
    component, as in the paper (``λ`` an eigenvalue, a variance, so the offset's size depends on
    the pixel units); ``sqrt=True`` uses ``√λ`` (a standard deviation) instead, as many
    implementations do. ``generator`` is a CPU ``torch.Generator`` for repeatable draws.
    """
    vals = torch.as_tensor(eigvals, dtype=torch.float32)
    vecs = torch.as_tensor(eigvecs, dtype=torch.float32)
    c = x.shape[1] if x.ndim == 4 else -1
    if x.ndim != 4 or vals.shape != (c,) or vecs.shape != (c, c):
        raise ValueError(
            f"need x (N, C, H, W) with eigvals (C,) and eigvecs (C, C), got x "
            f"{tuple(x.shape)}, eigvals {tuple(vals.shape)}, eigvecs {tuple(vecs.shape)}"
        )
    if not alpha_std >= 0:
        raise ValueError(f"alpha_std must be >= 0, got {alpha_std!r}")
    scale = vals.clamp(min=0).sqrt() if sqrt else vals
    alpha = torch.randn(len(x), c, generator=generator) * alpha_std
    offset = (alpha * scale) @ vecs.T  # (N, C): sum_i alpha_i scale_i p_i
    return x + offset.to(x.device, x.dtype)[:, :, None, None]


def colourfulness(weights) -> np.ndarray:
    """How colour-specific each filter is: the share of its energy not in its grey part.

    For a filter ``w`` of ``C`` channels, its grey part at each pixel is the mean over the
    channels, ``m = mean_c w[c]``; the score is ``Σ (w − m)² / Σ w²``. A filter that weighs all
    channels alike (colour-agnostic: it sees brightness) scores 0; one whose channels cancel at
    every pixel (pure colour contrast, e.g. red against green) scores 1; independent random
    channels score ``(C − 1)/C`` on average (2/3 for RGB).

    Args:
        weights: ``(F, C, kh, kw)`` (a conv layer's weight), ``C >= 2``.

    Returns:
        ``(F,)`` scores in [0, 1].

    Raises:
        ValueError: for fewer than two channels (a grey filter has no colour to measure) or a
            filter whose weights are all zero.
    """
    w = torch.as_tensor(weights).detach().double().cpu()
    if w.ndim != 4 or w.shape[1] < 2:
        raise ValueError(
            f"weights must be (filters, channels >= 2, kh, kw), got {tuple(w.shape)}; a filter "
            "on grey images has one channel, so it has no colour to measure"
        )
    total = (w**2).flatten(1).sum(1)
    if bool((total == 0).any()):
        raise ValueError("a filter has all-zero weights; its colourfulness is undefined")
    grey = w.mean(1, keepdim=True)
    colour = ((w - grey) ** 2).flatten(1).sum(1)
    return (colour / total).numpy()


def tower_colourfulness(weights, towers: int = 2) -> list[np.ndarray]:
    """:func:`colourfulness` of conv1's filters, split by tower.

    In AlexNet's two-tower layout conv1 itself is not grouped, but its filters are: the first
    half of its outputs feeds tower 1's grouped conv2 and the second half tower 2's, so filter
    ``i`` belongs to tower ``i // (F / towers)``.
    """
    scores = colourfulness(weights)
    if towers < 1 or len(scores) % towers:
        raise ValueError(f"{len(scores)} filters do not split into {towers} equal towers")
    return list(np.split(scores, towers))


def dropout_subnetworks(weight, bias, x, p: float = 0.5) -> dict:
    """Every dropout sub-network of one softmax layer whose inputs are dropped, enumerated.

    With ``n`` inputs there are ``2**n`` masks, each a different network sharing the same
    weights. The paper's test-time rule keeps every unit and multiplies by ``1 − p`` (its ×0.5),
    "a reasonable approximation to taking the geometric mean of the predictive distributions":
    for a single softmax layer it is exact (Hinton et al., 2012), which this function lets one
    check.

    Args:
        weight: ``(classes, n)``, ``n <= 16``; bias: ``(classes,)``; x: one input ``(n,)``.
        p: the drop probability.

    Returns:
        dict of ``(classes,)`` tensors: ``"geometric"`` (the normalized geometric mean of the
        sub-networks' softmax outputs, weighted by each mask's probability), ``"arithmetic"``
        (their probability-weighted mean), ``"scaled"`` (the softmax of the full layer on
        ``(1 − p) · x``, the paper's rule), and ``"masks"``, the number of sub-networks.
    """
    w, b, v = (torch.as_tensor(t, dtype=torch.float64) for t in (weight, bias, x))
    if w.ndim != 2 or v.shape != (w.shape[1],) or b.shape != (w.shape[0],):
        raise ValueError(
            f"need weight (classes, n), bias (classes,) and x (n,), got {tuple(w.shape)}, "
            f"{tuple(b.shape)}, {tuple(v.shape)}"
        )
    n = w.shape[1]
    if not 1 <= n <= 16:
        raise ValueError(f"enumerating 2**n masks needs 1 <= n <= 16 inputs, got n={n}")
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    codes = torch.arange(2**n)
    masks = ((codes[:, None] >> torch.arange(n)) & 1).double()  # (2**n, n), 1 = kept
    kept = masks.sum(1)
    prob = (1 - p) ** kept * p ** (n - kept)  # each mask's probability
    logp = torch.log_softmax((masks * v) @ w.T + b, dim=1)  # (2**n, classes)
    geometric = torch.softmax((prob[:, None] * logp).sum(0), dim=0)
    arithmetic = (prob[:, None] * logp.exp()).sum(0)
    scaled = torch.softmax(w @ ((1 - p) * v) + b, dim=0)
    return {"geometric": geometric, "arithmetic": arithmetic, "scaled": scaled, "masks": 2**n}
