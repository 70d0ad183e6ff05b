"""How much work a notebook does, where it runs, and how it is seeded.

Every notebook reads its scale through :func:`scale` (or :func:`by_scale`) and never branches
on anything else, so ``DLPARTS_SCALE=quick`` (CI), ``default`` (a laptop) and ``full`` (a GPU)
run the same code.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import glob
import os
import random

import numpy as np

from ._validate import integer as _integer

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
    seed = _integer("seed", seed, 0)
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


def blas_threads() -> int:
    """How many threads NumPy's BLAS runs on now (1 when that cannot be read)."""
    _, getter = _openblas_setter()
    return max(1, int(getter())) if getter else 1


@contextlib.contextmanager
def limit_threads(n: int = 1):
    """Run PyTorch's CPU ops and NumPy's BLAS (when it is the bundled OpenBLAS) on ``n`` threads.

    For fair timings: a matrix product on two threads can stall for milliseconds when another
    program holds one of the cores, which swamps the small layers of a notebook. Yields a short
    description of what was limited; everything is restored afterwards.
    """
    import torch

    n = _integer("n", n, 1)
    old_torch = torch.get_num_threads()
    setter, getter = _openblas_setter()
    old_blas = getter() if getter else None
    torch.set_num_threads(n)
    if setter:
        setter(n)
    try:
        blas = f"NumPy BLAS {n}" if setter else "NumPy BLAS unchanged"
        yield f"PyTorch {n} thread(s), {blas}"
    finally:
        torch.set_num_threads(old_torch)
        if setter and old_blas:
            setter(old_blas)


def progress_disabled() -> bool:
    """True when ``TQDM_DISABLE`` is set (the book build and the notebook tests set it)."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")


def progress(iterable=None, **kwargs):
    """A progress bar: a widget in Jupyter, text elsewhere, off when ``TQDM_DISABLE`` is set.

    Use it like ``tqdm``: ``for x in progress(items, desc="sampling"): ...``. (``tqdm.auto``'s
    notebook bar ignores ``TQDM_DISABLE``; this one does not, so the rendered book shows no
    half-drawn bars.)
    """
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", progress_disabled())
    return tqdm(iterable, **kwargs)


# --------------------------------------------------------------------------- private helpers


@functools.lru_cache(maxsize=1)
def _openblas_setter():
    """NumPy's bundled OpenBLAS thread setter and getter, or (None, None) when not found
    (looked up once per process)."""
    base = os.path.dirname(os.path.dirname(np.__file__))
    libs = glob.glob(os.path.join(base, "numpy.libs", "*openblas*")) + glob.glob(
        os.path.join(os.path.dirname(np.__file__), ".dylibs", "*openblas*")
    )
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix in (
            "scipy_openblas_{}_threads64_",
            "scipy_openblas_{}_threads",
            "openblas_{}_threads",
        ):
            try:
                setter = getattr(lib, suffix.format("set_num"))
                getter = getattr(lib, suffix.format("get_num"))
            except AttributeError:
                continue
            setter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_int
            return setter, getter
    return None, None
