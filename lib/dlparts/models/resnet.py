"""Residual networks (He, Zhang, Ren and Sun, 2016): learn F(x) = H(x) − x, output F(x) + x.

- :func:`resnet18`, :func:`resnet34` (basic blocks) and :func:`resnet50` (bottleneck blocks): the
  ImageNet networks, laid out as torchvision's so the parameter counts equal its 11,689,512,
  21,797,672 and 25,557,032. (Like torchvision, the bottleneck strides in its 3×3 convolution,
  "ResNet v1.5"; the paper strides in the first 1×1. The parameter count is the same.)
- :func:`resnet_cifar` and :func:`plain_cifar`: the paper's CIFAR-10 networks (its Section 4.2):
  a 3×3 convolution, three stages of ``n`` basic blocks with 16, 32 and 64 filters on 32×32,
  16×16 and 8×8 maps, global average pooling and a fully connected layer; ``6n + 2`` weighted
  layers. The plain network is the same stack without the shortcuts. ``block="preact"`` builds
  it from :class:`PreActBlock` instead (He, Zhang, Ren and Sun, 2016b, "Identity mappings in deep
  residual networks"), with exactly the same parameter count under option A.
- :func:`zero_init_residual`: the last BN's γ of every residual branch set to 0 (Goyal et al.,
  2017), so that each block starts as the identity.

Shortcut options when a block changes the shape (stride 2, more channels):

- ``"A"``: identity on a subsampled map, the extra channels zero-padded: no parameters.
- ``"B"``: a 1×1 convolution with stride 2 (+ BN), the *projection*, only where the shape changes.
- ``"C"``: projections on every block.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import integer
from ..init import init_model

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "CifarResNet",
    "PadShortcut",
    "PreActBlock",
    "ResNet",
    "plain_cifar",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet_cifar",
    "zero_init_residual",
]

SHORTCUTS = ("A", "B", "C", "none")
BLOCKS = ("basic", "preact")


class PadShortcut(nn.Module):
    """Option A shortcut: ``x[:, :, ::stride, ::stride]`` with zero channels appended up to
    ``out_channels``. No parameters.

    Shape:
        - Input: ``(N, C_in, H, W)``
        - Output: ``(N, out_channels, ceil(H / stride), ceil(W / stride))``
    """

    def __init__(self, out_channels: int, stride: int = 2):
        super().__init__()
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x):
        x = x[:, :, :: self.stride, :: self.stride]
        extra = self.out_channels - x.shape[1]
        if extra < 0:
            raise ValueError(
                f"PadShortcut cannot shrink {x.shape[1]} channels to {self.out_channels}."
            )
        return F.pad(x, (0, 0, 0, 0, 0, extra)) if extra else x


class BasicBlock(nn.Module):
    """Two 3×3 convolutions, each followed by BN; ``relu(F(x) + shortcut(x))``.

    ``shortcut``: ``"A"``, ``"B"``, ``"C"`` (see the module docstring) or ``"none"`` for the
    plain block (``relu(F(x))``). With ``"A"``/``"B"`` the shortcut is the identity when the shape
    is unchanged.

    Shape:
        - Input: ``(N, in_channels, H, W)``
        - Output: ``(N, channels, H / stride, W / stride)``
    """

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1, shortcut: str = "B"):
        super().__init__()
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {SHORTCUTS}, got {shortcut!r}.")
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.residual = shortcut != "none"
        self.shortcut = _shortcut(shortcut, in_channels, channels, stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + self.shortcut(x)
        return F.relu(out)


class PreActBlock(nn.Module):
    """The pre-activation basic block: ``x + conv(relu(BN(conv(relu(BN(x))))))``, with nothing
    after the addition (He et al., 2016b, Fig. 4(e)).

    BN and ReLU move in front of each convolution, so the shortcut path from one block to the
    next is a pure identity: no ReLU on it. A projection shortcut (``"B"``, ``"C"``) reads the
    pre-activated input, as in the paper's code. With the same ``shortcut`` it has exactly the
    parameters of :class:`BasicBlock` when ``in_channels == channels`` (its first BN normalizes
    the input's channels, not the output's, otherwise).

    Shape:
        - Input: ``(N, in_channels, H, W)``
        - Output: ``(N, channels, H / stride, W / stride)``
    """

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1, shortcut: str = "B"):
        super().__init__()
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {SHORTCUTS}, got {shortcut!r}.")
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.residual = shortcut != "none"
        self.shortcut = _shortcut(shortcut, in_channels, channels, stride)
        self.project = isinstance(self.shortcut, nn.Sequential)  # reads the pre-activated input

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        if self.residual:
            out = out + self.shortcut(pre if self.project else x)
        return out


class Bottleneck(nn.Module):
    """1×1 (reduce to ``channels``) → 3×3 → 1×1 (expand to ``4 · channels``), each with BN;
    ``relu(F(x) + shortcut(x))`` with a projection shortcut where the shape changes.

    Shape:
        - Input: ``(N, in_channels, H, W)``
        - Output: ``(N, 4 · channels, H / stride, W / stride)``
    """

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1, shortcut: str = "B"):
        super().__init__()
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {SHORTCUTS}, got {shortcut!r}.")
        out = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.residual = shortcut != "none"
        changes = stride != 1 or in_channels != out
        if shortcut == "C" or (shortcut == "B" and changes):
            self.shortcut = _projection(in_channels, out, stride)
        elif shortcut == "A" and changes:
            self.shortcut = PadShortcut(out, stride)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.residual:
            out = out + self.shortcut(x)
        return F.relu(out)


class ResNet(nn.Module):
    """The ImageNet ResNets: 7×7/2 convolution, 3×3/2 max pool, four stages (64, 128, 256, 512
    channels; stride 2 at the start of stages 2–4), global average pool, FC.

    Shape:
        - Input: ``(N, 3, H, W)`` (224×224 in the paper)
        - Output: ``(N, num_classes)`` logits

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage, e.g. ``(2, 2, 2, 2)`` for ResNet-18.
        shortcut: ``"B"`` (the paper's and torchvision's choice here), ``"A"``, ``"C"`` or
            ``"none"`` (a plain network).
    """

    def __init__(self, block, layers, num_classes: int = 1000, shortcut: str = "B"):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages, c = [], 64
        for i, n in enumerate(layers):
            width = 64 * 2**i
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block(c, width, stride, shortcut))
                c = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)
        _init(self)

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"ResNet expects (N, 3, H, W) images, got {tuple(x.shape)}.")
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def resnet18(num_classes: int = 1000) -> ResNet:
    """ResNet-18: basic blocks (2, 2, 2, 2); 11,689,512 parameters at 1000 classes."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes)


