"""The built book, opened page by page in headless Chromium with the network closed.

`make test` builds the book at quick scale into _build/test first (tools/build_book.py).
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import check_book  # noqa: E402

HTML = ROOT / "_build" / "test" / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"

pytestmark = pytest.mark.book


def _require_book():
    if not (HTML / "intro.html").is_file():
        pytest.fail(f"no built book at {HTML}: run `make book-test` (make test does) first")


def _report_notes(notes: dict[str, list[str]]):
    """Moderate and minor accessibility findings: reported in the warnings summary."""
    for page, found in notes.items():
        for line in found:
            warnings.warn(f"{page}: {line}", UserWarning, stacklevel=2)


def test_every_page_renders_offline_without_errors():
    """No console error, traceback, untypeset math, broken image, dead control, output wider
    than its box at 1100 px, or critical or serious accessibility violation on any page."""
    _require_book()
    notes: dict[str, list[str]] = {}
    report = check_book.check_book(HTML, SHOTS, notes)
    _report_notes(notes)
    expected = {str(p.relative_to(ROOT).with_suffix(".html")) for p in (ROOT / "chapters").rglob("*")
                if p.suffix in (".md", ".ipynb") and "_build" not in p.parts}  # fmt: skip
    assert expected <= set(report), f"pages missing from the build: {expected - set(report)}"
    bad = {page: problems for page, problems in report.items() if problems}
    assert not bad, "\n".join(f"{page}:\n  " + "\n  ".join(pr) for page, pr in bad.items())
    assert len(list(SHOTS.glob("*.png"))) >= len(report)


def test_every_page_works_in_dark_mode():
    """The same check with the theme's dark mode on; screenshots in _build/screenshots/dark-*."""
    _require_book()
    notes: dict[str, list[str]] = {}
    report = check_book.check_book(HTML, SHOTS, notes, dark=True)
    _report_notes(notes)
    bad = {page: problems for page, problems in report.items() if problems}
    assert not bad, "\n".join(f"{page} (dark):\n  " + "\n  ".join(pr) for page, pr in bad.items())
    assert len(list(SHOTS.glob("dark-*.png"))) >= len(report)
    css = (HTML / "_static" / "dark.css").read_text()
    assert 'html[data-theme="dark"]' in css and "filter: none" in css
    page = (HTML / "intro.html").read_text()
    assert "_static/dark.css" in page, "dark.css is not linked from the pages"


def test_the_ledger_lists_every_notebooks_claims_and_every_required_one_holds():
    ledger = HTML / "claims.json"
    if not ledger.is_file():
        pytest.fail(f"no claims ledger at {ledger}: run `make book-test` (make test does) first")
    claims = json.loads(ledger.read_text())
    fields = {"key", "notebook", "statement", "paper", "measured", "scale", "seeds", "holds",
              "required"}  # fmt: skip
    for c in claims:
        assert fields <= set(c), f"ledger entry {c.get('key')} lacks {fields - set(c)}"
        assert isinstance(c["measured"], dict) and c["measured"], c["key"]
        assert c["scale"] == "quick" and isinstance(c["holds"], bool), c["key"]
        assert not (c["required"] and not c["holds"]), f"required claim {c['key']} failed"
    keys = [c["key"] for c in claims]
    assert len(keys) == len(set(keys)), "a claim key is used twice"
    notebooks = {str(p.relative_to(ROOT).with_suffix("")) for p in (ROOT / "chapters").rglob("*.ipynb")
                 if "_build" not in p.parts}  # fmt: skip
    assert notebooks <= {c["notebook"] for c in claims}, "notebooks with no claim in the ledger"
    # each claim's link on the claims page lands on its verdict block in the page
    page = (HTML / "claims.html").read_text()
    for c in claims:
        target = f"{c['notebook']}.html#claim-{c['key']}"
        assert f'href="{target}"' in page, f"claims page lacks a link to {target}"
        html = (HTML / f"{c['notebook']}.html").read_text()
        assert re.search(rf"id=[\'\"]claim-{re.escape(c['key'])}[\'\"]", html), target


def test_search_works_served_and_from_files():
    """Search finds pages in the served book (with snippets) and in the book opened from its
    files (without them, saying why), with no console error in either."""
    _require_book()
    found = check_book.check_search(HTML)
    assert set(found) == {"served", "from files"}
    bad = {how: problems for how, problems in found.items() if problems}
    assert not bad, "\n".join(f"search {how}:\n  " + "\n  ".join(p) for how, p in bad.items())
