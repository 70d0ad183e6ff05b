"""PyTorch models, each a plain ``nn.Module`` whose docstring gives input and output shapes."""

from .alexnet import *  # noqa: F403
from .classic import *  # noqa: F403
from .mlp import *  # noqa: F403
from .pointnet import *  # noqa: F403
from .resnet import *  # noqa: F403
