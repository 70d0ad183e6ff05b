"""Open every page of the built book in headless Chromium, with the network closed.

For each page it fails on: a console error, an error output (a traceback) in a cell, math that
MathJax did not typeset (or typeset as an error), a broken image, or a saved widget that did not
render. It saves a full-page screenshot of each page under ``_build/screenshots/``.

    python tools/check_book.py [HTML_DIR] [SCREENSHOT_DIR]

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {"genindex.html", "search.html", "py-modindex.html"}

# Wait until MathJax has typeset and the widget manager has rendered, then collect problems.
PAGE_PROBLEMS_JS = """
const done = arguments[arguments.length - 1];
async function check() {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const problems = [];
  const maths = document.querySelectorAll('span.math, div.math');
  maths.forEach((m, i) => {
    if (!m.querySelector('mjx-container')) problems.push('math not typeset: ' + m.textContent.slice(0, 60));
  });
  document.querySelectorAll('mjx-merror, mjx-container [data-mjx-error]').forEach(e =>
    problems.push('math error: ' + (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 80)));
  document.querySelectorAll('img').forEach(img => {
    if (!img.complete || img.naturalWidth === 0) problems.push('broken image: ' + img.getAttribute('src'));
  });
  document.querySelectorAll('.output.traceback, .cell_output .traceback, .output.error').forEach(e =>
    problems.push('error output: ' + e.textContent.slice(0, 200)));
  document.querySelectorAll('.cell_output pre').forEach(e => {
    if (/Traceback \\(most recent call last\\)|^\\w*Error: /m.test(e.textContent))
      problems.push('error text in output: ' + e.textContent.slice(0, 200));
  });
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
  for (let t = 0; t < 50 && views.length; t++) {
    if (document.querySelectorAll('.jupyter-widgets, .widget-container, .widget-box').length) break;
    await new Promise(r => setTimeout(r, 100));
  }
  if (views.length && !document.querySelectorAll('.jupyter-widgets, .widget-container, .widget-box').length)
    problems.push(views.length + ' saved widget(s) did not render');
  return {problems, height: document.documentElement.scrollHeight, maths: maths.length};
}
check().then(done, e => done({problems: ['check failed: ' + e], height: 800, maths: 0}));
"""


def pages(html_dir: Path) -> list[Path]:
    out = []
    for p in sorted(html_dir.rglob("*.html")):
        rel = p.relative_to(html_dir)
        if rel.parts[0].startswith("_") or p.name in SKIP:
            continue
        if p.name == "index.html" and p.parent == html_dir and "refresh" in p.read_text()[:600]:
            continue  # the redirect to intro.html
        out.append(rel)
    return out


@contextlib.contextmanager
def serve(directory: Path):
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not chromium or not Path(driver_path).exists():
        raise RuntimeError(
            "Headless Chromium is needed for the browser check: "
            "apt-get install chromium chromium-driver (.ci/run does this)."
        )
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--window-size=1280,900",
        # The network is closed: every host but the local server fails to resolve, so a page
        # that reaches for a CDN logs an error and fails the check.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=opts)


def check_page(driver, url: str, shot: Path | None) -> list[str]:
    driver.get(url)
    driver.set_script_timeout(30)
    result = driver.execute_async_script(PAGE_PROBLEMS_JS)
    problems = list(result["problems"])
    time.sleep(0.2)
    for entry in driver.get_log("browser"):
        if entry.get("level") == "SEVERE":
            problems.append("console error: " + entry.get("message", "")[:300])
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        height = min(int(result.get("height") or 900), 16000)
        driver.set_window_size(1280, max(900, height))
        time.sleep(0.3)
        driver.save_screenshot(str(shot))
        driver.set_window_size(1280, 900)
    return problems


def check_book(html_dir: Path, shots_dir: Path | None = None) -> dict[str, list[str]]:
    """Check every page; return {page: [problems]} (empty lists for clean pages)."""
    html_dir = Path(html_dir)
    if not (html_dir / "intro.html").is_file():
        raise FileNotFoundError(
            f"no built book in {html_dir}; build it first (make test / make book)"
        )
    report = {}
    with serve(html_dir) as base:
        driver = browser()
        try:
            for rel in pages(html_dir):
                shot = (
                    shots_dir / (str(rel.with_suffix("")).replace("/", "__") + ".png")
                    if shots_dir
                    else None
                )
                report[str(rel)] = check_page(driver, f"{base}/{rel.as_posix()}", shot)
        finally:
            driver.quit()
    return report


def main(argv: list[str]) -> int:
    html_dir = Path(argv[1]) if len(argv) > 1 else ROOT / "_build" / "html"
    shots = Path(argv[2]) if len(argv) > 2 else ROOT / "_build" / "screenshots"
    report = check_book(html_dir, shots)
    bad = {p: v for p, v in report.items() if v}
    for page, problems in report.items():
        print(("FAIL " if problems else "ok   ") + page)
        for pr in problems:
            print("     - " + pr)
    print(f"{len(report) - len(bad)} pages clean, {len(bad)} with problems; screenshots in {shots}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
