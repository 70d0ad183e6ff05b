"""Argument checks shared by the whole library: one place, one wording.

Every public function that takes a size, a count, a rate or an array checks it here, so a bad
argument is always a ``ValueError`` that names the argument, says what was expected, shows what
was given, and (where there is one) says what to do. Valid numbers arrive in many types (Python
``int``, NumPy scalars, 0-d arrays and 0-d tensors): all are accepted; ``bool`` never is, since
``True`` as a size or radius is a bug, not a 1.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

__all__ = ["integer", "real", "pair", "probability", "finite_array", "image_batch"]


def integer(name: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int`` at least ``minimum`` (and at most ``maximum``), or a ``ValueError``.

    A float that happens to be whole (``3.0``) is refused too: a fractional size would otherwise
    be truncated silently.
    """
    bound = {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}.get(
        minimum, f"an integer of at least {minimum}"
    )
    v = _scalar(value)
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise ValueError(f"{name} must be {bound}, got {_describe(value)}.")
    v = int(v)
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be {bound}, got {v}.")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {v}.")
    return v


def real(
    name: str,
    value,
    *,
    positive: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """``value`` as a finite ``float`` (``positive``: > 0; ``minimum``/``maximum``: inclusive)."""
    v = _scalar(value)
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {_describe(value)}.")
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}.")
    if positive and v <= 0:
        raise ValueError(f"{name} must be a positive number, got {v}.")
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {v}.")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {v}.")
    return v


def probability(name: str, value, *, allow_one: bool = False) -> float:
    """A rate in ``[0, 1)`` (or ``[0, 1]`` with ``allow_one``)."""
    v = real(name, value, minimum=0.0, maximum=1.0)
    if v == 1.0 and not allow_one:
        raise ValueError(f"{name} must be in [0, 1), got 1.0: it would remove everything.")
    return v


def pair(name: str, value, minimum: int = 1) -> tuple[int, int]:
    """An int or an ``(h, w)`` pair of ints, each at least ``minimum``, as a tuple."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or an (h, w) pair, got {value!r}.")
        return integer(f"{name}[0]", value[0], minimum), integer(f"{name}[1]", value[1], minimum)
    v = integer(name, value, minimum)
    return v, v


def image_batch(name: str, x, hint: str = "") -> None:
    """Refuse anything but a floating-point ``(N, C, H, W)`` tensor (``hint``: what to do)."""
    import torch

    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if hasattr(x, "shape") else ()
        raise ValueError(
            f"{name} must be a tensor batch (N, C, H, W), got {type(x).__name__} with shape "
            f"{shape}{'; ' + hint if hint else ''}."
        )
    if not x.is_floating_point():
        raise ValueError(
            f"{name} must be a floating-point batch, got {x.dtype}; divide uint8 images by 255."
        )


def finite_array(name: str, x, what: str = "") -> None:
    """Refuse NaN or infinite entries in a NumPy array or tensor (``what``: the fix to suggest)."""
    if hasattr(x, "isfinite"):  # torch tensor
        ok = bool(x.isfinite().all()) if x.is_floating_point() else True
    else:
        a = np.asarray(x)
        ok = bool(np.isfinite(a).all()) if np.issubdtype(a.dtype, np.inexact) else True
    if not ok:
        hint = f" {what}" if what else " Drop or repair those entries first."
        raise ValueError(f"{name} contains NaN or infinite values.{hint}")


# --------------------------------------------------------------------------- private helpers


def _scalar(value):
    """Unwrap a 0-d array or tensor (and NumPy scalars) to a Python number; leave others."""
    if hasattr(value, "ndim") and getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return value.item()
    return value


def _describe(value) -> str:
    return f"{value!r} ({type(value).__name__})"
