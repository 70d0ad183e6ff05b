"""Figures in one consistent, quiet style."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

#: Colours used across the book (colour-blind safe, from the Okabe-Ito palette).
COLORS = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "red": "#D55E00",
    "purple": "#CC79A7",
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
}


def use_book_style() -> None:
    """Set matplotlib defaults for the book's figures (call once at the top of a notebook)."""
    plt.rcParams.update(
        {
            "figure.figsize": (6.4, 3.6),
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.prop_cycle": plt.cycler(color=list(COLORS.values())),
            "font.size": 10,
            "legend.frameon": False,
        }
    )


def image_grid(images, titles=None, ncols=8, cmap="gray", size=1.4, suptitle=None):
    """Show a grid of images: ``(N, H, W)``, ``(N, H, W, 3)`` or ``(N, C, H, W)`` with C in (1, 3).

    Each image is scaled to its own range. Returns the figure.
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] in (1, 3) and images.shape[-1] not in (1, 3):
        images = images.transpose(0, 2, 3, 1)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    n = len(images)
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        im = images[i].astype(float)
        lo, hi = im.min(), im.max()
        im = (im - lo) / (hi - lo) if hi > lo else np.zeros_like(im)
        ax.imshow(im, cmap=cmap if im.ndim == 2 else None)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