def resnet34(num_classes: int = 1000) -> ResNet:
    """ResNet-34: basic blocks (3, 4, 6, 3); 21,797,672 parameters at 1000 classes."""
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes)


def resnet50(num_classes: int = 1000) -> ResNet:
    """ResNet-50: bottleneck blocks (3, 4, 6, 3); 25,557,032 parameters at 1000 classes."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes)


class CifarResNet(nn.Module):
    """The paper's CIFAR-10 network with ``depth = 6n + 2`` weighted layers.

    3×3 conv (``width`` filters) → BN → ReLU → three stages of ``n`` :class:`BasicBlock` with
    ``width``, ``2·width``, ``4·width`` filters (stride 2 at the start of stages 2 and 3) →
    global average pool → FC. ``shortcut="none"`` gives the plain network.

    ``block="preact"`` uses :class:`PreActBlock`: the stem is the convolution alone (the first
    block's BN-ReLU follows it) and a final BN-ReLU comes after the last block, as in He et al.
    (2016b); with option A that leaves the parameter count exactly that of the original.
    ``zero_init_residual=True`` applies :func:`zero_init_residual` after He initialization.

    Shape:
        - Input: ``(N, in_channels, H, W)`` (32×32 in the paper; 28×28 digits work too)
        - Output: ``(N, num_classes)`` logits
    """

    def __init__(
        self,
        depth=20,
        num_classes=10,
        shortcut="A",
        in_channels=3,
        width=16,
        *,
        block="basic",
        zero_init_residual=False,
    ):
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"block must be one of {BLOCKS}, got {block!r}.")
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 8 or (depth - 2) % 6:
            raise ValueError(
                f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110), got {depth!r}."
            )
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {SHORTCUTS}, got {shortcut!r}.")
        width = integer("width (16 in the paper)", width, 1)
        in_channels = integer("in_channels", in_channels, 1)
        n = (depth - 2) // 6
        self.depth, self.shortcut_option, self.in_channels = depth, shortcut, in_channels
        self.block = block
        unit = BasicBlock if block == "basic" else PreActBlock
        stem = [nn.Conv2d(in_channels, width, 3, padding=1, bias=False)]
        if block == "basic":
            stem += [nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        self.stem = nn.Sequential(*stem)
        stages, c = [], width
        for i in range(3):
            w = width * 2**i
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(unit(c, w, stride, shortcut))
                c = w
            stages.append(nn.Sequential(*blocks))
        self.stage1, self.stage2, self.stage3 = stages
        # the pre-activation network's last block ends in an addition: one more BN-ReLU
        self.final = (
            nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))
            if block == "preact"
            else nn.Identity()
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)
        _init(self)
        if zero_init_residual:
            _zero_gamma(self)

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"this network expects (N, {self.in_channels}, H, W) images, got "
                f"{tuple(x.shape)}; build it with in_channels={x.shape[1] if x.ndim == 4 else '?'}"
                " for other inputs."
            )
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(self.final(x)), 1))


def resnet_cifar(
    depth,
    num_classes=10,
    shortcut="A",
    in_channels=3,
    width=16,
    *,
    block="basic",
    zero_init_residual=False,
) -> CifarResNet:
    """The paper's CIFAR-10 ResNet (depth 20, 32, 44, 56, 110, ...; ResNet-20 has 269,722
    parameters with option A shortcuts). ``block="preact"`` gives the pre-activation network of
    He et al. (2016b); ``zero_init_residual=True`` zeroes each block's last BN γ (Goyal et al.,
    2017).

    Raises:
        ValueError: unless ``depth = 6n + 2``, or for an unknown ``block`` or ``shortcut``.
    """
    return CifarResNet(
        depth,
        num_classes,
        shortcut,
        in_channels,
        width,
        block=block,
        zero_init_residual=zero_init_residual,
    )


def plain_cifar(depth, num_classes=10, in_channels=3, width=16) -> CifarResNet:
    """The same network as :func:`resnet_cifar` without shortcuts (the paper's "plain" nets)."""
    return CifarResNet(depth, num_classes, "none", in_channels, width)


def zero_init_residual(model):
    """Set to zero the γ (BN weight) of the last BN inside every residual branch of ``model``
    (``bn2`` of a :class:`BasicBlock` or :class:`PreActBlock`, ``bn3`` of a
    :class:`Bottleneck`): Goyal et al. (2017), Sec. 5.1, "zero γ". Plain blocks
    (``shortcut="none"``) are left alone: zeroing them would cut the network. Returns the model.

    The branch then outputs exactly 0 at the start (in training and in evaluation mode, since
    BN's β is 0 too), so a block whose shape does not change starts as the identity: ``x`` for
    a pre-activation block, ``relu(x) = x`` for a basic block fed by a ReLU.
    """
    return _zero_gamma(model)


# --------------------------------------------------------------------------- private helpers


def _zero_gamma(model):
    for m in model.modules():
        if isinstance(m, (BasicBlock, PreActBlock, Bottleneck)) and m.residual:
            last = m.bn3 if isinstance(m, Bottleneck) else m.bn2
            nn.init.zeros_(last.weight)
    return model


def _shortcut(kind, cin, cout, stride):
    """A basic block's shortcut: a projection for ``"C"`` (and ``"B"`` where the shape changes),
    zero-padding for ``"A"`` where it changes, else the identity."""
    changes = stride != 1 or cin != cout
    if kind == "C" or (kind == "B" and changes):
        return _projection(cin, cout, stride)
    if kind == "A" and changes:
        return PadShortcut(cout, stride)
    return nn.Identity()


def _projection(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))


def _init(model):
    return init_model(model, "he_fan_out", linear=False)
