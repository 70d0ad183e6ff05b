"""Where a kernel lands on its input: a static figure and a live explorer built on it.

:func:`draw_conv` draws one setting (the figure the rendered book shows); :func:`conv_explorer`
puts sliders for input size, kernel, stride, padding and dilation in front of it.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle

from ..arith import conv_output_size
from ..plot import COLORS
from ._book import in_book, player

__all__ = ["describe_conv", "draw_conv", "conv_explorer"]


def describe_conv(n, kernel, stride=1, padding=0, dilation=1) -> tuple[str, bool]:
    """One line of arithmetic for a setting, and whether the stride fits.

    >>> describe_conv(7, 3, 3)[0]
    '(7 - 3 + 2*0)/3 + 1 = 2.33: stride 3 does not fit'
    """
    extent = dilation * (kernel - 1) + 1
    f = f"{extent}" if dilation == 1 else f"({dilation}*({kernel}-1)+1)"
    lhs = f"({n} - {f} + 2*{padding})/{stride} + 1"
    if extent > n + 2 * padding:
        return f"kernel extent {extent} > padded input {n + 2 * padding}: does not fit", False
    try:
        w2 = conv_output_size(n, kernel, stride, padding, dilation)
    except ValueError:
        frac = (n + 2 * padding - extent) / stride + 1
        return f"{lhs} = {frac:.2f}: stride {stride} does not fit", False
    return f"{lhs} = {w2}: output {w2}x{w2}", True


def draw_conv(n=7, kernel=3, stride=1, padding=0, dilation=1, ax=None, title=True):
    """Draw the kernel's positions on an ``n x n`` input (padding shaded).

    The first position's taps are filled; every position's centre is a dot (one dot per output
    pixel); when the stride does not fit, the next position, hanging off the edge, is dashed red.

    Returns:
        The matplotlib ``Axes``.
    """
    if ax is None:
        side = min(6.0, 0.35 * (n + 2 * padding) + 1.2)
        _, ax = plt.subplots(figsize=(side, side))
    m = n + 2 * padding
    extent = dilation * (kernel - 1) + 1
    text, fits = describe_conv(n, kernel, stride, padding, dilation)
    for r in range(m):
        for c in range(m):
            pad = not (padding <= r < padding + n and padding <= c < padding + n)
            ax.add_patch(
                Rectangle(
                    (c, r),
                    1,
                    1,
                    facecolor="#dddddd" if pad else "white",
                    edgecolor="#999999",
                    lw=0.6,
                )
            )
    if extent <= m:
        starts = list(range(0, m - extent + 1, stride))
        # taps of the first position
        for i in range(kernel):
            for j in range(kernel):
                ax.add_patch(
                    Rectangle(
                        (j * dilation, i * dilation),
                        1,
                        1,
                        facecolor=COLORS["orange"],
                        alpha=0.75,
                        edgecolor="none",
                    )
                )
        ax.add_patch(
            Rectangle((0, 0), extent, extent, fill=False, edgecolor=COLORS["orange"], lw=2)
        )
        # centres of all positions = the output grid
        for r0 in starts:
            for c0 in starts:
                ax.plot(c0 + extent / 2, r0 + extent / 2, "o", color=COLORS["blue"], ms=5)
        if len(starts) > 1:
            ax.add_patch(
                Rectangle(
                    (starts[1], 0), extent, extent, fill=False, edgecolor=COLORS["blue"], lw=1.5
                )
            )
        nxt = starts[-1] + stride
        if not fits and nxt < m:
            ax.add_patch(
                Rectangle(
                    (nxt, 0), extent, extent, fill=False, edgecolor=COLORS["red"], lw=2, ls="--"
                )
            )
    lim = m
    if not fits and extent <= m:
        lim = max(m, ((m - extent) // stride + 1) * stride + extent)
    ax.set_xlim(-0.2, lim + 0.2)
    ax.set_ylim(m + 0.2, -0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        head = f"n={n}, F={kernel}, S={stride}, P={padding}" + (
            f", d={dilation}" if dilation > 1 else ""
        )
        ax.set_title(f"{head}\n{text}", color="black" if fits else COLORS["red"], fontsize=9)
    return ax


def conv_explorer(n=7, kernel=3, stride=1, padding=0, dilation=1):
    """Sliders for input size, kernel, stride, padding and dilation over :func:`draw_conv`.

    Returns the ipywidgets container (display it as a cell's last expression). In the rendered
    book (``DLPARTS_BOOK=1``) it returns a player over strides 1-3 and paddings 0-2 instead.
    """
    if in_book():
        return player(
            [(s, p) for s in (1, 2, 3) for p in (0, 1, 2)],
            lambda sp: _conv_figure(n, kernel, sp[0], sp[1], dilation),
            label=lambda sp: f"stride {sp[0]}, padding {sp[1]}",
            alt=lambda sp: (
                f"Positions of a {kernel}x{kernel} kernel on a {n}x{n} input at stride {sp[0]}, "
                f"padding {sp[1]}: " + describe_conv(n, kernel, sp[0], sp[1], dilation)[0]
            ),
            name="stride and padding",
            start=(stride, padding),
        )
    import ipywidgets as w

    sliders = {
        "n": w.IntSlider(value=n, min=3, max=16, description="input n"),
        "kernel": w.IntSlider(value=kernel, min=1, max=7, description="kernel F"),
        "stride": w.IntSlider(value=stride, min=1, max=5, description="stride S"),
        "padding": w.IntSlider(value=padding, min=0, max=4, description="padding P"),
        "dilation": w.IntSlider(value=dilation, min=1, max=4, description="dilation d"),
    }
    out = w.Output()

    def redraw(*_):
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(5, 5))
            draw_conv(**{k: s.value for k, s in sliders.items()}, ax=ax)
            plt.show()
            plt.close(fig)

    for s in sliders.values():
        s.observe(redraw, names="value")
    redraw()
    return w.HBox([w.VBox(list(sliders.values())), out])


# --------------------------------------------------------------------------- private helpers


def _conv_figure(n, kernel, stride, padding, dilation):
    fig, ax = plt.subplots(figsize=(5, 5))
    draw_conv(n, kernel, stride, padding, dilation, ax=ax)
    return fig
