"""Open every page of the built book in headless Chromium, with the network closed.

For each page it fails on: a console error, an error output (a traceback) in a cell, math that
MathJax did not typeset (or typeset as an error), a broken image, a saved widget that did not
render, a critical or serious accessibility violation (axe-core, vendored by
``tools/vendor_axe.sh``; moderate and minor ones are reported, not failed), a printed line,
table or image wider than its box at 1100 px, a live widget control (it needs a kernel, which
the rendered book does not have), or a dead control: every visible control in a cell's output
(a player's slider and buttons, a select) is moved or clicked, and the output around it must
change. It saves a full-page screenshot of each page under ``_build/screenshots/``.
``check_search`` searches the book served and opened from its files.

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
# axe-core's impacts that fail a page; moderate and minor findings are reported
FAILING_IMPACTS = ("critical", "serious")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"

# axe-core's verdict on the page as it is now: violations with their impact and the elements.
AXE_JS = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(v => ({
  id: v.id, impact: v.impact, help: v.help,
  nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')), count: v.nodes.length}))),
  e => done([{id: 'axe-failed', impact: 'critical', help: String(e), nodes: [], count: 0}]));
"""

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


# ipywidgets controls: in the rendered book no kernel answers them (the explorers render players
# there, dlparts.widgets._book), so a visible one is a dead control.
LIVE_WIDGETS = ", ".join(
    f".cell_output .widget-{k}"
    for k in ("slider", "dropdown", "button", "toggle-button", "checkbox", "text", "radio",
              "select", "play", "hslider", "vslider")
)  # fmt: skip
CONTROLS = ", ".join(
    f".cell_output {k}" for k in ("input:not([type=hidden])", "select", "button", "textarea")
)
# Mark every visible control in the outputs (data-check-control=i) and describe each one.
LIST_CONTROLS_JS = """
const live = [...document.querySelectorAll(arguments[0])].filter(e => e.offsetParent !== null);
const ctl = [...document.querySelectorAll(arguments[1])]
  .filter(e => e.offsetParent !== null && !e.closest('.jupyter-widgets')
          && !e.classList.contains('copybtn'));  // copy buttons act on the clipboard
ctl.forEach((e, i) => e.setAttribute('data-check-control', i));
const name = e => e.tagName.toLowerCase() + (e.type ? '[type=' + e.type + ']' : '') + ' "' +
  (e.getAttribute('aria-label') || e.textContent || e.name || '').trim().slice(0, 40) + '"';
return {live: live.map(e => e.className.slice(0, 60) + ': ' + e.textContent.trim().slice(0, 40)),
        controls: ctl.map(name)};
"""
# What a reader sees around a control: the visible images, the controls' values and the text.
SIGNATURE_JS = """
const el = document.querySelector('[data-check-control="' + arguments[0] + '"]');
const root = el.closest('.cell_output') || el.parentElement;
const imgs = [...root.querySelectorAll('img')].filter(i => i.offsetParent !== null && !i.hidden)
  .map(i => i.currentSrc || i.src);
const vals = [...root.querySelectorAll('input, select, textarea')]
  .map(c => (c.type === 'checkbox' || c.type === 'radio') ? c.checked : c.value);
return JSON.stringify([imgs, vals, root.innerText]);
"""


# What a reader reads at 1100 px: no output line, table or image wider than its box (a box that
# scrolls sideways hides the end of each line until the reader scrolls it).
WIDTH = 1100
LAYOUT_JS = """
const out = [];
const article = document.querySelector('.bd-article') || document.body;
const right = article.getBoundingClientRect().right;
const shown = e => e.offsetParent !== null;
const what = e => (e.innerText || e.getAttribute('src') || '').trim().split('\\n')[0].slice(0, 70);
document.querySelectorAll('.cell_output pre, .dlparts-table, .pst-scrollable-table-container')
  .forEach(e => {
    if (shown(e) && e.scrollWidth > e.clientWidth + 1)
      out.push(`${e.tagName.toLowerCase()}.${e.className.split(' ')[0] || '-'} is ` +
               `${e.scrollWidth - e.clientWidth} px wider than its box: "${what(e)}"`);
  });
document.querySelectorAll('.bd-article table, .cell_output img').forEach(e => {
  const r = e.getBoundingClientRect();
  if (shown(e) && r.width > 0 && r.right > right + 1)
    out.push(`${e.tagName.toLowerCase()} overflows the page by ${Math.round(r.right - right)} px: ` +
             `"${what(e)}"`);
});
return out;
"""


