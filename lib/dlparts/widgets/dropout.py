"""Dropout masks on a layer's activations: a static figure for the book and a live explorer.

A layer's activations (one digit's hidden units) are drawn as a square grid; dropout zeroes a
random fraction ``p`` of the cells and scales the rest by ``1/(1-p)`` (inverted dropout).
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from ..scratch.dropout import dropout_forward
from ._book import in_book, player

__all__ = ["dropout_explorer", "dropout_masks_figure"]


def dropout_masks_figure(acts, ps=(0.2, 0.5, 0.8), seed=0):
    """One row per ``p``: the activations, the sampled mask (white = kept) and the result.

    ``acts``: a vector of a square number of non-negative activations (e.g. 256 hidden units).
    Each row's title gives the kept fraction and the sum of activations before and after.
    """
    fig, axes = plt.subplots(len(ps), 3, figsize=(6.0, 2.1 * len(ps)), squeeze=False)
    for row, p in zip(axes, ps):
        kept, after, before = _draw(row, acts, p, seed)
        row[2].set_title(
            f"after dropout\nkept {kept:.0%}, sum {after:.1f} vs {before:.1f}", fontsize=9
        )
    fig.tight_layout()
    return fig


def dropout_explorer(acts, seed=0):
    """An ipywidgets view: move ``p`` (and the mask's seed) and watch the mask and the output.

    The sum of the activations stays close to its value without dropout (that is what the
    ``1/(1-p)`` is for), while individual units come and go. In the rendered book
    (``DLPARTS_BOOK=1``) a player over p = 0, 0.2, ..., 0.9 at this seed instead.
    """
    if in_book():

        def draw(p):
            fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8))
            kept, after, before = _draw(axes, acts, p, seed)
            fig.suptitle(
                f"p = {p:.1f}: kept {kept:.0%} of units; sum {after:.1f} "
                f"(without dropout {before:.1f})",
                fontsize=10,
            )
            fig.tight_layout()
            return fig

        return player(
            (0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 0.9),
            draw,
            label=lambda p: f"p = {p:.1f}",
            alt=lambda p: (
                f"A layer's activations, a dropout mask with drop probability {p:.1f} and the "
                "activations after dropout, drawn as square grids."
            ),
            name="drop probability p",
        )
    import ipywidgets as w
    from IPython.display import display

    fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8))
    plt.close(fig)
    out = w.Output()
    p_slider = w.FloatSlider(value=0.5, min=0.0, max=0.95, step=0.05, description="p (drop)")
    s_slider = w.IntSlider(value=seed, min=0, max=99, description="mask seed")
    label = w.HTML()

    def update(_=None):
        kept, after, before = _draw(axes, acts, p_slider.value, s_slider.value)
        label.value = (
            f"kept {kept:.0%} of units; sum of activations {after:.1f} "
            f"(without dropout {before:.1f})"
        )
        with out:
            out.clear_output(wait=True)
            display(fig)

    p_slider.observe(update, names="value")
    s_slider.observe(update, names="value")
    update()
    return w.VBox([w.HBox([p_slider, s_slider]), label, out])


# --------------------------------------------------------------------------- private helpers


def _grid(a):
    a = np.asarray(a, dtype=np.float64).ravel()
    side = math.isqrt(a.size)
    if side * side != a.size:
        raise ValueError(f"need a square number of units to draw a grid, got {a.size}")
    return a.reshape(side, side)


def _draw(axes, acts, p, seed):
    out, mask = dropout_forward(np.asarray(acts, dtype=np.float64), p, rng=seed)
    kept = np.ones_like(out) if mask is None else (mask > 0).astype(float)
    vmax = max(float(np.max(out)), 1e-12)
    panels = [
        (acts, "activations", vmax),
        (kept, f"mask (p={p:.2f})", 1.0),
        (out, "after dropout", vmax),
    ]
    for ax, (img, title, vm) in zip(axes, panels):
        ax.clear()
        ax.imshow(_grid(img), cmap="magma" if title != panels[1][1] else "gray", vmin=0, vmax=vm)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    return float(np.mean(kept)), float(np.sum(out)), float(np.sum(acts))
