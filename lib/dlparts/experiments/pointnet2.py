"""PointNet++ against PointNet on procedural shapes, and the density test (notebook 06_02).

Small networks fitted long enough to be well above chance in seconds on a CPU:

- :data:`SSG`, :data:`MSG`, :data:`MRG`: PointNet++ classifiers with few centroids and narrow
  mini-PointNets (two set abstraction levels, then the group-all level), with single-scale,
  multi-scale and multi-resolution grouping.
- :data:`POINTNET`: a narrow PointNet with both T-Nets.
- :data:`VARIANTS`: the four networks the notebook compares, each with its training transform
  (rotation and jitter; "+ DP" adds PointNet++'s random input dropout), and
  :data:`MRG_VARIANTS`, the multi-resolution network trained the same way (kept apart, so code
  that loops over :data:`VARIANTS` trains the same four networks as before).

:func:`train_variant` trains one network for a fixed number of steps (Adam, one-cycle schedule),
:func:`run_variants` every variant over several seeds, and :func:`density_tests` /
:func:`evaluate_tests` build and score the thinned test sets of the paper's Figure 4 plus a
density gradient (:func:`density_gradient`). :func:`permutation_change` measures how far a
network's output moves when the points of each test shape are reordered, and
:func:`multiply_adds` counts a network's multiply-adds per cloud, level by level.
"""

from __future__ import annotations

import math
import time

import torch

from .. import points as P
from .. import runtime
from .._validate import integer, real
from ..models import PointNet2Cls, PointNetCls
from ..train import evaluate, fit

__all__ = [
    "MRG",
    "MRG_VARIANTS",
    "MSG",
    "POINTNET",
    "SSG",
    "VARIANTS",
    "accuracy_table",
    "density_gradient",
    "density_tests",
    "evaluate_tests",
    "forward_seconds",
    "make_model",
    "multiply_adds",
    "permutation_change",
    "run_variants",
    "train_variant",
]

#: PointNet++ single-scale grouping, small: 32 then 8 centroids, radii 0.4 and 0.8 (in the unit
#: sphere), 8 neighbours each, narrow mini-PointNets, no dropout in the head. A set with fewer
#: points than a level's centroids (the density tests go down to 16) uses all its points.
SSG = dict(
    npoints=(32, 8),
    radii=(0.4, 0.8),
    nsamples=(8, 8),
    mlps=((16, 16, 32), (32, 32, 64)),
    global_mlp=(64, 128),
    fc=(64,),
    dropout=0.0,
    fewer_points="all",
)

#: Multi-scale grouping on the same centroids: two radii per level (half and all of SSG's),
#: each with its own mini-PointNet as wide as SSG's, their features concatenated.
MSG = dict(
    SSG,
    radii=((0.2, 0.4), (0.4, 0.8)),
    nsamples=((8, 8), (8, 8)),
    mlps=(((16, 16, 32), (16, 16, 32)), ((32, 32, 64), (32, 32, 64))),
)

#: Multi-resolution grouping on SSG's levels: the second level and the group-all level each
#: concatenate SSG's summary of the level below with a PointNet on the raw points of the region
#: (16 raw points within 0.8 of each second-level centroid; all 128 for the group-all level).
#: The raw-point PointNets have the widths of the first level's mini-PointNet, which also reads
#: raw coordinates.
MRG = dict(
    SSG,
    raw_nsamples=(None, 16),
    raw_mlps=(None, (16, 16, 32)),
    raw_global_mlp=(16, 16, 32),
)

#: A narrow PointNet with its input and feature T-Nets.
POINTNET = dict(
    mlp1=(32, 32), mlp2=(32, 64, 128), fc=(64,), tnet_mlp=(16, 32), tnet_fc=(16,), dropout=0.0
)


def augment(x: torch.Tensor) -> torch.Tensor:
    """The training augmentation of every network: a random rotation about z, then jitter."""
    return P.jitter(P.random_rotate_z(x))


def augment_dp(x: torch.Tensor) -> torch.Tensor:
    """:func:`augment`, then PointNet++'s random input dropout (ratio up to 0.875)."""
    return P.random_input_dropout(augment(x))


#: name -> (architecture, training transform).
VARIANTS = {
    "PointNet": ("pointnet", augment),
    "PointNet++ SSG": ("ssg", augment),
    "PointNet++ SSG + DP": ("ssg", augment_dp),
    "PointNet++ MSG + DP": ("msg", augment_dp),
}

