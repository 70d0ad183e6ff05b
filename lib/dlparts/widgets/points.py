"""Point sets in 3-D: static figures for the book (matplotlib) and a live explorer (ipywidgets).

- :func:`draw_points` / :func:`points_figure`: scatter one or many point sets (2-D or 3-D).
- :func:`neighbourhood_figure`: farthest point sampling's centroids and one ball query group.
- :func:`critical_figure`: a shape, its critical point set and its upper-bound shape.
- :func:`points_explorer`: rotate a shape, pick a centroid and a radius, see its neighbourhood.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..plot import COLORS
from ..points import ball_query, farthest_point_sample
from ._book import in_book, player

__all__ = [
    "critical_figure",
    "draw_points",
    "neighbourhood_figure",
    "points_explorer",
    "points_figure",
]


def draw_points(ax, pts, c=None, s=3.0, alpha=0.8, title=None, elev=20, azim=-60, lim=1.0, **kw):
    """Scatter ``pts`` (N, 3) on a 3-D axes (or (N, 2) on a 2-D one) with equal scales.

    ``c``: one colour or N values/colours. Extra keywords go to ``ax.scatter``.
    """
    p = _np(pts)
    if p.shape[-1] == 2:
        ax.scatter(p[:, 0], p[:, 1], c=c, s=s, alpha=alpha, **kw)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
    else:
        ax.scatter(p[:, 0], p[:, 1], p[:, 2], c=c, s=s, alpha=alpha, depthshade=False, **kw)
        for setlim in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
            setlim(-lim, lim)
        ax.set_box_aspect((1, 1, 1))
        ax.view_init(elev=elev, azim=azim)
        ax.set_zticks([])
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def points_figure(sets, titles=None, colors=None, ncols=4, size=2.4, s=3.0, suptitle=None, **kw):
    """A grid of point sets, one panel each. ``sets``: a list (or tensor) of (N, 2|3) arrays;
    ``colors``: per-set colours or per-point values. Returns the figure."""
    n = len(sets)
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    fig = plt.figure(figsize=(size * ncols, size * nrows))
    for i in range(n):
        p = _np(sets[i])
        ax = _axes(fig, nrows, ncols, i, p.shape[-1])
        c = COLORS["blue"] if colors is None else colors[i]
        draw_points(ax, p, c=c, s=s, title=None if titles is None else str(titles[i]), **kw)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def neighbourhood_figure(pts, n_centroids=32, radius=0.3, k=32, centroid=0, elev=20, azim=-60):
    """Two panels for one shape ``pts`` (N, 3): the farthest-point-sampled centroids, and the
    ball-query group (blue) of one of them (red) with its ball drawn as a wireframe."""
    fig = plt.figure(figsize=(8.4, 4.2))
    axes = [fig.add_subplot(1, 2, i + 1, projection="3d") for i in range(2)]
    _neighbourhood(axes, _one_set(pts), n_centroids, radius, k, centroid, elev, azim)
    fig.tight_layout()
    return fig


def critical_figure(pts, critical, upper=None, title=None, elev=20, azim=-60):
    """A shape, its critical point set (the points that win the max pooling) and, when given,
    its upper-bound shape (every point of space the network maps below the global feature)."""
    panels = [(pts, "original", COLORS["blue"]), (critical, "critical points", COLORS["red"])]
    if upper is not None:
        panels.append((upper, "upper-bound shape", COLORS["green"]))
    fig = plt.figure(figsize=(3.0 * len(panels), 3.1))
    for i, (p, name, c) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1, projection="3d")
        draw_points(ax, p, c=c, s=3, elev=elev, azim=azim, title=f"{name} ({len(_np(p))})")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def points_explorer(pts, n_centroids=32, radius=0.3, k=32):
    """Live explorer (ipywidgets): rotate the shape ``pts`` (N, 3) and choose a centroid (among
    the farthest-point-sampled ones), the ball radius and k to see its neighbourhood.
    Returns the widget; in the rendered book (``DLPARTS_BOOK=1``) a player over a few radii and
    centroids of :func:`neighbourhood_figure` instead."""
    p = _one_set(pts)
    if in_book():
        radii = sorted({0.1, 0.2, float(radius), 0.4})
        settings = [(r, 0) for r in radii] + [(radius, c) for c in (1, 2, 3) if c < n_centroids]

        def draw(s):
            fig = plt.figure(figsize=(8.4, 4.2))
            axes = [fig.add_subplot(1, 2, i + 1, projection="3d") for i in range(2)]
            _neighbourhood(axes, p, n_centroids, s[0], k, s[1], 20, -60)
            fig.tight_layout()
            return fig

        return player(
            settings,
            draw,
            label=lambda s: f"radius {s[0]:.2f}, centroid {s[1]}",
            alt=lambda s: (
                f"A point cloud with its {n_centroids} farthest-point-sampled centroids, and the "
                f"ball query group of centroid {s[1]} with radius {s[0]:.2f} and k={k}."
            ),
            name="ball radius and centroid",
        )
    import ipywidgets as W
    from IPython.display import display

    sliders = {
        "centroid": W.IntSlider(0, 0, n_centroids - 1, description="centroid"),
        "radius": W.FloatSlider(radius, min=0.05, max=1.0, step=0.05, description="radius"),
        "k": W.IntSlider(k, 1, min(128, len(p)), description="k"),
        "elev": W.IntSlider(20, -90, 90, 5, description="elevation"),
        "azim": W.IntSlider(-60, -180, 180, 5, description="azimuth"),
    }
    out = W.Output()

    def redraw(_=None):
        v = {n: s.value for n, s in sliders.items()}
        with out:
            out.clear_output(wait=True)
            fig = plt.figure(figsize=(8.4, 4.2))
            axes = [fig.add_subplot(1, 2, i + 1, projection="3d") for i in range(2)]
            _neighbourhood(
                axes, p, n_centroids, v["radius"], v["k"], v["centroid"], v["elev"], v["azim"]
            )
            fig.tight_layout()
            display(fig)
            plt.close(fig)

    for s in sliders.values():
        s.observe(redraw, names="value")
    redraw()
    return W.VBox([W.HBox(list(sliders.values())[:3]), W.HBox(list(sliders.values())[3:]), out])


# --------------------------------------------------------------------------- private helpers


def _np(a):
    return a.detach().cpu().numpy() if torch.is_tensor(a) else np.asarray(a)


def _one_set(pts, name="pts"):
    """One 3-D point set as a NumPy array ``(N, 3)``, N >= 1, or a ``ValueError``."""
    p = _np(pts)
    if p.ndim != 2 or p.shape[1] != 3 or p.shape[0] == 0:
        hint = " (a batch? pass one set, x[0])" if p.ndim == 3 else ""
        raise ValueError(f"{name} must be one point set of shape (N, 3), got {p.shape}{hint}")
    return p


def _axes(fig, nrows, ncols, i, dim):
    return fig.add_subplot(nrows, ncols, i + 1, projection="3d" if dim == 3 else None)


def _sphere_wire(ax, centre, r, color):
    u, v = np.mgrid[0 : 2 * np.pi : 16j, 0 : np.pi : 9j]
    ax.plot_wireframe(
        centre[0] + r * np.cos(u) * np.sin(v),
        centre[1] + r * np.sin(u) * np.sin(v),
        centre[2] + r * np.cos(v),
        color=color,
        linewidth=0.4,
        alpha=0.5,
    )


def _neighbourhood(axes, pts, n_centroids, radius, k, centroid, elev, azim):
    x = torch.as_tensor(pts, dtype=torch.float32)[None]
    fps = farthest_point_sample(x, n_centroids)[0]
    cen = x[0, fps]
    groups = ball_query(x, cen[None], radius, k)[0]
    p = x[0].numpy()
    ax1, ax2 = axes
    for ax in axes:
        ax.clear()
    draw_points(ax1, p, c="#bbbbbb", s=2, elev=elev, azim=azim)
    draw_points(
        ax1,
        cen.numpy(),
        c=COLORS["red"],
        s=14,
        elev=elev,
        azim=azim,
        title=f"farthest point sampling: {n_centroids} centroids",
    )
    j = int(centroid) % n_centroids
    members = np.unique(groups[j].numpy())
    draw_points(ax2, p, c="#cccccc", s=2, elev=elev, azim=azim)
    draw_points(ax2, p[members], c=COLORS["blue"], s=10, elev=elev, azim=azim)
    draw_points(
        ax2,
        cen[j : j + 1].numpy(),
        c=COLORS["red"],
        s=40,
        elev=elev,
        azim=azim,
        title=f"ball query: r={radius:.2f}, {len(members)} distinct of k={k}",
    )
    _sphere_wire(ax2, cen[j].numpy(), radius, COLORS["red"])
    return len(members)
