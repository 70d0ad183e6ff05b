"""The classic convolutional networks: LeNet-5, ZFNet, VGG and the Inception block of GoogLeNet."""

from __future__ import annotations

import torch
from torch import nn

from .._validate import integer as _integer

__all__ = [
    "GOOGLENET_INCEPTIONS",
    "VGG",
    "VGG_CONFIGS",
    "GoogLeNet",
    "InceptionAux",
    "InceptionBlock",
    "LeNet5",
    "NaiveInceptionBlock",
    "ZFNet",
    "googlenet",
    "inception_block",
    "inception_savings",
    "lenet5",
    "vgg16",
    "zfnet",
]


class LeNet5(nn.Module):
    """LeNet-5 in its classic 6/16/120/84 layout, with modern max pooling and ReLU/tanh choice.

    The 1998 network used scaled tanh units, trainable subsampling and a partial C3 connection
    table; this is the usual simplification (full C3 connections), which is what "LeNet-5" means
    in most courses.

    Shape:
        - Input: ``(N, 1, 32, 32)``
        - Output: ``(N, num_classes)`` logits

    Args:
        num_classes: output classes (10 digits).
        activation: ``"tanh"`` (the original) or ``"relu"``.
    """

    def __init__(self, num_classes: int = 10, activation: str = "tanh"):
        super().__init__()
        acts = {"tanh": nn.Tanh, "relu": nn.ReLU}
        if activation not in acts:
            raise ValueError(f"activation must be one of {sorted(acts)}, got {activation!r}")
        act = acts[activation]
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5),  # C1: 6 @ 28x28
            act(),
            nn.MaxPool2d(2),  # S2: 6 @ 14x14
            nn.Conv2d(6, 16, 5),  # C3: 16 @ 10x10
            act(),
            nn.MaxPool2d(2),  # S4: 16 @ 5x5
            nn.Conv2d(16, 120, 5),  # C5: 120 @ 1x1
            act(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(120, 84),  # F6
            act(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        if x.shape[-2:] != (32, 32):
            raise ValueError(
                f"LeNet-5 expects 32x32 inputs, got {tuple(x.shape[-2:])}; pad 28x28 MNIST digits "
                "by 2 on each side (dlparts.data.mnist_split(size=32))."
            )
        return self.classifier(self.features(x))


def lenet5(num_classes: int = 10) -> LeNet5:
    """LeNet-5 for 1×32×32 inputs (61,706 parameters at 10 classes)."""
    return LeNet5(num_classes)


# --------------------------------------------------------------------------- VGG

#: VGG configurations (Simonyan and Zisserman, 2015, Table 1): numbers are 3×3 conv filters,
#: "M" a 2×2 max pool with stride 2.
VGG_CONFIGS = {
    "A": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),  # VGG-11
    "B": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),  # VGG-13
    "D": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "E": (
        *(64, 64, "M", 128, 128, "M"),
        *(256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
    ),
}


class VGG(nn.Module):
    """VGG: stacks of 3×3 convolutions (stride 1, padding 1) and 2×2 max pools, then 3 FC layers.

    Laid out as torchvision does (``features``, ``avgpool``, ``classifier``), so the parameter
    count equals torchvision's: 138,357,544 for VGG-16 (configuration D) at 1000 classes. The
    adaptive average pool to 7×7 does nothing on a 224×224 input; it lets other sizes through.

    Shape:
        - Input: ``(N, 3, H, W)``, ``H, W >= 32`` (224×224 in the paper)
        - Output: ``(N, num_classes)`` logits

    Args:
        config: one of ``VGG_CONFIGS`` (``"D"`` is VGG-16) or a sequence of ints and ``"M"``.
        num_classes: outputs of the last layer.
        batch_norm: insert ``BatchNorm2d`` after every convolution (a later variant, not the
            paper's).
        dropout: dropout probability before fc7 and fc8 (0.5 in the paper).
    """

    def __init__(
        self, config="D", num_classes: int = 1000, batch_norm: bool = False, dropout: float = 0.5
    ):
        super().__init__()
        if isinstance(config, str):
            if config not in VGG_CONFIGS:
                raise ValueError(
                    f"unknown VGG configuration {config!r}; use one of {sorted(VGG_CONFIGS)} "
                    "('D' is VGG-16) or a sequence of channel counts and 'M'."
                )
            config = VGG_CONFIGS[config]
        layers: list[nn.Module] = []
        c = 3
        for v in config:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers.append(nn.Conv2d(c, int(v), 3, padding=1))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(int(v)))
                layers.append(nn.ReLU(inplace=True))
                c = int(v)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(7)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c * 7 * 7, 4096),  # fc6
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),  # fc7
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, num_classes),  # fc8
        )

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"VGG expects (N, 3, H, W) images, got shape {tuple(x.shape)}.")
        return self.classifier(self.avgpool(self.features(x)))