#: The multi-resolution network, trained with random input dropout as the paper's MRG + DP.
MRG_VARIANTS = {"PointNet++ MRG + DP": ("mrg", augment_dp)}


def make_model(arch: str, num_classes: int) -> torch.nn.Module:
    """A fresh network: ``arch`` is ``"pointnet"``, ``"ssg"``, ``"msg"`` or ``"mrg"``."""
    if arch == "pointnet":
        return PointNetCls(num_classes, **POINTNET)
    if arch == "ssg":
        return PointNet2Cls(num_classes, **SSG)
    if arch == "msg":
        return PointNet2Cls(num_classes, msg=True, **MSG)
    if arch == "mrg":
        return PointNet2Cls(num_classes, mrg=True, **MRG)
    raise ValueError(f"arch must be 'pointnet', 'ssg', 'msg' or 'mrg', got {arch!r}")


def train_variant(
    name: str,
    data: dict,
    *,
    steps: int,
    seed: int = 0,
    lr: float = 0.02,
    batch_size: int = 32,
    eval_every: int | None = None,
    desc: str | None = None,
):
    """Train the network ``VARIANTS[name]`` (or ``MRG_VARIANTS[name]``) for ``steps`` Adam steps (one-cycle learning rate
    peaking at ``lr``) on ``data["x_train"], data["y_train"]``, seeded by ``seed`` (weights,
    batch order, augmentation). ``eval_every``: also record the test accuracy every that many
    steps (for a training curve). Returns ``(model, history)``; the model is in eval mode.
    """
    known = {**VARIANTS, **MRG_VARIANTS}
    if name not in known:
        raise ValueError(f"unknown variant {name!r}; choose from {list(known)}")
    steps = integer("steps", steps, minimum=1)
    seed = integer("seed", seed)
    lr = real("lr", lr, positive=True)
    batch_size = integer("batch_size", batch_size, minimum=1)
    if eval_every is not None:
        eval_every = integer("eval_every", eval_every, minimum=1)
    arch, transform = known[name]
    runtime.seed_everything(seed)
    model = make_model(arch, len(data["classes"]))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    x, y = data["x_train"], data["y_train"]
    per_epoch = math.ceil(len(x) / batch_size)
    pointnet = arch == "pointnet"
    extra = (lambda m, out: 1e-3 * m.orthogonality_loss(out[1])) if pointnet else None
    hist = fit(
        model,
        (x, y),
        epochs=math.ceil(steps / per_epoch),
        max_steps=steps,
        optimizer=opt,
        scheduler=sched,
        scheduler_on="step",
        batch_size=batch_size,
        val=(data["x_test"], data["y_test"]) if eval_every else None,
        eval_every=eval_every,
        transform=transform,
        extra_loss=extra,
        forward_kwargs={"return_transform": True} if pointnet else None,
        seed=seed,
        desc=desc or f"{name}, seed {seed}",
    )
    return model.eval(), hist


def density_gradient(x: torch.Tensor, floor: float = 0.05, generator=None) -> torch.Tensor:
    """Keep each point with a probability that falls linearly along a random direction, from 1
    on one side of the shape to ``floor`` on the other; dropped points become copies of the
    densest end's point, so the tensor keeps its shape (B, N, 3) and a max pooling ignores them.
    """
    x = P._check_points("x", x, nonempty=True)
    floor = real("floor", floor, minimum=0.0, maximum=1.0)
    P._check_generator(generator)
    b, n, d = x.shape
    direction = torch.randn(b, 1, d, generator=generator)
    direction = direction / direction.norm(dim=-1, keepdim=True)
    t = (x * direction).sum(-1)
    lo, hi = t.amin(1, keepdim=True), t.amax(1, keepdim=True)
    t = (t - lo) / (hi - lo).clamp_min(1e-12)
    keep = torch.rand(b, n, generator=generator) < floor + (1 - floor) * t
    first = t.argmax(1)  # the densest end is always kept
    keep[torch.arange(b), first] = True
    anchor = P.index_points(x, first[:, None])
    return torch.where(keep[..., None], x, anchor.expand_as(x))