def pages(html_dir: Path) -> list[Path]:
    out = []
    for p in sorted(html_dir.rglob("*.html")):
        rel = p.relative_to(html_dir)
        if rel.parts[0].startswith("_") or p.name in SKIP:
            continue
        if (
            p.name == "index.html"
            and p.parent == html_dir
            and "refresh" in p.read_text()[:600].lower()
        ):
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
        f"--window-size={WIDTH},900",
        # The network is closed: every host but the local server fails to resolve, so a page
        # that reaches for a CDN logs an error and fails the check.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=opts)


def check_page(
    driver, url: str, shot: Path | None, notes: list[str] | None = None, dark: bool = False
) -> list[str]:
    """The problems of one page; moderate and minor accessibility findings are appended to
    ``notes``."""
    driver.get(url)
    driver.set_script_timeout(30)
    result = driver.execute_async_script(PAGE_PROBLEMS_JS)
    problems = list(result["problems"])
    time.sleep(0.2)
    problems += _console_errors(driver)
    problems += [f"too wide at {WIDTH} px: {p}" for p in driver.execute_script(LAYOUT_JS)]
    if dark:
        theme = driver.execute_script("return document.documentElement.dataset.theme")
        if theme != "dark":
            problems.append(f"dark mode asked for, but the page's theme is {theme!r}")
    for v in accessibility(driver):
        line = f"{v['impact']} accessibility: {v['id']} ({v['help']}) on {v['count']}: " + (
            ", ".join(v["nodes"])
        )
        if v["impact"] in FAILING_IMPACTS:
            problems.append(line)
        elif notes is not None:
            notes.append(line)
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        height = min(int(result.get("height") or 900), 16000)
        driver.set_window_size(WIDTH, max(900, height))
        time.sleep(0.3)
        driver.save_screenshot(str(shot))
        driver.set_window_size(WIDTH, 900)
    problems += check_controls(driver)
    problems += _console_errors(driver)
    return problems


def check_controls(driver) -> list[str]:
    """Move or click every visible control in the page's outputs; a control after which nothing
    around it changes (images shown, values, text) is dead. Live ipywidgets are dead too."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    found = driver.execute_script(LIST_CONTROLS_JS, LIVE_WIDGETS, CONTROLS)
    problems = [
        f"live widget control (needs a kernel; the book has none): {w}" for w in found["live"]
    ]
    for i, desc in enumerate(found["controls"]):
        el = driver.find_element(By.CSS_SELECTOR, f'[data-check-control="{i}"]')
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
        before = driver.execute_script(SIGNATURE_JS, i)
        kind = (el.get_attribute("type") or "").lower()
        try:
            if el.tag_name.lower() == "select":
                sel = Select(el)
                now = next((k for k, o in enumerate(sel.options) if o.is_selected()), 0)
                sel.select_by_index((now + 1) % max(1, len(sel.options)))
            elif kind == "range":
                value = el.get_attribute("value")
                el.send_keys(Keys.ARROW_RIGHT)
                if el.get_attribute("value") == value:  # at its maximum: go the other way
                    el.send_keys(Keys.ARROW_LEFT)
            else:
                el.click()
        except Exception as e:  # noqa: BLE001 (any failure to operate it is the finding)
            problems.append(f"control {desc} cannot be operated: {type(e).__name__}")
            continue
        for _ in range(20):
            if driver.execute_script(SIGNATURE_JS, i) != before:
                break
            time.sleep(0.05)
        else:
            problems.append(f"dead control: {desc} changes nothing on the page")
    return problems


def accessibility(driver) -> list[dict]:
    """axe-core's violations on the current page (``id``, ``impact``, ``help``, ``nodes``)."""
    if not AXE.is_file():
        raise FileNotFoundError(
            f"axe-core is missing ({AXE}): run tools/vendor_axe.sh (make setup does) once, "
            "with the npm registry reachable"
        )
    if not driver.execute_script("return !!window.axe"):
        driver.execute_script(_axe_source())
    return driver.execute_async_script(AXE_JS)


