"""Normalization layers from scratch: local response normalization (AlexNet, 2012) and batch
normalization (Ioffe and Szegedy, 2015)."""

from .batchnorm import batchnorm_backward, batchnorm_forward
from .lrn import lrn_backward, lrn_forward

__all__ = ["batchnorm_backward", "batchnorm_forward", "lrn_backward", "lrn_forward"]
