"""Write the whole book as one PDF: ``python tools/build_pdf.py [--out DIR] [--scale S]``.

The book is rendered once more as a single HTML page (Sphinx's ``singlehtml`` builder, from the
execution cache the HTML build filled, so no notebook runs again), opened in the headless
Chromium the browser check uses, with the network closed, and printed by Chromium itself
(``Page.printToPDF``): the math is MathJax's, the figures and tables are the book's, and the
references are the bibliography page. Before printing, the page is checked as the browser
check checks a page (every image loaded, every formula typeset, no error output); a problem
fails the build instead of leaving a hole in the PDF. Solutions in dropdowns are opened, since
nobody can click on paper.

``make pdf`` builds the reader's book (``_build/html``, default scale) and then
``_build/pdf/parts-of-deep-learning.pdf``; ``make test`` prints the test build's book and
checks the PDF (``tests/test_pdf.py``). Beside the PDF, ``<name>.json`` records what was printed:
pages, the figures the page showed, the formulas MathJax typeset.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_book  # noqa: E402
import check_book  # noqa: E402
import execute_notebooks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NAME = "parts-of-deep-learning"

# Print the page, not the web site around it: no navigation bars, sidebars or buttons; open
# every dropdown; keep figures and table rows whole across page breaks.
PREPARE_JS = """
document.querySelectorAll('details').forEach(d => d.open = true);
document.querySelectorAll('.dropdown .toggle-details__summary, .toggle-hidden').forEach(e =>
  e.classList.remove('toggle-hidden'));
const css = `
@page { size: A4; margin: 16mm 14mm 18mm 14mm; }
@media print {
  .bd-header, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-header-article, .bd-footer,
  .bd-footer-article, .prev-next-area, .header-article, .headerbtn, .copybtn,
  .theme-switch-button, .search-button, .sidebar-toggle, .skip-link, #pst-back-to-top,
  .tag_remove-cell { display: none !important; }
  .bd-main, .bd-content, .bd-article-container, .bd-page-width, .bd-container,
  .bd-container__inner { max-width: 100% !important; width: 100% !important;
    margin: 0 !important; padding: 0 !important; display: block !important; }
  body { font-size: 10.5pt; }
  figure, img, table, .cell_output, mjx-container[display="true"] { break-inside: avoid; }
  h1, h2, h3 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
  pre { white-space: pre-wrap; }
}`;
const style = document.createElement('style');
style.textContent = css;
document.head.appendChild(style);
// every page of the book (chapter index or notebook) starts on a new sheet
const docs = document.querySelectorAll('span[id^="document-"] + section');
docs.forEach(s => s.style.breakBefore = 'page');
// the figures a reader of the page sees (a player's hidden frames are not printed)
const figures = new Set();
document.querySelectorAll('article img, main img').forEach(img => {
  const src = img.getAttribute('src') || '';
  const shown = img.getClientRects().length > 0 && getComputedStyle(img).visibility !== 'hidden';
  if (shown && (src.includes('_images/') || src.startsWith('data:image'))) figures.add(src);
});
return {figures: figures.size, maths: document.querySelectorAll('mjx-container').length,
        documents: docs.length};
"""

FOOTER = (
    '<div style="font-size:8px; width:100%; text-align:center; color:#555;">'
    '<span class="title"></span> · <span class="pageNumber"></span> / '
    '<span class="totalPages"></span></div>'
)


def build_singlehtml(out: Path, scale: str) -> Path:
    """Render the book as one HTML page from ``out``'s execution cache; return the page."""
    build = out / "_build"
    config = build_book._config_for(build, build / ".jupyter_cache")
    cmd = [
        str(Path(sys.executable).parent / "jupyter-book"),
        "build",
        str(ROOT),
        "--config",
        str(config),
        "--path-output",
        str(out),
        "--builder",
        "singlehtml",
    ]
    env = execute_notebooks.notebook_env(scale)
    rc = subprocess.call(cmd, cwd=ROOT, env=env)
    root = yaml.safe_load((ROOT / "_toc.yml").read_text())["root"]
    page = build / "singlehtml" / f"{root}.html"
    if rc or not page.is_file():
        raise RuntimeError(f"the single-page build failed (exit {rc}); see the log above")
    return page


def print_pdf(page: Path, pdf: Path) -> dict:
    """Open ``page`` in headless Chromium, check it, print it to ``pdf``; return the record."""
    driver = check_book.browser()
    # printing a few hundred pages takes minutes: longer than the client's default wait
    driver.command_executor._client_config.timeout = 1800
    try:
        with check_book.serve(page.parent) as base:
            driver.set_page_load_timeout(300)
            driver.set_script_timeout(300)
            driver.get(f"{base}/{page.name}")
            problems = driver.execute_async_script(check_book.PAGE_PROBLEMS_JS)["problems"]
            if problems:
                shown = "\n  ".join(problems[:20])
                raise RuntimeError(
                    f"the single page has {len(problems)} problem(s); the PDF would show "
                    f"them:\n  {shown}"
                )
            record = driver.execute_script(PREPARE_JS)
            time.sleep(0.5)  # let the opened dropdowns lay out
            result = driver.execute_cdp_cmd(
                "Page.printToPDF",
                {
                    "printBackground": True,
                    "preferCSSPageSize": True,
                    "displayHeaderFooter": True,
                    "headerTemplate": "<div></div>",
                    "footerTemplate": FOOTER,
                },
            )
    finally:
        driver.quit()
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.write_bytes(base64.b64decode(result["data"]))
    return record


def page_count(pdf: Path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(pdf).pages)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=None, help="the book's build folder (default: the root)")
    ap.add_argument("--scale", default=os.environ.get("DLPARTS_SCALE") or "default")
    args = ap.parse_args(argv)
    out = Path(args.out).resolve() if args.out else ROOT
    start = time.perf_counter()
    page = build_singlehtml(out, args.scale)
    pdf = out / "_build" / "pdf" / f"{NAME}.pdf"
    try:
        record = print_pdf(page, pdf)
    except RuntimeError as err:
        print(f"PDF build FAILED: {err}")
        return 1
    record.update(pages=page_count(pdf), scale=args.scale, bytes=pdf.stat().st_size)
    pdf.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(
        f"wrote {pdf} ({record['pages']} pages, {record['figures']} figures, "
        f"{record['maths']} formulas, {record['bytes'] / 1e6:.1f} MB) "
        f"in {time.perf_counter() - start:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
