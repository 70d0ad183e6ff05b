"""A reader's path through JupyterLab: the server `make lab` starts, a notebook opened and run
through JupyterLab's own menus in headless Chromium.

The server is started by ``tools/lab.py`` (what ``make lab`` runs) on a free localhost port with
a token, on a temporary copy of one notebook (so nothing in the repository is written), with
``DLPARTS_SCALE=quick``. The test then checks what a reader sees: every cell runs without an
error output, the numbers the prose pastes (glue roles, shown through ``dlparts.lab``) are filled
in, moving one of the explorer's sliders redraws its figure through the kernel, and a
solution dropdown (MyST, rendered by jupyterlab-myst) is collapsed until clicked, and a save
from JupyterLab leaves the notebook's Markdown as it was.

On a failure the browser's view is saved as ``_build/screenshots/lab-<stage>.png``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import check_book  # noqa: E402
import lab  # noqa: E402

NOTEBOOK = "01_convolution/01_conv_arithmetic.ipynb"  # an explorer, a dropdown, quick to run
SHOTS = ROOT / "_build" / "screenshots"
START_S, OPEN_S, RUN_S, WIDGET_S = 60, 45, 90, 20

pytestmark = pytest.mark.book

# The notebook panel JupyterLab shows (window.jupyterapp: --LabApp.expose_app_in_browser).
PANEL_JS = """
const app = window.jupyterapp;
const panel = app && app.shell && app.shell.currentWidget;
if (!panel || !panel.content || !panel.content.model || !panel.sessionContext) return null;
"""
STATE_JS = (
    PANEL_JS
    + """
const cells = [];
const model = panel.content.model;
for (let i = 0; i < model.cells.length; i++) {
  const c = model.cells.get(i).toJSON();
  const src = Array.isArray(c.source) ? c.source.join('') : c.source;
  cells.push({type: c.cell_type, count: c.execution_count ?? null, source: src.slice(0, 4000),
              errors: (c.outputs || []).filter(o => o.output_type === 'error')
                        .map(o => o.ename + ': ' + o.evalue)});
}
return {status: panel.sessionContext.kernelDisplayStatus, ready: panel.context.isReady,
        cells: cells};
