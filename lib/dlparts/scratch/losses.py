"""Classification losses from scratch (NumPy): the multiclass hinge (SVM) loss and softmax
cross-entropy, each returning the loss and its gradient with respect to the scores.

Shapes: ``scores`` is ``(N, C)`` (one row of class scores per sample), ``y`` is ``(N,)`` of
integer labels in ``0..C-1``. Both losses are means over the ``N`` samples; a penalty
``lambda * R(W)`` is added separately (see :mod:`dlparts.regularize`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["softmax_loss", "svm_loss"]


def svm_loss(scores, y, margin=1.0):
    """Multiclass hinge loss (Weston–Watkins / CS231n form), averaged over samples.

    .. math:: L = \\frac{1}{N} \\sum_i \\sum_{j \\ne y_i} \\max(0,\\; s_j - s_{y_i} + \\Delta)

    Args:
        scores: ``(N, C)`` class scores.
        y: ``(N,)`` integer labels.
        margin: ``Delta`` (1 by default; with an L2 penalty only the product ``lambda * Delta``
            matters: W = Delta W' turns margin Delta at lambda into margin 1 at lambda Delta).

    Returns:
        ``(loss, dscores)``: a float and the ``(N, C)`` gradient, in the dtype of ``scores``.
        Where a margin is exactly zero the subgradient 0 is used.

    Note:
        ``torch.nn.functional.multi_margin_loss`` sums the same terms but divides by ``C`` as
        well as ``N``: ``svm_loss(s, y) == C * multi_margin_loss(s, y)``.
    """
    scores, y = _check(scores, y)
    n = scores.shape[0]
    rows = np.arange(n)
    correct = scores[rows, y][:, None]
    margins = np.maximum(0, scores - correct + scores.dtype.type(margin))
    margins[rows, y] = 0
    loss = margins.sum() / n
    positive = (margins > 0).astype(scores.dtype)
    positive[rows, y] = -positive.sum(axis=1)
    return float(loss), positive / scores.dtype.type(n)


def softmax_loss(scores, y):
    """Softmax cross-entropy, ``L = -1/N sum_i log softmax(s_i)[y_i]``, computed stably.

    Returns:
        ``(loss, dscores)`` with ``dscores = (softmax(s) - onehot(y)) / N`` of shape ``(N, C)``.
    """
    scores, y = _check(scores, y)
    n = scores.shape[0]
    rows = np.arange(n)
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[rows, y].mean()
    d = np.exp(log_probs)
    d[rows, y] -= 1
    return float(loss), (d / n).astype(scores.dtype, copy=False)


# --------------------------------------------------------------------------- private helpers


def _check(scores, y):
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[0] == 0 or scores.shape[1] < 2:
        raise ValueError(
            f"scores must be (N, C) with N >= 1 samples and C >= 2 classes, got {scores.shape}"
        )
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)
    y = np.asarray(y)
    n, c = scores.shape
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},) to match scores {scores.shape}, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= c):
        raise ValueError(
            f"labels must lie in 0..{c - 1} for {c} classes, got values from {y.min()} to {y.max()}"
        )
    return scores, y
