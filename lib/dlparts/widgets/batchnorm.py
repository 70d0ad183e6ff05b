"""Per-layer histograms of the sigmoid inputs of two networks (without and with batch
normalization) as training proceeds: a static figure for the book and a slider for the notebook.

Both take runs from :func:`dlparts.experiments.batchnorm.train_mlp` with ``n_snapshots > 0``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..plot import COLORS
from ._book import in_book, player


def activation_histograms(runs, labels, snapshot: int, bins=None, axes=None):
    """Histograms of every hidden layer's sigmoid inputs at snapshot index ``snapshot``: one
    row per run, one column per layer. Returns the figure."""
    if not runs or any(not r.snapshots for r in runs):
        raise ValueError("each run needs snapshots: train it with train_mlp(..., n_snapshots=6)")
    n = len(runs[0].snapshots)
    if not 0 <= snapshot < n:
        raise ValueError(f"snapshot must be in 0..{n - 1}, got {snapshot}")
    n_layers = len(runs[0].snapshots[0])
    bins = np.linspace(-8, 8, 81) if bins is None else bins
    if axes is None:
        fig, axes = plt.subplots(
            len(runs), n_layers, figsize=(2.6 * n_layers, 1.9 * len(runs)), squeeze=False
        )
    else:
        fig = axes[0, 0].figure
    colors = [COLORS["red"], COLORS["blue"], COLORS["green"]]
    for i, (run, label) in enumerate(zip(runs, labels)):
        for j, values in enumerate(run.snapshots[snapshot]):
            ax = axes[i, j]
            ax.clear()
            v = np.clip(values.ravel(), bins[0], bins[-1])
            ax.hist(v, bins=bins, color=colors[i % 3], alpha=0.8, density=True)
            ax.set_yticks([])
            ax.set_title(f"{label}, layer {j + 1}", fontsize=9)
            if i == len(runs) - 1:
                ax.set_xlabel("input of the sigmoids")
    fig.suptitle(f"step {runs[0].snapshot_step[snapshot]}", fontsize=10)
    fig.tight_layout()
    return fig


def activation_histograms_widget(runs, labels):
    """A slider over the recorded steps that redraws :func:`activation_histograms`. In the
    rendered book (``DLPARTS_BOOK=1``) a player over the same snapshots, drawn in advance."""
    steps = runs[0].snapshot_step
    if in_book():
        return player(
            range(len(steps)),
            lambda i: activation_histograms(runs, labels, i),
            label=lambda i: f"step {steps[i]}",
            alt=lambda i: (
                f"Histograms of every hidden layer's sigmoid inputs at training step {steps[i]}, "
                f"one row per network ({', '.join(labels)})."
            ),
            name="training step",
        )
    import ipywidgets as widgets

    def show(i):
        activation_histograms(runs, labels, i)
        plt.show()

    slider = widgets.IntSlider(value=0, min=0, max=len(steps) - 1, description="snapshot")
    return widgets.interactive(show, i=slider)