def vgg16(num_classes: int = 1000, batch_norm: bool = False) -> VGG:
    """VGG-16 (configuration D): 13 convolutions + 3 FC layers, 138,357,544 parameters at 1000
    classes, 224×224×3 input."""
    return VGG("D", num_classes, batch_norm=batch_norm)


# --------------------------------------------------------------------------- ZFNet


class ZFNet(nn.Module):
    """ZFNet (Zeiler and Fergus, 2014): AlexNet with a smaller, denser first layer.

    conv1 is 7×7 with stride 2 (AlexNet: 11×11, stride 4), conv2 has stride 2, and pools are
    3×3 with stride 2 (``ceil_mode``, which gives the paper's 110 → 55 and 26 → 13). Local
    response normalization follows conv1 and conv2 as in AlexNet.

    ``conv345`` sets the filters of conv3–5: ``(384, 384, 256)`` is the paper's Figure 3 (the
    same as AlexNet); ``(512, 1024, 512)``, the default here, is the wider model of its Table 3
    that lectures present as "ZFNet".

    Shape:
        - Input: ``(N, 3, 224, 224)``
        - Output: ``(N, num_classes)`` logits
    """

    def __init__(self, num_classes: int = 1000, conv345=(512, 1024, 512), dropout: float = 0.5):
        super().__init__()
        c3, c4, c5 = (int(c) for c in conv345)
        lrn = (5, 5e-4, 0.75, 2.0)  # AlexNet's constants (PyTorch's alpha is the paper's * n)
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 7, stride=2, padding=1),  # 96 @ 110x110
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(*lrn),
            nn.MaxPool2d(3, 2, ceil_mode=True),  # 55x55
            nn.Conv2d(96, 256, 5, stride=2),  # 256 @ 26x26
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(*lrn),
            nn.MaxPool2d(3, 2, ceil_mode=True),  # 13x13
            nn.Conv2d(256, c3, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),  # 6x6
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(c5 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, 224, 224):
            raise ValueError(f"ZFNet expects (N, 3, 224, 224) images, got {tuple(x.shape)}.")
        return self.classifier(self.features(x))


def zfnet(num_classes: int = 1000, conv345=(512, 1024, 512)) -> ZFNet:
    """ZFNet; ``conv345=(384, 384, 256)`` gives the paper's Figure 3 network."""
    return ZFNet(num_classes, conv345)


# --------------------------------------------------------------------------- Inception


class InceptionBlock(nn.Module):
    """GoogLeNet's Inception module with dimension reductions (Szegedy et al., 2015, Figure 2b).

    Four parallel branches, concatenated along channels:

    1. 1×1 conv → ``c1``
    2. 1×1 conv → ``c3_reduce``, then 3×3 conv → ``c3``
    3. 1×1 conv → ``c5_reduce``, then ``kernel5``×``kernel5`` conv → ``c5``
    4. 3×3 max pool (stride 1), then 1×1 conv → ``pool_proj``

    Every convolution is followed by a ReLU. ``kernel5=5`` is the paper; torchvision's GoogLeNet
    uses 3 here (a known discrepancy kept for its pretrained weights).

    Shape:
        - Input: ``(N, in_channels, H, W)``
        - Output: ``(N, c1 + c3 + c5 + pool_proj, H, W)``
    """

    def __init__(
        self, in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj, kernel5=5, batch_norm=False
    ):
        super().__init__()
        _positive(
            in_channels=in_channels,
            c1=c1,
            c3_reduce=c3_reduce,
            c3=c3,
            c5_reduce=c5_reduce,
            c5=c5,
            pool_proj=pool_proj,
        )
        if kernel5 not in (3, 5):
            raise ValueError(f"kernel5 must be 5 (the paper) or 3 (torchvision), got {kernel5!r}.")
        self.in_channels = in_channels
        self.out_channels = c1 + c3 + c5 + pool_proj
        bn = batch_norm
        self.branch1 = _conv(in_channels, c1, 1, bn)
        self.branch3 = nn.Sequential(
            _conv(in_channels, c3_reduce, 1, bn), _conv(c3_reduce, c3, 3, bn)
        )
        self.branch5 = nn.Sequential(
            _conv(in_channels, c5_reduce, 1, bn), _conv(c5_reduce, c5, kernel5, bn)
        )
        self.branch_pool = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
            _conv(in_channels, pool_proj, 1, bn),
        )

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"InceptionBlock expects (N, {self.in_channels}, H, W), got {tuple(x.shape)}."
            )
        branches = (self.branch1, self.branch3, self.branch5, self.branch_pool)
        return torch.cat([b(x) for b in branches], dim=1)


