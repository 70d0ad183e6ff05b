"""The explorers' form in the rendered book: no kernel there, so no ipywidgets.

When the book's executor runs a notebook (``DLPARTS_BOOK=1``, set by
``tools/execute_notebooks.py``), each explorer returns a :class:`FramePlayer` instead of its
ipywidgets view: a few precomputed settings of the same figure, stepped through with a slider and
previous/next buttons by a few lines of inline JavaScript, so every control on the page works
offline and without a kernel. Without JavaScript (or in a PDF) the first setting shows.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Callable, Iterable

import matplotlib.pyplot as plt

from .._validate import integer

__all__ = ["FramePlayer", "in_book", "player"]

# One small global, defined by the first player on a page and reused by the others.
_SCRIPT = """<script>
window.dlpartsPlayer = window.dlpartsPlayer || function (el, step, to) {
  var p = el.closest('.dlparts-player');
  var imgs = p.querySelectorAll('.dlparts-player-frames img'), n = imgs.length, cur = 0;
  imgs.forEach(function (im, i) { if (!im.hidden) cur = i; });
  var i = (to === undefined) ? (cur + step + n) % n : Math.max(0, Math.min(n - 1, to));
  imgs.forEach(function (im, j) { im.hidden = (j !== i); });
  p.querySelector('input[type=range]').value = i;
  p.querySelector('output').textContent = imgs[i].dataset.label + ' (' + (i + 1) + ' of ' + n + ')';
};
</script>"""


def in_book() -> bool:
    """Whether this kernel runs for the rendered book (``DLPARTS_BOOK=1``), where no kernel
    answers widget events: explorers then return a :class:`FramePlayer`."""
    return os.environ.get("DLPARTS_BOOK", "") == "1"


class FramePlayer:
    """Precomputed frames of one figure with a slider and previous/next buttons.

    ``frames``: ``(label, png_bytes, alt)`` per setting; ``name`` names the slider for a screen
    reader ("stride and padding"); ``start`` is the frame shown first. Displays as self-contained HTML (the frames are data URLs);
    ``_repr_png_`` gives the ``start`` frame where HTML is not shown.
    """

    def __init__(self, frames: list[tuple[str, bytes, str]], name: str, start: int = 0):
        if not frames:
            raise ValueError("a FramePlayer needs at least one frame, got none")
        self.frames = list(frames)
        self.name = str(name)
        self.start = integer("start", start, 0)
        if self.start >= len(self.frames):
            raise ValueError(
                f"start must index a frame (0..{len(self.frames) - 1}), got {start}: pass the "
                "position of the setting to show first"
            )

    def __len__(self) -> int:
        return len(self.frames)

    def __repr__(self) -> str:
        labels = ", ".join(label for label, _, _ in self.frames)
        return f"FramePlayer({self.name}: {labels})"

    def _repr_png_(self) -> bytes:
        return self.frames[self.start][1]

    def _repr_html_(self) -> str:
        esc = html.escape
        imgs = []
        for i, (label, png, alt) in enumerate(self.frames):
            src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            imgs.append(
                f'<img src="{src}" alt="{esc(alt)}" data-label="{esc(label)}"'
                f'{" hidden" if i != self.start else ""} style="max-width:100%;height:auto">'
            )
        n = len(self.frames)
        k = self.start
        first = f"{self.frames[k][0]} ({k + 1} of {n})"
        return (
            f'<div class="dlparts-player" role="group" aria-label="{esc(self.name)}">'
            f'<div class="dlparts-player-frames">{"".join(imgs)}</div>'
            '<div class="dlparts-player-controls" style="display:flex;gap:0.5em;'
            'align-items:center;flex-wrap:wrap">'
            '<button type="button" class="dlparts-player-prev" aria-label="Previous setting"'
            ' onclick="dlpartsPlayer(this, -1)">&#9664; previous</button>'
            f'<input type="range" min="0" max="{n - 1}" step="1" value="{k}"'
            f' aria-label="{esc(self.name)}" oninput="dlpartsPlayer(this, 0, +this.value)">'
            '<button type="button" class="dlparts-player-next" aria-label="Next setting"'
            ' onclick="dlpartsPlayer(this, 1)">next &#9654;</button>'
            f'<output aria-live="polite">{esc(first)}</output>'
            f"</div>{_SCRIPT}</div>"
        )


def player(
    settings: Iterable,
    draw: Callable[[object], plt.Figure],
    label: Callable[[object], str],
    alt: Callable[[object], str],
    name: str,
    dpi: int = 96,
    start=None,
) -> FramePlayer:
    """Draw ``draw(setting)`` (a new figure) for each setting and collect the frames; the
    player first shows ``start`` (a setting of the list; the first one when None or absent)."""
    settings = list(settings)
    first = settings.index(start) if start in settings else 0
    frames = []
    for s in settings:
        fig = draw(s)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
        plt.close(fig)
        frames.append((label(s), buf.getvalue(), alt(s)))
    return FramePlayer(frames, name, first)
