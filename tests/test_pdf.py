"""The book as one PDF (`make pdf`; `make test` prints the test build): every page of the book
is in it, every figure the single page showed is embedded, and the references are at the end.

`tools/build_pdf.py` refuses to print a page with a broken image or untypeset math, and
records what it printed in a JSON file beside the PDF.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_pdf  # noqa: E402
import execute_notebooks  # noqa: E402

PDF = ROOT / "_build" / "test" / "_build" / "pdf" / f"{build_pdf.NAME}.pdf"

pytestmark = pytest.mark.book


@pytest.fixture(scope="module")
def printed():
    if not PDF.is_file():
        pytest.fail(f"no PDF at {PDF}: run `make pdf-test` (make test does) first")
    from pypdf import PdfReader

    return PdfReader(PDF), json.loads(PDF.with_suffix(".json").read_text())


def test_every_page_of_the_book_is_in_the_pdf(printed):
    reader, record = printed
    notebooks = execute_notebooks.toc_notebooks()
    # each page of the book starts a new sheet, and a notebook fills more than one
    assert record["documents"] >= len(notebooks), record
    assert len(reader.pages) == record["pages"] >= 2 * len(notebooks), len(reader.pages)
    assert record["maths"] > 100, "MathJax typeset almost nothing before printing"


def test_no_figure_is_missing_from_the_pdf(printed):
    reader, record = printed
    assert record["figures"] >= len(execute_notebooks.toc_notebooks()), record
    embedded = sum(len(page.images) for page in reader.pages)
    assert embedded >= record["figures"], (
        f"the single page showed {record['figures']} figures, the PDF embeds {embedded} images"
    )


def test_the_references_are_printed_at_the_end(printed):
    reader, _ = printed
    tail = "\n".join(page.extract_text() for page in reader.pages[-8:])
    for expected in ("References", "Krizhevsky", "ImageNet"):
        assert expected in tail, f"{expected!r} not on the PDF's last pages"
