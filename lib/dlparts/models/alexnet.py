"""AlexNet (Krizhevsky, Sutskever and Hinton, 2012), readable top to bottom.

Three full-size layouts and one small one:

- ``alexnet(variant="paper")``: the network of the paper's Figure 2. Two towers, one per GPU:
  conv2, conv4 and conv5 are *grouped* convolutions (``groups=2``), so each tower only sees its
  own half of the channels; the towers talk at conv3 and in the fully connected layers. Local
  response normalization follows conv1 and conv2. Input 227×227 (the paper says 224, which does
  not divide: (224 − 11)/4 + 1 = 54.25). 60,965,224 parameters at 1000 classes.
- ``alexnet(variant="single")``: the same network on one device, no groups (the layer table of
  most lectures: 96, 256, 384, 384, 256 filters). 62,378,344 parameters.
- ``alexnet(variant="torchvision")``: the later one-tower layout that torchvision ships (64, 192,
  384, 256, 256 filters, padding 2 on 224×224 input, no LRN, adaptive average pooling to 6×6,
  dropout on the *inputs* of fc6 and fc7). It follows the single-GPU configuration of
  cuda-convnet2 (``layers-imagenet-1gpu.cfg``); Krizhevsky's "one weird trick" paper gives 384
  filters for conv4, not 256. 61,100,840 parameters.
- :func:`mini_alexnet`: the same eight-layer shape scaled down for 28×28 digits, for training on
  a laptop CPU in seconds.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..init import init_model

__all__ = ["ALEXNET_VARIANTS", "AbsTanh", "AlexNet", "alexnet", "four_layer_cnn", "mini_alexnet"]

#: The layouts :func:`alexnet` knows.
ALEXNET_VARIANTS = ("paper", "single", "torchvision")


class AbsTanh(nn.Module):
    """``f(x) = |tanh(x)|``, the rectified tanh of Jarrett et al. (2009).

    AlexNet's paper names it as an earlier alternative to the saturating units: with contrast
    normalization and average pooling it helped against overfitting on Caltech-101. It saturates
    like tanh for large ``|x|`` and, like a rectifier, discards the sign of its input.

    Shape:
        - Input: any shape
        - Output: the same shape, values in ``[0, 1)``
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x).abs()


_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "abstanh": AbsTanh}


