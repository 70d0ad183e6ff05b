"""Numerical gradients by central differences, to check any backward pass."""

from __future__ import annotations

import numpy as np


def numerical_gradient(f, x: np.ndarray, dout: np.ndarray | None = None, h: float = 1e-6):
    """The gradient of ``sum(f(x) * dout)`` with respect to ``x``, by central differences.

    ``f`` maps an array to an array (or a scalar); ``x`` is perturbed in place one element at a
    time and restored. Use float64 for a tight check.
    """
    x = np.asarray(x)
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        i = it.multi_index
        old = x[i].copy()
        x[i] = old + h
        plus = np.asarray(f(x), dtype=np.float64)
        x[i] = old - h
        minus = np.asarray(f(x), dtype=np.float64)
        x[i] = old
        diff = plus - minus
        grad[i] = np.sum(diff * dout) / (2 * h) if dout is not None else np.sum(diff) / (2 * h)
        it.iternext()
    return grad


def rel_error(a, b) -> float:
    """Largest relative error between two arrays, ``|a - b| / max(1e-8, |a| + |b|)``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
