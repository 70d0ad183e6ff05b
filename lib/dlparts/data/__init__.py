"""Data sets: what ships with the book, what is generated with a fixed seed, and loaders for the
full data sets (used at ``full`` scale when their files are present).

Nothing here fetches from the internet: readers and CI machines are often offline.
"""

from .cifar import CIFAR10_MD5, cifar10_available, cifar10_tensors, load_cifar10
from .images import PHOTOS, load_photo
from .mnist import load_mnist, mnist_split
from .modelnet import *  # noqa: F403
from .paths import data_dir, full_data_dir, sha256
from .shapes import *  # noqa: F403

__all__ = [
    "CIFAR10_MD5",
    "cifar10_available",
    "cifar10_tensors",
    "PHOTOS",
    "data_dir",
    "full_data_dir",
    "load_cifar10",
    "load_mnist",
    "load_photo",
    "mnist_split",
    "sha256",
]