def density_tests(x_test: torch.Tensor, counts, seed: int = 0) -> dict[str, torch.Tensor]:
    """The test sets of the density experiment: ``"{c} points"`` for each count ``c`` (a random
    subset of each shape, as in the paper's Figure 4) and ``"density gradient"``."""
    gen = torch.Generator().manual_seed(integer("seed", seed))
    counts = [integer("counts[]", c, minimum=1) for c in counts]
    tests = {f"{c} points": P.drop_points(x_test, c, generator=gen) for c in counts}
    tests["density gradient"] = density_gradient(x_test, generator=gen)
    return tests


def evaluate_tests(model, tests: dict, y_test: torch.Tensor) -> dict[str, float]:
    """Test accuracy of ``model`` on each of ``tests`` (name -> points)."""
    return {name: evaluate(model, (xt, y_test), batch_size=500)[1] for name, xt in tests.items()}


def run_variants(names, data, *, seeds, steps, tests, curve_every=None, **kw):
    """Train each variant of ``names`` once per seed and score it on ``tests``.

    Returns ``{name: {"models": [...], "hists": [...], "acc": {test: [one value per seed]}}}``.
    ``curve_every``: record the test accuracy during training for the first seed only.
    """
    out = {}
    for name in names:
        rec = {"models": [], "hists": [], "acc": {t: [] for t in tests}}
        for i, seed in enumerate(seeds):
            model, hist = train_variant(
                name,
                data,
                steps=steps,
                seed=seed,
                eval_every=curve_every if i == 0 else None,
                **kw,
            )
            rec["models"].append(model)
            rec["hists"].append(hist)
            for t, a in evaluate_tests(model, tests, data["y_test"]).items():
                rec["acc"][t].append(a)
        out[name] = rec
    return out


def accuracy_table(results: dict, tests, fmt: str = ".1%") -> list[dict]:
    """Rows for :func:`dlparts.tables.format_table`: mean ± sd accuracy over seeds per test."""
    from ..claims import summarize

    return [
        {"network": n, **{t: summarize(r["acc"][t]).format(fmt) for t in tests}}
        for n, r in results.items()
    ]


@torch.no_grad()
def permutation_change(model, x: torch.Tensor, seed: int = 1) -> dict[str, float]:
    """Reorder the points of every shape of ``x`` (one random permutation) and compare outputs.

    Returns ``{"max logit change": ..., "changed": fraction of predictions that change}``.
    """
    x = P._check_points("x", x, nonempty=True)
    model.eval()
    dev = next(model.parameters()).device
    perm = torch.randperm(x.shape[1], generator=torch.Generator().manual_seed(seed))
    out = model(x.to(dev))
    out_p = model(x[:, perm].to(dev))
    return {
        "max logit change": float((out - out_p).abs().max()),
        "changed": float((out.argmax(1) != out_p.argmax(1)).float().mean()),
    }


@torch.no_grad()
def forward_seconds(model, x: torch.Tensor, repeats: int = 3) -> float:
    """The fastest of ``repeats`` timed forward passes of ``model`` over ``x`` (in seconds).

    The minimum is the least disturbed by other work on the machine."""
    repeats = integer("repeats", repeats, minimum=1)
    model.eval()
    dev = next(model.parameters()).device
    xd = x.to(dev)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        model(xd)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def multiply_adds(model, n_points: int, in_dim: int = 3) -> dict[str, int]:
    """Multiply-adds of one forward pass of ``model`` on one cloud of ``n_points`` points, by
    part: ``{"level 1": ..., "level 2": ..., "group all": ..., "head": ..., "total": ...}`` for
    a PointNet++ classifier (each level's count is its centroids times the points of each
    group times the mini-PointNets' multiply-adds per point), ``{"total": ...}`` for any other
    model. Counted by :func:`dlparts.arith.layer_table` from the layers the pass calls, so it
    does not depend on the machine or the load; batch norm and pooling are not counted.
    """
    from ..arith import layer_table

    n_points = integer("n_points", n_points, minimum=1)
    in_dim = integer("in_dim", in_dim, minimum=1)
    rows = layer_table(model, (n_points, in_dim))
    out = {}
    if isinstance(model, PointNet2Cls):
        for r in rows:
            head, _, rest = r["name"].partition(".")
            if head == "levels":
                part = f"level {int(rest.split('.')[0]) + 1}"
            elif head == "global_sa":
                part = "group all"
            else:
                part = "head"
            out[part] = out.get(part, 0) + r["macs"]
    out["total"] = sum(r["macs"] for r in rows)
    return out
