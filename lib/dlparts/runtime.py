"""How much work a notebook does, where it runs, and how it is seeded.

Every notebook reads its scale through :func:`scale` (or :func:`by_scale`) and never branches
on anything else, so ``DLPARTS_SCALE=quick`` (CI), ``default`` (a laptop) and ``full`` (a GPU)
run the same code.
"""

from __future__ import annotations

import os
import random

import numpy as np

SCALES = ("quick", "default", "full")
ENV_VAR = "DLPARTS_SCALE"


def scale() -> str:
    """Return the current scale: ``"quick"``, ``"default"`` or ``"full"``.

    Read from the environment variable ``DLPARTS_SCALE``; unset (or empty) means ``"default"``.

    Raises:
        ValueError: for any other value, naming the three allowed ones.
    """
    value = os.environ.get(ENV_VAR, "").strip().lower() or "default"
    if value not in SCALES:
        raise ValueError(
            f"{ENV_VAR}={os.environ.get(ENV_VAR)!r} is not a known scale; "
            f"use one of 'quick', 'default' or 'full' (unset means 'default')."
        )
    return value


def by_scale(quick, default, full=None):
    """Pick the value for the current scale: ``by_scale(quick=200, default=2000, full=60000)``.

    ``full`` falls back to ``default`` when not given.
    """
    s = scale()
    if s == "quick":
        return quick
    if s == "full" and full is not None:
        return full
    return default


def device():
    """The device notebooks train on: CUDA when present, else the CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and PyTorch's generators (CPU and every CUDA device).

    Two runs on one machine then print the same numbers. (Some CUDA kernels stay
    nondeterministic; the CPU path is exactly repeatable.)
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def describe() -> str:
    """One line saying the scale, device and thread count, printed at the top of notebooks."""
    import torch

    dev = device()
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else "CPU"
    return (
        f"scale={scale()}  device={dev} ({name})  torch={torch.__version__}  "
        f"threads={torch.get_num_threads()}"
    )
