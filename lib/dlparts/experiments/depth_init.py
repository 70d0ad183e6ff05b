"""Chapter 5, notebook 4: He et al.'s initialization experiment (2015, Figs. 2 and 3) as training.

Plain ReLU networks (no batch normalization, no shortcuts) of 22 and 30 weighted layers are
trained from Xavier and from He initialization with the same SGD recipe. He et al. trained
convolutional networks on ImageNet; here the networks are fully connected (every hidden layer
``width`` units) and train on a fixed set of 14×14 digits, which keeps the quantity the argument
is about, the product over layers of ``fan_in · Var(w) / 2``, and makes a run cost seconds.

To make a run cheap on a CPU, the networks of several seeds and both initializations train
*together*: :class:`StackedMLP` holds ``n_nets`` independent networks as stacked weight tensors
and runs them with batched matrix products. The loss is the sum of the networks' own losses, so
each network's gradient is exactly the one it would get alone (no parameter is shared), and SGD
with momentum acts on every element separately: training the stack is training each network
alone, ``n_nets`` at a time (checked in the tests).

Example::

    d = digits(1000)
    run = train_stack(30, ["xavier", "he"], seeds=(0, 1, 2), data=d, steps=800)
    run["eval_loss"]            # (n_evals, n_nets): training-set loss of each network
    steps_to_loss(run["eval_steps"], run["eval_loss"][:, 0], 1.5)   # None: never reached
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import runtime
from .._validate import integer, real

SCHEMES = ("xavier", "he")

__all__ = [
    "SCHEMES",
    "StackedMLP",
    "digits",
    "init_stack",
    "signal_scales",
    "steps_to_loss",
    "train_stack",
]


class StackedMLP(nn.Module):
    """``n_nets`` independent plain ReLU networks of ``depth`` weighted layers, run together.

    Network ``k`` computes ``h_0 = x_k``, ``h_l = relu(W_l[k] h_{l-1} + b_l[k])`` for the
    ``depth - 1`` hidden layers of ``width`` units, and logits ``W_L[k] h_{L-1} + b_L[k]``.

    Shape:
        - input: ``(n_nets, B, in_features)`` (each network its own batch) or
          ``(B, in_features)`` (the same batch for every network)
        - output: ``(n_nets, B, num_classes)``

    Attributes:
        weights: ``depth`` parameters, ``(n_nets, out, in)`` each (``nn.Linear``'s layout).
        biases: ``depth`` parameters, ``(n_nets, out)`` each.
    """

    def __init__(self, n_nets, depth, in_features, width, num_classes=10, bias=True):
        super().__init__()
        n_nets = integer("n_nets", n_nets, 1)
        depth = integer("depth", depth, 2)
        in_features = integer("in_features", in_features, 1)
        width = integer("width", width, 1)
        num_classes = integer("num_classes", num_classes, 2)
        sizes = [in_features] + [width] * (depth - 1) + [num_classes]
        self.n_nets, self.depth = n_nets, depth
        self.weights = nn.ParameterList(
            nn.Parameter(torch.zeros(n_nets, o, i)) for i, o in zip(sizes[:-1], sizes[1:])
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.zeros(n_nets, o), requires_grad=bool(bias)) for o in sizes[1:]
        )

    def forward(self, x, return_hidden=False):
        """Logits ``(n_nets, B, num_classes)``; with ``return_hidden=True`` also the list of
        the ``depth`` pre-activations ``W_l h_{l-1} + b_l`` (the last is the logits)."""
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.n_nets, -1, -1)
        if x.dim() != 3 or x.shape[0] != self.n_nets:
            raise ValueError(
                f"input must be (n_nets={self.n_nets}, B, in_features) or (B, in_features), "
                f"got shape {tuple(x.shape)}"
            )
        h, pre = x, []
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
            pre.append(z)
            h = torch.relu(z) if i < self.depth - 1 else z
        return (h, pre) if return_hidden else h

    def loss(self, x, y):
        """The sum over networks of each one's mean cross-entropy (``y``: ``(n_nets, B)`` or
        ``(B,)``), and the per-network losses ``(n_nets,)``."""
        logits = self(x)
        if y.dim() == 1:
            y = y.unsqueeze(0).expand(self.n_nets, -1)
        per = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
        per = per.view(self.n_nets, -1).mean(1)
        return per.sum(), per


def digits(n_train=1000, n_test=1000, seed=0):
    """``n_train`` training and ``n_test`` test digits of the shipped MNIST subset, pooled to
    14×14 and flattened to 196 features, standardized with the training set's mean and standard
    deviation (one number each, over all pixels). Returns a dict of tensors ``x_train``,
    ``y_train``, ``x_test``, ``y_test``."""
    from .. import data

    split = data.mnist_split(n_train=n_train, n_val=0, n_test=n_test, seed=seed)
    x = F.avg_pool2d(split["x_train"], 2).flatten(1)
    xt = F.avg_pool2d(split["x_test"], 2).flatten(1)
    mean, std = x.mean(), x.std()
    return {
        "x_train": (x - mean) / std,
        "y_train": split["y_train"],
        "x_test": (xt - mean) / std,
        "y_test": split["y_test"],
    }


def init_stack(model, schemes, seeds):
    """Initialize network ``k`` of a :class:`StackedMLP` with ``schemes[k]`` (``"xavier"``:
    ``N(0, 2 / (fan_in + fan_out))``, Glorot's; ``"he"``: ``N(0, 2 / fan_in)``) from its own
    generator seeded with ``seeds[k]``; biases 0. Network ``k`` then starts exactly as a single
    network initialized from that seed would (the draws of one scheme and seed do not depend on
    the others in the stack). Returns the model."""
    if len(schemes) != model.n_nets or len(seeds) != model.n_nets:
        raise ValueError(
            f"need one scheme and one seed per network ({model.n_nets}), got {len(schemes)} "
            f"schemes and {len(seeds)} seeds"
        )
    for s in schemes:
        if s not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {s!r}")
    with torch.no_grad():
        for k, (scheme, seed) in enumerate(zip(schemes, seeds)):
            g = torch.Generator().manual_seed(integer("seed", seed, 0))
            for w, b in zip(model.weights, model.biases):
                fan_out, fan_in = w.shape[1], w.shape[2]
                var = 2.0 / fan_in if scheme == "he" else 2.0 / (fan_in + fan_out)
                w[k] = torch.randn(w.shape[1:], generator=g) * math.sqrt(var)
                b[k] = 0.0
    return model


def train_stack(
    depth,
    schemes,
    *,
    seeds,
    data,
    steps=800,
    width=64,
    batch_size=64,
    lr=0.01,
    momentum=0.9,
    drop_at=0.75,
    bias=True,
    eval_every=25,
    clip=None,
    device=None,
    progress=True,
):
    """Train one network per ``(scheme, seed)`` pair, all of depth ``depth``, together.

    Every network starts from its own initialization (:func:`init_stack`) and draws its own
    mini-batches (a generator seeded by its seed, so the Xavier and the He network of one seed
    see the same batches). SGD with momentum and no weight decay; the learning rate is divided
    by 10 after the fraction ``drop_at`` of the steps (``None``: constant). With ``clip``, each
    network's gradient is rescaled to norm at most ``clip`` before each step (its own norm over
    all its parameters, so one network's gradient never touches another's).

    Returns:
        dict with ``labels`` (``(scheme, seed)`` per network, scheme-major), ``loss``
        (``(steps, n_nets)``: each network's loss on its training batch), ``eval_steps`` and
        ``eval_loss`` / ``eval_err`` (``(n_evals, n_nets)``: the whole training set, from step 0
        on), ``test_err`` (``(n_nets,)``, after training), ``clipped`` (``(n_nets,)``: the share of
        steps whose gradient ``clip`` rescaled; zeros without ``clip``), ``scales`` (:func:`signal_scales` at
        initialization), ``drop_step``, ``params`` (of one network) and ``seconds``.
    """
    depth = integer("depth", depth, 2)
    steps = integer("steps", steps, 1)
    batch_size = integer("batch_size", batch_size, 1)
    eval_every = integer("eval_every", eval_every, 1)
    lr = real("lr", lr, positive=True)
    clip = None if clip is None else real("clip", clip, positive=True)
    labels = [(s, int(seed)) for s in schemes for seed in seeds]
    dev = device or runtime.device()
    x, y = data["x_train"].to(dev), data["y_train"].to(dev)
    model = StackedMLP(len(labels), depth, x.shape[1], width, int(y.max()) + 1, bias=bias)
    init_stack(model, [s for s, _ in labels], [seed for _, seed in labels]).to(dev)
    scales = signal_scales(model, x[:256], y[:256])
    trained = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(trained, lr=lr, momentum=momentum)
    gens = [torch.Generator().manual_seed(10_000 + seed) for _, seed in labels]
    losses, eval_steps, eval_loss, eval_err = [], [], [], []
    clipped = torch.zeros(len(labels))

    def evaluate():
        with torch.no_grad():
            logits = model(x)
            per = F.cross_entropy(
                logits.flatten(0, 1), y.repeat(model.n_nets), reduction="none"
            ).view(model.n_nets, -1)
            eval_loss.append(per.mean(1).cpu().numpy())
            eval_err.append((logits.argmax(-1) != y).float().mean(1).cpu().numpy())

    start = time.perf_counter()
    bar = runtime.progress(total=steps, desc=f"{depth} layers") if progress else None
    evaluate()
    eval_steps.append(0)
    drop_step = None if drop_at is None else int(round(real("drop_at", drop_at) * steps))
    for step in range(1, steps + 1):
        if drop_step is not None and step == drop_step + 1:
            for group in opt.param_groups:
                group["lr"] = lr / 10
        idx = torch.stack([torch.randint(0, len(x), (batch_size,), generator=g) for g in gens])
        idx = idx.to(dev)
        total, per = model.loss(x[idx], y[idx])
        opt.zero_grad(set_to_none=True)
        total.backward()
        if clip is not None:
            clipped += (clip_per_network_(trained, clip) > clip).float().cpu()
        opt.step()
        losses.append(per.detach().cpu().numpy())
        if step % eval_every == 0 or step == steps:
            evaluate()
            eval_steps.append(step)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    with torch.no_grad():
        xt, yt = data["x_test"].to(dev), data["y_test"].to(dev)
        test_err = (model(xt).argmax(-1) != yt).float().mean(1).cpu().numpy()
    n_params = sum(p[0].numel() for p in model.parameters())
    return {
        "depth": depth,
        "labels": labels,
        "loss": np.stack(losses),
        "eval_steps": np.asarray(eval_steps),
        "eval_loss": np.stack(eval_loss),
        "eval_err": np.stack(eval_err),
        "test_err": test_err,
        "clipped": (clipped / steps).numpy(),
        "scales": scales,
        "drop_step": drop_step,
        "params": n_params,
        "seconds": time.perf_counter() - start,
    }


def clip_per_network_(params, max_norm):
    """Rescale, in place, each network's gradient (index 0 of every parameter) to norm at most
    ``max_norm``; returns the norms before clipping, one per network."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        raise ValueError("clip_per_network_: no parameter has a gradient; call backward() first")
    norms = torch.stack([g.flatten(1).pow(2).sum(1) for g in grads]).sum(0).sqrt()
    scale = (max_norm / (norms + 1e-12)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))
    return norms


