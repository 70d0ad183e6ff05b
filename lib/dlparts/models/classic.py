"""LeNet-5 (LeCun et al., 1998): the network the later ones grew from."""

from __future__ import annotations

from torch import nn

__all__ = ["LeNet5", "lenet5"]


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
