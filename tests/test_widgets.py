"""The explorers in the rendered book: with DLPARTS_BOOK=1 (the book's executor sets it) each
returns a self-contained player of precomputed frames whose every control works offline; in a
live notebook each returns its ipywidgets view."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dlparts.widgets import _book  # noqa: E402
from dlparts.widgets.batchnorm import activation_histograms_widget  # noqa: E402
from dlparts.widgets.conv import conv_explorer  # noqa: E402
from dlparts.widgets.dropout import dropout_explorer  # noqa: E402
from dlparts.widgets.init import init_explorer  # noqa: E402
from dlparts.widgets.points import points_explorer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _runs():
    rng = np.random.default_rng(0)
    steps = [0, 10, 20, 40]
    run = SimpleNamespace(
        snapshots=[[rng.normal(scale=1 + i, size=(50, 8)) for _ in range(3)] for i in steps],
        snapshot_step=steps,
    )
    return [run, run], ["no BN", "BN"]


def _explorers():
    rng = np.random.default_rng(0)
    runs, labels = _runs()
    return {
        "conv": lambda: conv_explorer(n=7, kernel=3, stride=2, padding=1),
        "batchnorm": lambda: activation_histograms_widget(runs, labels),
        "dropout": lambda: dropout_explorer(rng.random(64)),
        "init": lambda: init_explorer(depth=6, width=16, n=20),
        "points": lambda: points_explorer(rng.uniform(-1, 1, (128, 3)), n_centroids=8, k=16),
    }


@pytest.mark.parametrize("name", sorted(_explorers()))
def test_in_the_book_each_explorer_is_a_self_contained_player(name, monkeypatch):
    monkeypatch.setenv("DLPARTS_BOOK", "1")
    plt.close("all")
    player = _explorers()[name]()
    assert isinstance(player, _book.FramePlayer), type(player)
    assert len(player) >= 3, "a player needs several settings to step through"
    pngs = [png for _, png, _ in player.frames]
    assert all(p.startswith(b"\x89PNG") for p in pngs)
    assert len(set(pngs)) == len(pngs), "two settings drew the same frame"
    labels = [label for label, _, _ in player.frames]
    assert len(set(labels)) == len(labels) and all(labels)
    assert all(len(alt) > 20 for _, _, alt in player.frames), "every frame needs alt text"
    html = player._repr_html_()
    assert html.count("<img ") == len(player) and html.count('" hidden style=') == len(player) - 1
    assert 'type="range"' in html and html.count("<button") == 2
    assert not re.search(r"(src|href)=\"https?:", html), "the player must not load anything"
    assert plt.get_fignums() == [], "the frames' figures must be closed (not shown twice)"
    assert player._repr_png_() == pngs[player.start]


def test_the_conv_player_opens_on_the_explorers_setting(monkeypatch):
    monkeypatch.setenv("DLPARTS_BOOK", "1")
    player = conv_explorer(n=7, kernel=3, stride=2, padding=1)
    assert player.frames[player.start][0] == "stride 2, padding 1"
    html = player._repr_html_()
    assert f'value="{player.start}"' in html and "stride 2, padding 1 (" in html


@pytest.mark.parametrize("name", sorted(_explorers()))
def test_in_a_live_notebook_each_explorer_is_an_ipywidget(name, monkeypatch):
    import ipywidgets

    monkeypatch.delenv("DLPARTS_BOOK", raising=False)
    view = _explorers()[name]()
    plt.close("all")
    assert isinstance(view, ipywidgets.Widget), type(view)


def test_in_book_reads_only_the_value_one(monkeypatch):
    for value, want in (("1", True), ("0", False), ("", False), ("yes", False)):
        monkeypatch.setenv("DLPARTS_BOOK", value)
        assert _book.in_book() is want


def test_a_player_without_frames_or_with_a_start_past_them_is_refused():
    with pytest.raises(ValueError, match="at least one frame"):
        _book.FramePlayer([], "nothing")
    with pytest.raises(ValueError, match="start must index a frame"):
        _book.FramePlayer([("a", b"", "alt text")], "one", start=1)


@pytest.mark.book
def test_every_control_of_a_player_changes_the_page_and_a_dead_one_is_caught(tmp_path, monkeypatch):
    """The browser check (tools/check_book.py) on a page holding a player and a dead button."""
    if not shutil.which("chromium") and not shutil.which("chromium-browser"):
        pytest.fail("Headless Chromium is needed: apt-get install chromium chromium-driver")
    sys.path.insert(0, str(ROOT / "tools"))
    import check_book

    monkeypatch.setenv("DLPARTS_BOOK", "1")
    player = conv_explorer(n=7, kernel=3)
    page = tmp_path / "page.html"
    good = f'<div class="cell_output">{player._repr_html_()}</div>'
    dead = '<div class="cell_output"><button type="button">does nothing</button></div>'
    driver = check_book.browser()
    try:
        page.write_text(f"<!doctype html><html lang='en'><body>{good}</body></html>")
        driver.get(page.as_uri())
        assert check_book.check_controls(driver) == []
        assert check_book._console_errors(driver) == []
        shown = driver.execute_script(
            "return [...document.querySelectorAll('.dlparts-player img')]"
            ".filter(i => !i.hidden).length"
        )
        assert shown == 1, "exactly one frame is shown at a time"
        page.write_text(f"<!doctype html><html lang='en'><body>{good}{dead}</body></html>")
        driver.get(page.as_uri())
        problems = check_book.check_controls(driver)
        assert len(problems) == 1, problems
        assert problems[0].startswith("dead control") and "does nothing" in problems[0]
    finally:
        driver.quit()