def inception_block(in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj) -> InceptionBlock:
    """The paper's Inception module (5×5 branch, ReLU, no batch norm); output channels
    ``c1 + c3 + c5 + pool_proj`` at the input's spatial size."""
    return InceptionBlock(in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj)


class NaiveInceptionBlock(nn.Module):
    """The naive Inception module (the paper's Figure 2a): 1×1, 3×3 and 5×5 convolutions and a
    3×3 max pool side by side on the full input, no 1×1 reductions.

    The pool branch passes all ``in_channels`` through, so the output grows at every module.

    Shape:
        - Input: ``(N, in_channels, H, W)``
        - Output: ``(N, c1 + c3 + c5 + in_channels, H, W)``
    """

    def __init__(self, in_channels, c1, c3, c5):
        super().__init__()
        _positive(in_channels=in_channels, c1=c1, c3=c3, c5=c5)
        self.in_channels = in_channels
        self.out_channels = c1 + c3 + c5 + in_channels
        self.branch1 = _conv(in_channels, c1, 1, False)
        self.branch3 = _conv(in_channels, c3, 3, False)
        self.branch5 = _conv(in_channels, c5, 5, False)
        self.branch_pool = nn.MaxPool2d(3, stride=1, padding=1)

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"NaiveInceptionBlock expects (N, {self.in_channels}, H, W), got {tuple(x.shape)}."
            )
        branches = (self.branch1, self.branch3, self.branch5, self.branch_pool)
        return torch.cat([b(x) for b in branches], dim=1)


# --------------------------------------------------------------------------- GoogLeNet

#: The nine Inception modules of GoogLeNet (the paper's Table 1):
#: name -> (in_channels, #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj).
GOOGLENET_INCEPTIONS = {
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


class InceptionAux(nn.Module):
    """GoogLeNet's auxiliary classifier (after 4a and 4d, used in training only): 5×5 average
    pool with stride 3 (adaptive to 4×4 here, as torchvision), 1×1 conv to 128, FC 1024 with
    dropout 0.7, FC to the classes. Its loss is added with weight 0.3."""

    def __init__(self, in_channels, num_classes, batch_norm=False):
        super().__init__()
        self.net = nn.Sequential(
            nn.AdaptiveAvgPool2d(4),
            _conv(in_channels, 128, 1, batch_norm),
            nn.Flatten(),
            nn.Linear(128 * 4 * 4, 1024),
            nn.ReLU(inplace=True),
            nn.Dropout(0.7),
            nn.Linear(1024, num_classes),
        )

    def forward(self, x):
        return self.net(x)


class GoogLeNet(nn.Module):
    """GoogLeNet (Szegedy et al., 2015): a 7×7 stem, nine Inception modules, global average pool.

    ``kernel5=5, batch_norm=False`` is the paper's network (without its local response
    normalization, which has no parameters); ``kernel5=3, batch_norm=True`` is torchvision's
    (6,624,904 parameters without the auxiliary heads, 13,004,888 with them).

    In training mode with ``aux_logits=True``, ``forward`` returns ``(logits, aux1, aux2)``;
    otherwise just the logits.

    Shape:
        - Input: ``(N, 3, 224, 224)``
        - Output: ``(N, num_classes)`` logits
    """

    def __init__(
        self, num_classes=1000, kernel5=5, batch_norm=False, aux_logits=False, dropout=0.4
    ):
        super().__init__()
        bn = batch_norm
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=not bn),
            *([nn.BatchNorm2d(64, eps=0.001)] if bn else []),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            _conv(64, 64, 1, bn),
            _conv(64, 192, 3, bn),
            nn.MaxPool2d(3, 2, ceil_mode=True),
        )

        def block(name):
            return InceptionBlock(*GOOGLENET_INCEPTIONS[name], kernel5=kernel5, batch_norm=bn)

        self.inception3 = nn.Sequential(
            block("3a"), block("3b"), nn.MaxPool2d(3, 2, ceil_mode=True)
        )
        self.inception4a = block("4a")
        self.inception4bcd = nn.Sequential(block("4b"), block("4c"), block("4d"))
        self.inception4e = nn.Sequential(block("4e"), nn.MaxPool2d(2, 2, ceil_mode=True))
        self.inception5 = nn.Sequential(block("5a"), block("5b"))
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(1024, num_classes)
        )
        self.aux1 = InceptionAux(512, num_classes, bn) if aux_logits else None
        self.aux2 = InceptionAux(528, num_classes, bn) if aux_logits else None

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"GoogLeNet expects (N, 3, H, W) images, got {tuple(x.shape)}.")
        x = self.inception4a(self.inception3(self.stem(x)))
        a1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4bcd(x)
        a2 = self.aux2(x) if self.aux2 is not None and self.training else None
        out = self.head(self.inception5(self.inception4e(x)))
        if a1 is not None:
            return out, a1, a2
        return out


