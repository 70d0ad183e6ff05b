"""How the scale of the initial weights compounds with depth: a static figure and a live explorer.

Both push random inputs through a deep fully connected ReLU (or tanh) network with weights drawn
by :func:`dlparts.init.activation_scales` and plot each layer's activation scale.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from ..init import activation_scales
from ..plot import COLORS
from ._book import in_book, player

__all__ = ["init_explorer", "init_gain_figure"]

_COLORS = [COLORS["red"], COLORS["blue"], COLORS["orange"], COLORS["green"], COLORS["purple"]]


def init_gain_figure(
    gains=(0.9, 1.0, 1.1), depth=50, width=256, scheme="he", nonlinearity="relu", n=300
):
    """Activation scale per layer when every weight is ``gain`` × the ``scheme``'s: a static
    figure of what a small error in the initial scale compounds to over ``depth`` layers."""
    if not gains:
        raise ValueError("gains must list at least one multiplier, e.g. (0.9, 1.0, 1.1).")
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    _draw(ax, depth, width, gains, scheme, nonlinearity, n)
    fig.tight_layout()
    return fig


def init_explorer(depth=50, width=256, n=300):
    """An ipywidgets view: choose the scheme, the nonlinearity, the depth and a gain on the
    weights, and watch the activation scale per layer (He with gain 1 stays flat for ReLU).
    In the rendered book (``DLPARTS_BOOK=1``) a player over a few gains and schemes instead."""
    if in_book():
        settings = [("he", "relu", g) for g in (0.8, 0.9, 1.0, 1.1, 1.2)]
        settings += [("xavier", "relu", 1.0), ("xavier", "tanh", 1.0), ("small", "relu", 1.0)]

        def draw(s):
            fig, ax = plt.subplots(figsize=(6.4, 3.6))
            _draw(ax, depth, width, (s[2], 1.0), s[0], s[1], n)
            fig.tight_layout()
            return fig

        return player(
            settings,
            draw,
            label=lambda s: f"{s[0]}, {s[1]}, gain {s[2]:g}",
            alt=lambda s: (
                f"Standard deviation of the activations per layer of a {depth}-layer {s[1]} "
                f"network, weights {s[2]:g} times the {s[0]} scale against 1 times it."
            ),
            name="initialization scheme and gain",
        )
    import ipywidgets as w
    from IPython.display import display

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    plt.close(fig)
    out = w.Output()
    scheme = w.Dropdown(options=["he", "xavier", "small"], value="he", description="scheme")
    nl = w.Dropdown(options=["relu", "tanh"], value="relu", description="activation")
    d = w.IntSlider(value=depth, min=2, max=100, description="depth")
    gain = w.FloatSlider(value=1.0, min=0.5, max=1.5, step=0.05, description="gain")

    def update(_=None):
        _draw(ax, d.value, width, (gain.value, 1.0), scheme.value, nl.value, n)
        with out:
            out.clear_output(wait=True)
            display(fig)

    for control in (scheme, nl, d, gain):
        control.observe(update, names="value")
    update()
    return w.VBox([w.HBox([scheme, nl]), w.HBox([d, gain]), out])


# --------------------------------------------------------------------------- private helpers


def _draw(ax, depth, width, gains, scheme, nonlinearity, n):
    ax.clear()
    for g, color in zip(gains, _COLORS * 3):
        s = activation_scales(depth, width, scheme, nonlinearity, n=n, gain=g)
        ax.plot(range(1, depth + 1), s, "o-", ms=2, color=color, label=f"{g:g} × {scheme}")
    ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel("std of activations")
    ax.set_title(f"{depth} layers of {width} units, {nonlinearity}")
    ax.legend(fontsize=8)
