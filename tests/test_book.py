"""The built book, opened page by page in headless Chromium with the network closed.

`make test` builds the book at quick scale into _build/test first (tools/build_book.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import check_book  # noqa: E402

HTML = ROOT / "_build" / "test" / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"

pytestmark = pytest.mark.book


def test_every_page_renders_offline_without_errors():
    if not (HTML / "intro.html").is_file():
        pytest.fail(f"no built book at {HTML}: run `make book-quick` (make test does) first")
    report = check_book.check_book(HTML, SHOTS)
    expected = {str(p.relative_to(ROOT).with_suffix(".html")) for p in (ROOT / "chapters").rglob("*")
                if p.suffix in (".md", ".ipynb") and "_build" not in p.parts}  # fmt: skip
    assert expected <= set(report), f"pages missing from the build: {expected - set(report)}"
    bad = {page: problems for page, problems in report.items() if problems}
    assert not bad, "\n".join(f"{page}:\n  " + "\n  ".join(pr) for page, pr in bad.items())
    assert len(list(SHOTS.glob("*.png"))) >= len(report)
