"""The batch-normalization chapter's experiments: the paper's MNIST network (its Figure 1), a
recorder for the inputs of its sigmoids, and a small convolutional network with batch
normalization in one of three places.

Example::

    d = mnist_split(4000, 0, 1000)
    run = train_mlp(sigmoid_mlp(bn=True), d, steps=3000, lr=0.5)
    run.hist.first_step_reaching("val_acc", 0.9), run.percentiles[-1]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .train import History, fit

PERCENTILES = (15, 50, 85)


def sigmoid_mlp(
    bn: bool, hidden: int = 100, depth: int = 3, init_std: float = 0.1, n_in: int = 784
) -> nn.Sequential:
    """The network of the paper's Figure 1: ``depth`` fully connected sigmoid layers of
    ``hidden`` units and a linear layer of 10 logits, weights drawn from N(0, init_std²).

    With ``bn`` each hidden layer computes ``sigmoid(BN(W u))``: batch normalization sits
    between the affine map and the nonlinearity, and the bias is dropped because BN's β takes
    its place (the paper's Section 3.2).

    Shape: input ``(N, 1, 28, 28)`` or ``(N, 784)``; output ``(N, 10)``.
    """
    if depth < 1 or hidden < 1 or init_std <= 0:
        raise ValueError(
            f"need depth >= 1, hidden >= 1, init_std > 0; got {depth}, {hidden}, {init_std}"
        )
    layers: list[nn.Module] = [nn.Flatten()]
    width = n_in
    for _ in range(depth):
        linear = nn.Linear(width, hidden, bias=not bn)
        nn.init.normal_(linear.weight, 0.0, init_std)
        if linear.bias is not None:
            nn.init.zeros_(linear.bias)
        layers += [linear, nn.BatchNorm1d(hidden)] if bn else [linear]
        layers.append(nn.Sigmoid())
        width = hidden
    out = nn.Linear(width, 10)
    nn.init.normal_(out.weight, 0.0, init_std)
    nn.init.zeros_(out.bias)
    layers.append(out)
    return nn.Sequential(*layers)


@torch.no_grad()
def sigmoid_inputs(
    model: nn.Module, x: torch.Tensor, batch_stats: bool = True
) -> list[torch.Tensor]:
    """The inputs of every ``nn.Sigmoid`` (or ``nn.ReLU``) in ``model`` for the batch ``x``: a
    list of ``(N, units)`` tensors.

    With ``batch_stats`` (the default) batch normalization uses the statistics of ``x`` itself,
    as in training, so the result is the distribution a training step sees; the running
    statistics are left unchanged. Otherwise the model runs in evaluation mode. Either way its
    mode is restored.
    """
    acts = [m for m in model.modules() if isinstance(m, (nn.Sigmoid, nn.ReLU))]
    seen: list[torch.Tensor] = []
    hooks = [
        m.register_forward_hook(lambda _m, inp, _o: seen.append(inp[0].detach())) for m in acts
    ]
    was_training = model.training
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    model.train(batch_stats)
    try:
        model(x)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
        for k, v in model.named_buffers():
            v.copy_(buffers[k])
    return [s.flatten(1) for s in seen]


@dataclass
class MLPRun:
    """One training run: fit's ``hist``; ``record_step`` with, per recorded step, the 15th, 50th
    and 85th percentiles of one sigmoid's input over the test digits (``percentiles``,
    ``(steps, 3)``); and ``snapshots``: at a few steps, the inputs of every hidden layer's
    sigmoids for ``probe`` digits (a list over steps of lists over layers of ``(probe, units)``
    arrays)."""

    hist: History
    record_step: list = field(default_factory=list)
    percentiles: np.ndarray | None = None
    snapshot_step: list = field(default_factory=list)
    snapshots: list = field(default_factory=list)
    lr: float = 0.0
    bn: bool = False


def train_mlp(
    model: nn.Module,
    data: dict,
    *,
    steps: int,
    lr: float,
    batch_size: int = 60,
    eval_every: int = 50,
    unit: tuple[int, int] = (2, 0),
    n_snapshots: int = 0,
    probe: int = 200,
    seed: int = 0,
    device=None,
    progress: bool = True,
    desc: str = "training",
) -> MLPRun:
    """Train with plain SGD (``lr``, ``batch_size``) for ``steps`` steps on ``data`` (a
    :func:`dlparts.data.mnist_split` dict), evaluating test accuracy every ``eval_every`` steps.
    The sigmoid inputs are recorded as a training step would see them (batch statistics of the
    test digits, see :func:`sigmoid_inputs`).

    ``unit = (layer, index)`` picks the sigmoid whose input distribution is recorded at every
    evaluation (layer 2 is the last of three hidden layers). ``n_snapshots`` > 0 also keeps the
    inputs of all sigmoids for the first ``probe`` test digits at that many evenly spaced steps
    (step 0 included).
    """
    from .runtime import device as default_device

    dev = device or default_device()
    model.to(dev)
    x_test = data["x_test"].to(dev)
    layer, index = unit
    run = MLPRun(
        hist=History(), lr=lr, bn=any(isinstance(m, nn.BatchNorm1d) for m in model.modules())
    )
    pct: list = []
    snap_at = set()
    if n_snapshots > 0:
        snap_at = {int(round(s)) for s in np.linspace(0, steps, n_snapshots)}

    def record(step, m):
        if step % eval_every == 0 or step == steps:
            inputs = sigmoid_inputs(m, x_test)
            v = inputs[layer][:, index].float().cpu().numpy()
            run.record_step.append(step)
            pct.append(np.percentile(v, PERCENTILES))
        if step in snap_at:
            inputs = sigmoid_inputs(m, x_test[:probe])
            run.snapshot_step.append(step)
            run.snapshots.append([a.float().cpu().numpy() for a in inputs])

    record(0, model)
    run.hist = fit(
        model,
        (data["x_train"], data["y_train"]),
        val=(data["x_test"], data["y_test"]),
        epochs=steps * batch_size // len(data["x_train"]) + 1,
        max_steps=steps,
        batch_size=batch_size,
        optimizer=torch.optim.SGD(model.parameters(), lr=lr),
        eval_every=eval_every,
        on_step=record,
        seed=seed,
        device=dev,
        progress=progress,
        desc=desc,
    )
    run.percentiles = np.array(pct)
    return run


class SmallConvNet(nn.Module):
    """Three 3×3 convolutions (16, 32, 64 channels), each followed by a ReLU, max pooling after
    the first two, global average pooling and a linear layer of 10 logits.

    ``bn`` places batch normalization:

    - ``"none"``: conv → ReLU (the convolutions keep their biases);
    - ``"before"``: conv → BN → ReLU, as in the paper and ResNet (the convolution's bias is
      dropped: BN subtracts the mean, and β replaces it);
    - ``"after"``: conv → ReLU → BN, a common alternative.

    Shape: input ``(N, 1, 28, 28)``; output ``(N, 10)``.
    """

    PLACES = ("none", "before", "after")

    def __init__(self, bn: str = "before", widths=(16, 32, 64)):
        super().__init__()
        if bn not in self.PLACES:
            raise ValueError(f"bn must be one of {self.PLACES}, got {bn!r}")
        self.bn = bn
        layers: list[nn.Module] = []
        c_in = 1
        for i, c in enumerate(widths):
            conv = nn.Conv2d(c_in, c, 3, padding=1, bias=bn != "before")
            if bn == "before":
                layers += [conv, nn.BatchNorm2d(c), nn.ReLU()]
            elif bn == "after":
                layers += [conv, nn.ReLU(), nn.BatchNorm2d(c)]
            else:
                layers += [conv, nn.ReLU()]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, 10)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))