@functools.cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def _console_errors(driver) -> list[str]:
    return [
        "console error: " + entry.get("message", "")[:300]
        for entry in driver.get_log("browser")
        if entry.get("level") == "SEVERE"
    ]


SEARCH_JS = """
const done = arguments[arguments.length - 1];
const t0 = Date.now();
(function poll() {
  const items = document.querySelectorAll('#search-results li');
  const status = document.querySelector('#search-results .search-summary, #search-results p');
  const finished = status && /found|did not match/.test(status.textContent);
  if ((finished && items.length) || Date.now() - t0 > 15000)
    return done({results: items.length, snippets: document.querySelectorAll(
      '#search-results li p.context').length, status: status ? status.textContent : '',
      offline_note: !!document.getElementById('dlparts-search-offline')});
  setTimeout(poll, 100);
})();
"""


def check_search(html_dir: Path, query: str = "convolution") -> dict[str, list[str]]:
    """Search the book as a reader does, served (``make serve``) and opened from files: results
    must come back in both, with a snippet of each page when served; no console error in
    either (opened from files, the snippets are left out and the page says why)."""
    html_dir = Path(html_dir).resolve()
    found = {}
    with serve(html_dir) as base:
        driver = browser()
        try:
            for how, url in (("served", base), ("from files", html_dir.as_uri())):
                driver.get(f"{url}/search.html?q={query}")
                driver.set_script_timeout(30)
                r = driver.execute_async_script(SEARCH_JS)
                problems = _console_errors(driver)
                if not r["results"]:
                    problems.append(f"searching {query!r} found nothing ({r['status']!r})")
                if how == "served" and r["snippets"] < min(r["results"], 3):
                    problems.append(f"{r['snippets']} snippets for {r['results']} results")
                if how == "from files" and not r["offline_note"]:
                    problems.append("no note that snippets need the served book (make serve)")
                found[how] = problems
        finally:
            driver.quit()
    return found


def check_book(
    html_dir: Path,
    shots_dir: Path | None = None,
    notes: dict[str, list[str]] | None = None,
    dark: bool = False,
) -> dict[str, list[str]]:
    """Check every page; return {page: [problems]} (empty lists for clean pages). Moderate
    and minor accessibility findings go to ``notes`` ({page: [findings]}) when it is given. With ``dark``
    the pages are opened in the theme's dark mode (screenshots named ``dark-<page>.png``)."""
    html_dir = Path(html_dir)
    if not (html_dir / "intro.html").is_file():
        raise FileNotFoundError(
            f"no built book in {html_dir}; build it first (make test / make book)"
        )
    report = {}
    with serve(html_dir) as base:
        driver = browser()
        try:
            if dark:  # the theme reads the reader's choice from localStorage before it paints
                driver.get(f"{base}/intro.html")
                driver.execute_script(
                    "localStorage.setItem('mode', 'dark'); localStorage.setItem('theme', 'dark');"
                )
            for rel in pages(html_dir):
                name = ("dark-" if dark else "") + str(rel.with_suffix("")).replace("/", "__")
                shot = shots_dir / (name + ".png") if shots_dir else None
                page_notes = [] if notes is None else notes.setdefault(str(rel), [])
                report[str(rel)] = check_page(
                    driver, f"{base}/{rel.as_posix()}", shot, page_notes, dark
                )
        finally:
            driver.quit()
    return report


def main(argv: list[str]) -> int:
    html_dir = Path(argv[1]) if len(argv) > 1 else ROOT / "_build" / "html"
    shots = Path(argv[2]) if len(argv) > 2 else ROOT / "_build" / "screenshots"
    status = 0
    for dark in (False, True):
        notes: dict[str, list[str]] = {}
        report = check_book(html_dir, shots, notes, dark=dark)
        bad = {p: v for p, v in report.items() if v}
        for page, problems in report.items():
            print(("FAIL " if problems else "ok   ") + page + (" (dark)" if dark else ""))
            for pr in problems:
                print("     - " + pr)
            for note in notes.get(page, []):
                print("     ~ " + note)
        print(
            f"{len(report) - len(bad)} pages clean, {len(bad)} with problems"
            f"{' in dark mode' if dark else ''}; screenshots in {shots}"
        )
        status |= 1 if bad else 0
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