"""
)
# Scroll cell i into view (the notebook renders only the cells near the view) and mark its node.
MARK_JS = """
const done = arguments[arguments.length - 1];
const panel = window.jupyterapp.shell.currentWidget;
const [i, mark] = [arguments[0], arguments[1]];
Promise.resolve(panel.content.scrollToItem ? panel.content.scrollToItem(i, 'center') : null)
  .then(() => new Promise(r => setTimeout(r, 200)))
  .then(() => {
    const w = panel.content.widgets[i];
    w.node.setAttribute('data-lab-test', mark);
    w.node.scrollIntoView({block: 'center'});
    done(panel.content.notebookConfig.windowingMode);
  }, e => done('error: ' + e));
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _lab_server(tmp: Path):
    """`tools/lab.py`'s JupyterLab on ``tmp/chapters``; yields (base URL, token, log path)."""
    nb_dir = tmp / "chapters"
    (nb_dir / Path(NOTEBOOK).parent).mkdir(parents=True)
    shutil.copy(ROOT / "chapters" / NOTEBOOK, nb_dir / NOTEBOOK)
    # no "official Jupyter news?" toast over the notebook
    news = (
        tmp / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    )
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    env.pop("DLPARTS_BOOK", None)  # a live kernel: the explorers are ipywidgets
    env.update(
        DLPARTS_SCALE="quick",
        TQDM_DISABLE="1",
        OMP_NUM_THREADS="1",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
        # a fresh Jupyter home: no reader's settings, workspaces or running servers
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTER_DATA_DIR=str(tmp / "data"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        IPYTHONDIR=str(tmp / "ipython"),
    )
    extra = [
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    log = tmp / "lab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            lab.command(nb_dir, extra), env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{_tail(log)}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    json.load(r)
                break
            except (urllib.error.URLError, OSError, ValueError):
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer within {START_S} s:\n{_tail(log)}")
                time.sleep(0.3)
        yield base, token, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(log: Path, n: int = 4000) -> str:
    return log.read_text(errors="replace")[-n:] if log.is_file() else "(no log)"


class _Stage:
    """Name what the test is doing; on failure, save a screenshot and say where it is."""

    def __init__(self, driver, log: Path):
        self.driver, self.log = driver, log

    @contextlib.contextmanager
    def __call__(self, name: str):
        try:
            yield
        except Exception as e:
            SHOTS.mkdir(parents=True, exist_ok=True)
            shot = SHOTS / f"lab-{name}.png"
            with contextlib.suppress(Exception):
                self.driver.save_screenshot(str(shot))
            msg = f"JupyterLab, stage '{name}': {type(e).__name__}: {e}"
            pytest.fail(f"{msg}\nscreenshot: {shot}\nserver log:\n{_tail(self.log, 2500)}")


def _wait(driver, timeout, what, cond):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(lambda d: cond(d))
    except TimeoutException:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None


def _state(driver):
    return driver.execute_script(STATE_JS)


def _click_menu(driver, menu: str, item: str):
    from selenium.webdriver.common.by import By

    top = _wait(
        driver,
        10,
        f"the '{menu}' menu",
        lambda d: next(
            (
                e
                for e in d.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item")
                if e.text.strip() == menu
            ),
            None,
        ),
    )
    top.click()
    entry = _wait(
        driver,
        10,
        f"'{item}' in the '{menu}' menu",
        lambda d: next(
            (
                e
                for e in d.find_elements(By.CSS_SELECTOR, ".lm-Menu .lm-Menu-item")
                if e.is_displayed() and e.text.strip().startswith(item)
            ),
            None,
        ),
    )
    entry.click()


def _cell_index(cells, kind: str, needle: str) -> int:
    for i, c in enumerate(cells):
        if c["type"] == kind and needle in c["source"]:
            return i
    raise AssertionError(f"no {kind} cell containing {needle!r} in {NOTEBOOK}")


def test_a_notebook_runs_in_jupyterlab_and_its_explorer_and_dropdowns_work(tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with _lab_server(tmp_path) as (base, token, log):
        driver = check_book.browser()
        stage = _Stage(driver, log)
        try:
            driver.set_script_timeout(20)
            with stage("open"):
                driver.get(f"{base}/lab/tree/{NOTEBOOK}?token={token}&reset")
                _wait(driver, OPEN_S, "the notebook and an idle kernel", lambda d: (
                    (s := _state(d)) and s["ready"] and s["status"] == "idle" and s["cells"]
                ))  # fmt: skip
                # jupyterlab-myst is the renderer of Markdown cells: its output is present
                _wait(driver, OPEN_S, "Markdown cells rendered by jupyterlab-myst", lambda d: (
                    d.find_elements(By.CSS_SELECTOR, ".jp-MarkdownCell .myst")
                ))  # fmt: skip

            with stage("run-all"):
                _click_menu(driver, "Run", "Run All Cells")
                _wait(driver, RUN_S, "every code cell to run and the kernel to go idle", lambda d: (
                    (s := _state(d))["status"] == "idle"
                    and all(c["count"] is not None for c in s["cells"] if c["type"] == "code")
                ))  # fmt: skip
                cells = _state(driver)["cells"]
                errors = [
                    f"cell {i}: {err}\n    {c['source'][:120]!r}"
                    for i, c in enumerate(cells)
                    for err in c["errors"]
                ]
                assert not errors, "error outputs after Run All Cells:\n" + "\n".join(errors)
                shown = driver.find_elements(
                    By.CSS_SELECTOR, ".jp-OutputArea-output[data-mime-type*='stderr']"
                )
                tracebacks = [e.text[:300] for e in shown if "Traceback" in e.text]
                assert not tracebacks, f"tracebacks shown in outputs: {tracebacks}"

            with stage("glue"):
                # the prose's pasted numbers: jupyterlab-myst evaluates each {eval} that
                # dlparts.lab shows for a glue role; the claim in the cell above checks them
                i = _cell_index(
                    cells, "markdown", 'claims.paste_text("conv.sharing.alexnet-conv1.with sharing"'
                )
                driver.execute_async_script(MARK_JS, i, "pasted")
                md = "[data-lab-test='pasted'] .myst"
                text = _wait(driver, WIDGET_S, "the numbers pasted into the prose", lambda d: (
                    (e := d.find_elements(By.CSS_SELECTOR, md)) and "34,944" in e[0].text
                    and e[0].text
                ))  # fmt: skip
                assert "105,705,600" in text, text[:400]
                for raw in ("{glue", "{eval}", "claims.paste", "Error"):
                    assert raw not in text, f"{raw!r} shown in the rendered prose: {text[:400]}"

            with stage("widget"):
                i = _cell_index(cells, "code", "conv_explorer(")
                driver.execute_async_script(MARK_JS, i, "explorer")
                cell = "[data-lab-test='explorer']"
                _wait(driver, WIDGET_S, "the explorer's sliders and its figure", lambda d: (
                    d.find_elements(By.CSS_SELECTOR, f"{cell} .widget-slider .noUi-handle")
                    and d.find_elements(By.CSS_SELECTOR, f"{cell} .widget-output img")
                ))  # fmt: skip
                slider = next(
                    s
                    for s in driver.find_elements(By.CSS_SELECTOR, f"{cell} .widget-slider")
                    if "stride" in s.find_element(By.CSS_SELECTOR, ".widget-label").text
                )
                readout = slider.find_element(By.CSS_SELECTOR, ".widget-readout")
                before = (readout.text, _figure(driver, cell))
                slider.find_element(By.CSS_SELECTOR, ".noUi-handle").send_keys(Keys.ARROW_RIGHT)
                _wait(driver, WIDGET_S, "the stride readout to move", lambda d: (
                    readout.text != before[0]
                ))  # fmt: skip
                _wait(driver, WIDGET_S, "the kernel to redraw the explorer's figure", lambda d: (
                    (f := _figure(d, cell)) is not None and f != before[1]
                ))  # fmt: skip

            with stage("dropdown"):
                i = _cell_index(cells, "markdown", ":class: dropdown")
                driver.execute_async_script(MARK_JS, i, "solutions")
                cell = "[data-lab-test='solutions']"
                details = _wait(driver, WIDGET_S, "a rendered solution dropdown", lambda d: [
                    e for e in d.find_elements(By.CSS_SELECTOR, f"{cell} details")
                    if "Solution" in e.find_element(By.TAG_NAME, "summary").text
                ])  # fmt: skip
                box = details[0]
                assert box.get_attribute("open") is None, "the solution dropdown renders open"
                body = [e for e in box.find_elements(By.XPATH, "./*") if e.tag_name != "summary"]
                assert body and not any(e.is_displayed() for e in body), (
                    "the solution's text is visible before the dropdown is opened"
                )
                box.find_element(By.TAG_NAME, "summary").click()
                _wait(driver, 5, "the solution to show when its summary is clicked", lambda d: (
                    any(e.is_displayed() for e in body)
                ))  # fmt: skip
            with stage("save"):
                # saved from JupyterLab, the file gets its glue roles back, and no kernel results
                saved = tmp_path / "chapters" / NOTEBOOK
                before = saved.stat().st_mtime_ns
                _click_menu(driver, "File", "Save Notebook")
                _wait(driver, 20, "the notebook to be saved", lambda d: (
                    saved.stat().st_mtime_ns != before
                ))  # fmt: skip
                original = _markdown_cells(ROOT / "chapters" / NOTEBOOK)
                assert _markdown_cells(saved) == original, "Markdown changed by a save from Lab"
            SHOTS.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(SHOTS / "lab-passed.png"))
        finally:
            driver.quit()


def _markdown_cells(path: Path) -> list[tuple[str, dict]]:
    nb = json.loads(path.read_text())
    return [
        ("".join(c["source"]), c.get("metadata", {}))
        for c in nb["cells"]
        if c["cell_type"] == "markdown"
    ]


def _figure(driver, cell: str):
    """The src of the explorer's figure (a data URL that changes when it is redrawn)."""
    from selenium.webdriver.common.by import By

    imgs = driver.find_elements(By.CSS_SELECTOR, f"{cell} .widget-output img")
    return imgs[0].get_attribute("src") if imgs else None