def signal_scales(model, x, y):
    """Per layer and network, at the model's current weights: the standard deviation of the
    forward signal (each layer's pre-activation ``W_l h_{l-1} + b_l``) and of the backward
    signal (the gradient of the loss with respect to that pre-activation), on one batch.

    Returns:
        dict with ``forward`` and ``backward``, arrays ``(depth, n_nets)``, layer 1 first.
    """
    logits, pre = model(x, return_hidden=True)
    for z in pre:
        z.retain_grad()
    if y.dim() == 1:
        y = y.unsqueeze(0).expand(model.n_nets, -1)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
    loss.view(model.n_nets, -1).mean(1).sum().backward()
    fwd = np.stack([z.detach().flatten(1).std(1).cpu().numpy() for z in pre])
    bwd = np.stack([z.grad.flatten(1).std(1).cpu().numpy() for z in pre])
    model.zero_grad(set_to_none=True)
    return {"forward": fwd, "backward": bwd}


def steps_to_loss(eval_steps, eval_loss, threshold):
    """The first evaluation step at which the loss is below ``threshold``, or ``None`` when it
    never is (one network: ``eval_loss`` a 1-D sequence aligned with ``eval_steps``)."""
    threshold = real("threshold", threshold, positive=True)
    below = np.nonzero(np.asarray(eval_loss, dtype=float) < threshold)[0]
    return int(np.asarray(eval_steps)[below[0]]) if len(below) else None