def googlenet(num_classes=1000, kernel5=5, batch_norm=False, aux_logits=False) -> GoogLeNet:
    """GoogLeNet; ``googlenet(kernel5=3, batch_norm=True)`` has torchvision's parameter count."""
    return GoogLeNet(num_classes, kernel5, batch_norm, aux_logits)


def inception_savings(in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj, size):
    """Parameters and multiply-adds of the Inception module with 1×1 reductions against the naive
    module with the same 1×1/3×3/5×5 outputs, on a ``size``×``size`` map (biases included in
    parameters, not in multiply-adds).

    Returns a dict: ``params_reduced``, ``params_naive``, ``macs_reduced``, ``macs_naive``,
    ``out_reduced``, ``out_naive`` (output channels).
    """
    _positive(
        in_channels=in_channels,
        c1=c1,
        c3_reduce=c3_reduce,
        c3=c3,
        c5_reduce=c5_reduce,
        c5=c5,
        pool_proj=pool_proj,
        size=size,
    )
    hw = size * size

    def conv(cin, cout, k):
        return cin * cout * k * k + cout, cin * cout * k * k * hw

    reduced = [
        conv(in_channels, c1, 1),
        conv(in_channels, c3_reduce, 1),
        conv(c3_reduce, c3, 3),
        conv(in_channels, c5_reduce, 1),
        conv(c5_reduce, c5, 5),
        conv(in_channels, pool_proj, 1),
    ]
    naive = [conv(in_channels, c1, 1), conv(in_channels, c3, 3), conv(in_channels, c5, 5)]
    return {
        "params_reduced": sum(p for p, _ in reduced),
        "params_naive": sum(p for p, _ in naive),
        "macs_reduced": sum(m for _, m in reduced),
        "macs_naive": sum(m for _, m in naive),
        "out_reduced": c1 + c3 + c5 + pool_proj,
        "out_naive": c1 + c3 + c5 + in_channels,
    }


# --------------------------------------------------------------------------- private helpers


def _conv(cin: int, cout: int, k: int, batch_norm: bool) -> nn.Sequential:
    """k×k 'same' convolution + ReLU; with ``batch_norm``, torchvision's BasicConv2d (no bias,
    BatchNorm with eps 0.001)."""
    if batch_norm:
        return nn.Sequential(
            nn.Conv2d(cin, cout, k, padding=k // 2, bias=False),
            nn.BatchNorm2d(cout, eps=0.001),
            nn.ReLU(inplace=True),
        )
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2), nn.ReLU(inplace=True))


def _positive(**kw) -> None:
    for k, v in kw.items():
        _integer(k, v, 1)
