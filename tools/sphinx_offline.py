"""A small Sphinx extension that keeps the rendered book working offline.

- Jupyter Book 1 adds every ``.js`` file found in a static folder to every page; of the vendored
  MathJax and widget-manager files only the entry points may load (MathJax loads its own parts).
- Drops sphinx-thebe's scripts: the book offers no live Thebe cells, their loader points at a
  CDN, and Jupyter Book 1 emits their inline config twice (a console error).
- Removes duplicate scripts, and tells the widget manager where its fonts are on this page.
"""

from __future__ import annotations

ENTRY_POINTS = {"mathjax/tex-chtml.js", "widgets/require.min.js", "widgets/embed-amd.js"}
VENDORED = ("mathjax/", "widgets/")
# RequireJS reads a global `require` as its configuration: resolve the widget manager's modules
# (and so its icon fonts) under _static/widgets/ of this page's book root, which Sphinx writes
# on the <html> element as data-content_root. Added once, before every other script.
WIDGET_BASE = (
    "var require = {baseUrl: new URL((document.documentElement.dataset.content_root || '') + "
    "'_static/widgets/', document.baseURI).href};"
    "window.__jupyter_widgets_assets_path__ = require.baseUrl;"
)


def _script_name(js) -> str:
    name = getattr(js, "filename", None)
    return str(name if name is not None else js)


def _fix_scripts(app, pagename, templatename, context, doctree):
    files = context.get("script_files")
    if not files:
        return
    kept, seen = [], set()
    for js in files:
        name = _script_name(js)
        body = getattr(js, "attributes", {}).get("body", "")
        if "THEBE_JS_URL" in body or "sphinx-thebe" in name:
            continue
        rel = name.split("_static/", 1)[-1].split("?", 1)[0]
        if rel.startswith(VENDORED) and rel not in ENTRY_POINTS:
            continue
        key = (rel, body)
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    files[:] = kept


def setup(app):
    app.add_js_file(None, body=WIDGET_BASE, priority=100)
    app.connect("html-page-context", _fix_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
