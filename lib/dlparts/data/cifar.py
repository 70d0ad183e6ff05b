"""A loader for the real CIFAR-10 in torchvision's format (``cifar-10-batches-py``), MD5-checked.

Used at ``full`` scale when the files are present; nothing is downloaded. Unpack
``cifar-10-python.tar.gz`` (https://www.cs.toronto.edu/~kriz/cifar.html) under
:func:`dlparts.data.full_data_dir` to use it.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from .._validate import integer
from .paths import full_data_dir, md5

CIFAR10_DIR = "cifar-10-batches-py"
#: The published MD5 of each batch file (the same values torchvision checks).
CIFAR10_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip


def load_cifar10(root=None, train=True, checksums=CIFAR10_MD5):
    """Load CIFAR-10 from torchvision's pickled batches.

    Args:
        root: the folder holding ``cifar-10-batches-py/`` (default :func:`full_data_dir`).
        train: the five training batches (50,000 images) or the test batch (10,000).
        checksums: file name -> expected MD5. The published values by default; a test that writes
            small files in the same format passes its own.

    Returns:
        ``x`` uint8 ``(N, 32, 32, 3)`` (HWC, as the pixels are stored) and ``y`` int64 ``(N,)``.

    Raises:
        FileNotFoundError: a batch file is missing (the message says where to put it).
        ValueError: a file's MD5 differs from the expected one (a corrupt or different file).
    """
    folder = Path(root if root is not None else full_data_dir()) / CIFAR10_DIR
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    xs, ys = [], []
    for name in names:
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(
                f"CIFAR-10 file {path} is missing. Download cifar-10-python.tar.gz from "
                "https://www.cs.toronto.edu/~kriz/cifar.html and unpack it under "
                f"{folder.parent} (or set DLPARTS_DATA_HOME)."
            )
        expected = checksums.get(name)
        if expected is not None and md5(path) != expected:
            raise ValueError(
                f"{path} has MD5 {md5(path)}, expected {expected}: the file is corrupt or not "
                "the official CIFAR-10; download it again."
            )
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def cifar10_available(root=None) -> bool:
    """True when all six CIFAR-10 batch files are present (checksums are checked on loading)."""
    folder = Path(root if root is not None else full_data_dir()) / CIFAR10_DIR
    return all((folder / name).is_file() for name in CIFAR10_MD5)


def cifar10_tensors(root=None, train=True, n=None, checksums=CIFAR10_MD5):
    """CIFAR-10 as float tensors ``(N, 3, 32, 32)`` in [0, 1] and int64 labels (the first ``n``)."""
    import torch

    if n is not None:
        n = integer("n", n, 1)
    x, y = load_cifar10(root, train=train, checksums=checksums)
    if n is not None:
        x, y = x[:n], y[:n]
    xt = torch.from_numpy(x.astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()
    return xt, torch.from_numpy(y)
