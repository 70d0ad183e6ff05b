"""Data augmentation: AlexNet's crops, flips, ten-crop and 'fancy PCA' colour shifts, and the
small shifts and rotations used on the digits."""

from .color import *  # noqa: F403
from .crops import *  # noqa: F403
from .geometric import *  # noqa: F403
