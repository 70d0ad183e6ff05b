"""The classic convolutional networks: LeNet-5, ZFNet, VGG and the Inception block of GoogLeNet."""

from __future__ import annotations

from torch import nn

__all__ = ["VGG", "VGG_CONFIGS", "LeNet5", "lenet5", "vgg16"]


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
