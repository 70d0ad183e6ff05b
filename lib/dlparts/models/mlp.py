"""Small networks that several chapters train: a fully connected ReLU network with optional
dropout (the regularization chapter), the fully connected sigmoid network of the
batch-normalization paper's Figure 1, and a three-layer convolutional network with a
normalization layer (batch or group normalization) in one of two places, or none."""

from __future__ import annotations

from torch import nn

from .. import _validate

__all__ = ["SmallConvNet", "mlp", "sigmoid_mlp"]


def sigmoid_mlp(
    bn: bool, hidden: int = 100, depth: int = 3, init_std: float = 0.1, in_features: int = 784
) -> nn.Sequential:
    """The network of the batch-normalization paper's Figure 1: ``depth`` fully connected
    sigmoid layers of ``hidden`` units and a linear layer of 10 logits, weights drawn from
    N(0, init_std²).

    With ``bn`` each hidden layer computes ``sigmoid(BN(W u))``: batch normalization sits
    between the affine map and the nonlinearity, and the bias is dropped because BN's β takes
    its place (the paper's Section 3.2).

    Shape: input ``(N, 1, 28, 28)`` or ``(N, in_features)``; output ``(N, 10)``.
    """
    depth = _validate.integer("depth", depth, 1)
    hidden = _validate.integer("hidden", hidden, 1)
    in_features = _validate.integer("in_features", in_features, 1)
    init_std = _validate.real("init_std", init_std, positive=True)
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
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


class SmallConvNet(nn.Module):
    """Three 3×3 convolutions (``widths``, default 16, 32, 64 channels), each followed by a
    ReLU, max pooling after the first two, global average pooling and a linear layer of 10
    logits.

    ``bn`` places the normalization layer:

    - ``"none"``: conv → ReLU (the convolutions keep their biases);
    - ``"before"``: conv → norm → ReLU, as in the batch-normalization paper and ResNet (the
      convolution's bias is dropped: the normalization subtracts the mean, and β replaces it);
    - ``"after"``: conv → ReLU → norm, a common alternative.

    ``norm`` chooses the layer: ``"batch"`` (``nn.BatchNorm2d``: statistics per channel over the
    batch and the positions) or ``"group"`` (``nn.GroupNorm(groups, C)``: statistics per image
    over groups of ``C / groups`` channels and their positions, the same in training and
    evaluation; every width must be divisible by ``groups``).

    Shape: input ``(N, in_channels, H, W)`` with ``H, W >= 4``; output ``(N, 10)``.
    """

    PLACES = ("none", "before", "after")
    NORMS = ("batch", "group")

    def __init__(
        self,
        bn: str = "before",
        widths=(16, 32, 64),
        norm: str = "batch",
        groups: int = 4,
        in_channels: int = 1,
    ):
        super().__init__()
        if bn not in self.PLACES:
            raise ValueError(f"bn must be one of {self.PLACES}, got {bn!r}")
        if norm not in self.NORMS:
            raise ValueError(f"norm must be one of {self.NORMS}, got {norm!r}")
        widths = tuple(_validate.integer("widths[i]", c, 1) for c in widths)
        if not widths:
            raise ValueError("widths must name at least one layer width, got an empty sequence")
        groups = _validate.integer("groups", groups, 1)
        in_channels = _validate.integer("in_channels", in_channels, 1)
        if norm == "group" and bn != "none" and any(c % groups for c in widths):
            raise ValueError(
                f"group normalization splits each layer's channels into groups={groups} equal "
                f"groups, but widths={widths} are not all divisible by {groups}; choose widths "
                "that are multiples of groups, or another groups."
            )
        self.bn, self.norm, self.groups = bn, norm, groups
        layers: list[nn.Module] = []
        c_in = in_channels
        for i, c in enumerate(widths):
            conv = nn.Conv2d(c_in, c, 3, padding=1, bias=bn != "before")
            if bn == "before":
                layers += [conv, self._norm(c), nn.ReLU()]
            elif bn == "after":
                layers += [conv, nn.ReLU(), self._norm(c)]
            else:
                layers += [conv, nn.ReLU()]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, 10)

    def _norm(self, c: int) -> nn.Module:
        return nn.BatchNorm2d(c) if self.norm == "batch" else nn.GroupNorm(self.groups, c)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


def mlp(hidden=(800, 800), p_input=0.0, p_hidden=0.0, in_features=784, num_classes=10):
    """A fully connected ReLU network, optionally with (PyTorch-convention) dropout.

    ``p_input`` is applied to the flattened input, ``p_hidden`` after every hidden ReLU; both are
    probabilities of **dropping** (the dropout paper's keep probabilities 0.8 and 0.5 are
    ``p_input=0.2, p_hidden=0.5``).

    Shape:
        - Input: ``(N, 1, 28, 28)`` or ``(N, 784)``
        - Output: ``(N, num_classes)`` logits
    """
    layers: list[nn.Module] = [nn.Flatten()]
    if p_input:
        layers.append(nn.Dropout(p_input))
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        if p_hidden:
            layers.append(nn.Dropout(p_hidden))
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