class AlexNet(nn.Module):
    """AlexNet's eight learned layers: five convolutions, then three fully connected layers.

    ``features`` is conv1 → ReLU → [LRN] → pool → conv2 → ReLU → [LRN] → pool → conv3 → ReLU →
    conv4 → ReLU → conv5 → ReLU → pool (→ adaptive average pool when ``adaptive_pool``);
    ``classifier`` is fc6 → ReLU → dropout → fc7 → ReLU → dropout → fc8. Layers are named after
    the paper (``features.conv1``, ``classifier.fc6``, ...).

    Shape:
        - Input: ``(N, in_channels, input_size, input_size)``
        - Output: ``(N, num_classes)`` logits

    Args:
        num_classes: outputs of fc8.
        channels: filters of conv1 … conv5.
        groups: groups of conv1 … conv5 (2 = the paper's two towers).
        kernels: kernel sizes of conv1 … conv5.
        conv1_stride, conv1_padding: conv1's stride and padding (conv2 … conv5 use stride 1 and
            "same" padding).
        pool_kernel, pool_stride: max pooling (3, 2) is the paper's overlapping pooling; (2, 2)
            the non-overlapping one.
        pool_padding: ``None`` for no padding, or ``"half"``: pad so that every pool gives
            ``floor(n / 2)``, whatever its kernel (used by :func:`mini_alexnet` so that both
            pooling schemes give equal shapes, as 3/2 and 2/2 both give 55 → 27 in the paper).
        lrn: local response normalization after conv1 and conv2.
        hidden: width of fc6 and fc7.
        dropout: dropout probability before fc6 and fc7 (0 turns it off).
        in_channels: image channels (3 for RGB).
        input_size: side of the square input the layers are sized for.
        adaptive_pool: if given, an adaptive average pool to this size before fc6 (torchvision).
        activation: ``"relu"`` (the paper), ``"tanh"``, ``"sigmoid"`` or ``"abstanh"``
            (:class:`AbsTanh`, Jarrett et al.'s ``|tanh(x)|``).
        dropout_before: drop the *inputs* of fc6 and fc7 (torchvision's layout) instead of the
            outputs of fc6 and fc7 (the paper: "dropout in the first two fully-connected layers").
    """

    def __init__(
        self,
        num_classes: int = 1000,
        channels=(96, 256, 384, 384, 256),
        groups=(1, 2, 1, 2, 2),
        kernels=(11, 5, 3, 3, 3),
        conv1_stride: int = 4,
        conv1_padding: int = 0,
        pool_kernel: int = 3,
        pool_stride: int = 2,
        pool_padding: str | None = None,
        lrn: bool = True,
        hidden: int = 4096,
        dropout: float = 0.5,
        in_channels: int = 3,
        input_size: int = 227,
        adaptive_pool: int | None = None,
        activation: str = "relu",
        dropout_before: bool = False,
    ):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}"
            )
        if len(channels) != 5 or len(groups) != 5 or len(kernels) != 5:
            raise ValueError("channels, groups and kernels each need five entries (conv1 … conv5)")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        act = _ACTIVATIONS[activation]
        self.input_size = input_size
        self.in_channels = in_channels

        layers: list[tuple[str, nn.Module]] = []
        size = input_size
        c_in = in_channels

        def pool(name):
            nonlocal size
            pad = 0
            if pool_padding == "half":
                # choose the padding that gives floor(size / 2) for this kernel
                for p in range(pool_kernel // 2 + 1):
                    if (size + 2 * p - pool_kernel) // pool_stride + 1 == size // 2:
                        pad = p
                        break
            layers.append((name, nn.MaxPool2d(pool_kernel, pool_stride, padding=pad)))
            size = (size + 2 * pad - pool_kernel) // pool_stride + 1

        for i, (c, g, k) in enumerate(zip(channels, groups, kernels), start=1):
            stride, pad = (conv1_stride, conv1_padding) if i == 1 else (1, k // 2)
            # PyTorch floors a size that does not divide (torchvision's 224 + 4 - 11 = 217
            # leaves one column over); dlparts.arith.conv_output_size says when that happens.
            layers.append((f"conv{i}", nn.Conv2d(c_in, c, k, stride=stride, padding=pad, groups=g)))
            size = (size + 2 * pad - k) // stride + 1
            layers.append((f"relu{i}", act()))
            if lrn and i in (1, 2):
                layers.append((f"norm{i}", _paper_lrn()))
            if i in (1, 2, 5):
                pool(f"pool{i}")
            c_in = c
        if adaptive_pool is not None:
            layers.append(("avgpool", nn.AdaptiveAvgPool2d(adaptive_pool)))
            size = adaptive_pool
        if size < 1:
            raise ValueError(f"input_size={input_size} is too small for this layout")
        self.features = nn.Sequential(OrderedDict(layers))
        self.flat_features = c_in * size * size
        fc = [
            ("fc6", nn.Linear(self.flat_features, hidden)),
            ("relu6", act()),
            ("drop6", nn.Dropout(dropout)),
            ("fc7", nn.Linear(hidden, hidden)),
            ("relu7", act()),
            ("drop7", nn.Dropout(dropout)),
            ("fc8", nn.Linear(hidden, num_classes)),
        ]
        if dropout_before:  # torchvision: dropout on the inputs of fc6 and fc7
            fc = [fc[2], fc[0], fc[1], fc[5], fc[3], fc[4], fc[6]]
        self.classifier = nn.Sequential(OrderedDict([("flatten", nn.Flatten()), *fc]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = (self.in_channels, self.input_size, self.input_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"AlexNet expects input of shape (N, {expected[0]}, {expected[1]}, {expected[2]}), "
                f"got {tuple(x.shape)}; resize or crop the images (the paper's network takes "
                "227×227 crops; mini_alexnet takes 28×28)."
            )
        return self.classifier(self.features(x))


def alexnet(num_classes: int = 1000, variant: str = "paper") -> AlexNet:
    """A full-size AlexNet.

    Args:
        num_classes: 1000 for ImageNet.
        variant: ``"paper"`` (two towers: grouped conv2/4/5 and LRN, 227×227 input, 60,965,224
            parameters), ``"single"`` (ungrouped, 62,378,344 parameters) or ``"torchvision"``
            (64-192-384-256-256, 224×224 input, 61,100,840 parameters).

    Raises:
        ValueError: for an unknown variant (the message lists the known ones).
    """
    if variant == "paper":
        return AlexNet(num_classes)
    if variant == "single":
        return AlexNet(num_classes, groups=(1, 1, 1, 1, 1))
    if variant == "torchvision":
        return AlexNet(
            num_classes,
            channels=(64, 192, 384, 256, 256),
            groups=(1, 1, 1, 1, 1),
            conv1_padding=2,
            lrn=False,
            input_size=224,
            adaptive_pool=6,
            dropout_before=True,
        )
    raise ValueError(f"unknown AlexNet variant {variant!r}; known variants: {ALEXNET_VARIANTS}")


def mini_alexnet(
    num_classes: int = 10,
    in_channels: int = 1,
    input_size: int = 28,
    width: int = 16,
    hidden: int = 128,
    pool: str = "overlap",
    groups: int = 1,
    lrn: bool = True,
    dropout: float = 0.5,
    activation: str = "relu",
    init: str = "he",
) -> AlexNet:
    """AlexNet's shape scaled down for small images (28×28 digits by default).

    Five convolutions of ``width·(1, 2, 3, 3, 2)`` filters (5×5, 5×5, 3×3, 3×3, 3×3, stride 1),
    LRN after the first two, max pooling after conv1, conv2 and conv5, then fc6/fc7 of ``hidden``
    units with dropout, and fc8. ``pool="overlap"`` is the paper's 3×3 stride 2, ``"nonoverlap"``
    2×2 stride 2; both give the same shapes (28 → 14 → 7 → 3). ``groups=2`` makes conv2, conv4
    and conv5 grouped, as in the paper's two towers.

    ``init="he"`` (default) draws weights from N(0, 2/fan_in) and sets biases to zero (He et
    al., 2015), so that a few epochs of SGD at the paper's learning rate train it; ``"pytorch"``
    keeps PyTorch's default initialisation, whose smaller weights shrink the signal at every
    layer. (The paper drew from N(0, 0.01²) and set some biases to 1, and trained for 90 epochs.)

    Shape:
        - Input: ``(N, in_channels, input_size, input_size)``
        - Output: ``(N, num_classes)``
    """
    kernels = {"overlap": 3, "nonoverlap": 2}
    if pool not in kernels:
        raise ValueError(
            f"pool must be 'overlap' (3×3, stride 2) or 'nonoverlap' (2×2), got {pool!r}"
        )
    if groups not in (1, 2):
        raise ValueError(f"groups must be 1 (one tower) or 2 (two towers), got {groups!r}")
    if width % 2 and groups == 2:
        raise ValueError(f"width must be even for two towers, got {width}")
    if init not in ("he", "pytorch"):
        raise ValueError(f"init must be 'he' or 'pytorch', got {init!r}")
    model = AlexNet(
        num_classes,
        channels=tuple(width * m for m in (1, 2, 3, 3, 2)),
        groups=(1, groups, 1, groups, groups),
        kernels=(5, 5, 3, 3, 3),
        conv1_stride=1,
        conv1_padding=2,
        pool_kernel=kernels[pool],
        pool_stride=2,
        pool_padding="half",
        lrn=lrn,
        hidden=hidden,
        dropout=dropout,
        in_channels=in_channels,
        input_size=input_size,
        activation=activation,
    )
    if init == "he":
        init_model(model, "he")
    return model


def four_layer_cnn(
    activation: str = "relu",
    num_classes: int = 10,
    in_channels: int = 1,
    width: int = 16,
    input_size: int = 28,
) -> nn.Sequential:
    """A small four-layer convolutional network, as in the paper's Figure 1 (ReLU vs tanh).

    Three convolutions (5×5 with ``width`` filters, 5×5 with ``2·width``, 3×3 with ``2·width``;
    2×2 max pooling after the first two) and a linear classifier; only the activation changes.
    Default PyTorch initialisation, no normalization, no dropout: the point is how fast plain
    SGD trains each activation (``"relu"``, ``"tanh"``, ``"sigmoid"`` or ``"abstanh"``).

    Shape:
        - Input: ``(N, in_channels, input_size, input_size)`` (28 for digits, 32 for CIFAR-10;
          a multiple of 4)
        - Output: ``(N, num_classes)``
    """
    if input_size < 4 or input_size % 4:
        raise ValueError(f"input_size must be a positive multiple of 4, got {input_size!r}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    act = _ACTIVATIONS[activation]
    return nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Conv2d(in_channels, width, 5, padding=2)),
                ("act1", act()),
                ("pool1", nn.MaxPool2d(2)),
                ("conv2", nn.Conv2d(width, 2 * width, 5, padding=2)),
                ("act2", act()),
                ("pool2", nn.MaxPool2d(2)),
                ("conv3", nn.Conv2d(2 * width, 2 * width, 3, padding=1)),
                ("act3", act()),
                ("flatten", nn.Flatten()),
                ("fc", nn.Linear(2 * width * (input_size // 4) ** 2, num_classes)),
            ]
        )
    )


# --------------------------------------------------------------------------- private helpers


def _paper_lrn() -> nn.LocalResponseNorm:
    """LRN with the paper's constants (k=2, n=5, alpha=1e-4, beta=0.75).

    PyTorch divides ``alpha`` by ``size``, so the paper's alpha is passed as ``alpha * n``.
    """
    n, alpha = 5, 1e-4
    return nn.LocalResponseNorm(size=n, alpha=alpha * n, beta=0.75, k=2.0)
