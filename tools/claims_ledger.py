"""The book's ledger of claims: a Sphinx extension.

Every ``dlparts.claims.check(...)`` call leaves a record in its cell's output (MIME type
``application/vnd.dlparts.claim+json``). After each notebook is executed and read, this
extension collects the records from the executed copy myst-nb writes, and at the end of the
build it

- writes ``claims.json`` at the root of the HTML output: one object per claim with the fields
  ``key``, ``notebook`` (the page's docname), ``statement``, ``paper``, ``measured``, ``scale``,
  ``seeds``, ``holds`` and ``required`` (plus ``source``);
- writes ``execution.json`` beside it: each notebook's execution time in seconds;
- renders the ``{claims-ledger}`` directive (on the "Claims and evidence" page) as a table with
  a link to each claim's place in the book;
- renders the ``{build-info}`` directive (on "How this book was built") as the facts of this
  copy: scale, versions, device, build date, and per notebook its execution time, status and
  claims.

The gate (a required claim that does not hold fails the build) is :func:`gate`, which
``tools/build_book.py`` applies to the written ledger; this extension also logs each such
claim as a warning, so a strict build (``-W``) names it too.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from dlparts.claims import MIME, format_value, verdict_word

LEDGER = "claims.json"
EXECUTION = "execution.json"
FIELDS = (
    "key",
    "notebook",
    "statement",
    "paper",
    "measured",
    "scale",
    "seeds",
    "holds",
    "required",
)
logger = logging.getLogger(__name__)


def records_in(notebook: dict, docname: str) -> list[dict]:
    """The claim records in an executed notebook (a dict as read from JSON), in cell order."""
    found = []
    for cell in notebook.get("cells", []):
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = out.get("data", {}).get(MIME)
            if data is None:
                continue
            if isinstance(data, str):
                data = json.loads(data)
            found.append(
                {"notebook": docname, **{k: v for k, v in data.items() if k != "notebook"}}
            )
    return found


def gate(claims: list[dict], notebooks=()) -> list[str]:
    """One line per problem that must fail the build: a required claim that does not hold, a
    key used twice, or one of ``notebooks`` (docnames) with no claim in the ledger (every
    notebook records at least one, so none means the ledger lost it)."""
    problems = []
    listed = {c["notebook"] for c in claims}
    for doc in notebooks:
        if doc not in listed:
            problems.append(f"the ledger has no claim from {doc}: its executed outputs were lost")
    for key, n in Counter(c["key"] for c in claims).items():
        if n > 1:
            where = sorted({c["notebook"] for c in claims if c["key"] == key})
            problems.append(f"claim key {key!r} is recorded {n} times (in {', '.join(where)})")
    for c in claims:
        if c["required"] and not c["holds"]:
            values = ", ".join(f"{k} = {v}" for k, v in c["measured"].items())
            problems.append(
                f"required claim {c['key']!r} ({c['notebook']}) does not hold at scale "
                f"{c['scale']}: {c['statement']} (measured: {values})"
            )
    return problems


def summary(claims: list[dict]) -> str:
    """``"41 claims: 38 hold, 3 not reproduced here (paper results, not required), 0 required
    failing"``."""
    held = sum(c["holds"] for c in claims)
    open_ = sum(not c["holds"] and not c["required"] for c in claims)
    failed = sum(not c["holds"] and c["required"] for c in claims)
    return (
        f"{len(claims)} claims: {held} hold, {open_} not reproduced here (paper results, not "
        f"required), {failed} required failing"
    )


# ---------------------------------------------------------------------------------------------
# Sphinx side


class ledger_placeholder(nodes.General, nodes.Element):
    """Replaced by the claims table once every page has been read."""


class build_info_placeholder(nodes.General, nodes.Element):
    """Replaced by the build facts once every page has been read."""


class ClaimsLedger(SphinxDirective):
    has_content = False

    def run(self):
        return [ledger_placeholder()]


class BuildInfo(SphinxDirective):
    has_content = False

    def run(self):
        return [build_info_placeholder()]


def _claims(env) -> dict:
    if not hasattr(env, "dlparts_claims"):
        env.dlparts_claims = {}
    return env.dlparts_claims


def _collect(app, doctree):
    env = app.env
    docname = env.docname
    if not str(env.doc2path(docname)).endswith(".ipynb"):
        return
    notebook = _executed(env, docname)
    if notebook is None:
        logger.warning(f"no executed copy of {docname}: its claims are not listed")
        return
    _claims(env)[docname] = records_in(notebook, docname)


def _executed(env, docname):
    """The executed notebook of ``docname`` as a dict, or None.

    When myst-nb takes a notebook from the execution cache it renders the cached outputs but
    writes the *unexecuted* notebook to its output folder, so the cache is read first; the
    output folder's copy serves the modes that execute in place.
    """
    import nbformat

    cfg = env.mystnb_config
    if cfg.execution_mode == "cache" and cfg.execution_cache_path:
        from jupyter_cache import get_cache

        source = nbformat.read(str(env.doc2path(docname)), as_version=4)
        try:
            _, merged = get_cache(cfg.execution_cache_path).merge_match_into_notebook(source)
            return json.loads(nbformat.writes(merged))
        except KeyError:
            pass
    executed = Path(cfg.output_folder).joinpath(*f"{docname}.ipynb".split("/"))
    return json.loads(executed.read_text()) if executed.is_file() else None


def _purge(app, env, docname):
    _claims(env).pop(docname, None)


def _merge(app, env, docnames, other):
    _claims(env).update({d: c for d, c in _claims(other).items() if d in docnames})


def _ordered(app) -> list[dict]:
    env = app.env
    order = {d: i for i, d in enumerate(_toc_order(env))}
    docs = sorted(_claims(env), key=lambda d: (order.get(d, len(order)), d))
    return [c for d in docs for c in _claims(env)[d]]


def _toc_order(env) -> list[str]:
    seen, out = set(), []

    def walk(doc):
        if doc in seen:
            return
        seen.add(doc)
        out.append(doc)
        for child in env.toctree_includes.get(doc, []):
            walk(child)

    walk(env.config.root_doc)
    return out


def _always_outdated(app, env, added, changed, removed):
    # the ledger page reads every notebook: rewrite it whenever anything was read again
    return [d for d in env.found_docs if _has_ledger(env, d)]


def _has_ledger(env, docname) -> bool:
    return docname in getattr(env, "dlparts_ledger_pages", set())


def _note_ledger_page(app, doctree):
    found = [*doctree.findall(ledger_placeholder), *doctree.findall(build_info_placeholder)]
    if found:
        if not hasattr(app.env, "dlparts_ledger_pages"):
            app.env.dlparts_ledger_pages = set()
        app.env.dlparts_ledger_pages.add(app.env.docname)


def _resolve(app, doctree, fromdocname):
    ledgers = list(doctree.findall(ledger_placeholder))
    infos = list(doctree.findall(build_info_placeholder))
    if not ledgers and not infos:
        return
    claims = _ordered(app)
    for node in ledgers:
        node.replace_self(_table(app, claims, fromdocname))
    for node in infos:
        node.replace_self(_build_info(app, claims, fromdocname))


def build_facts() -> list[tuple[str, str]]:
    """What this build ran on: (label, value) pairs."""
    import platform
    import sys
    from datetime import datetime, timezone

    import numpy
    import sphinx
    import torch

    import dlparts

    try:
        import myst_nb

        mystnb = myst_nb.__version__
    except Exception:  # noqa: BLE001
        mystnb = "unknown"
    if torch.cuda.is_available():
        device = f"CUDA ({torch.cuda.get_device_name(0)})"
    else:
        device = f"CPU ({platform.processor() or platform.machine()})"
    threads = os.environ.get("OMP_NUM_THREADS", "library default")
    return [
        ("built", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("scale", os.environ.get("DLPARTS_SCALE", "default")),
        ("device", device),
        ("threads per notebook", threads),
        ("dlparts", getattr(dlparts, "__version__", "unknown")),
        ("Python", sys.version.split()[0]),
        ("PyTorch", torch.__version__),
        ("NumPy", numpy.__version__),
        ("Sphinx / myst-nb", f"{sphinx.__version__} / {mystnb}"),
        ("platform", platform.platform()),
    ]


def _simple_table(heads, rows, widths, classes):
    table = nodes.table(classes=[*classes, "colwidths-given"])
    group = nodes.tgroup(cols=len(heads))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    thead, body = nodes.thead(), nodes.tbody()
    row = nodes.row()
    for h in heads:
        row += nodes.entry("", nodes.paragraph(text=h))
    thead += row
    group += thead
    for cells in rows:
        row = nodes.row()
        for cell in cells:
            row += nodes.entry(
                "", cell if isinstance(cell, nodes.Node) else nodes.paragraph(text=cell)
            )
        body += row
    group += body
    return table


def _build_info(app, claims, fromdocname):
    """The facts of this build, then one row per notebook: time, status, claims."""
    section = nodes.container(classes=["dlparts-build-info"])
    facts = [(label, value) for label, value in build_facts()]
    section += _simple_table(["fact", "this copy"], facts, (25, 75), ["dlparts-build-facts"])
    by_page = Counter()
    for c in claims:
        by_page[(c["notebook"], verdict_word(c))] += 1
    times = _execution(app)
    rows, total = [], 0.0
    for docname, t in times.items():
        link = nodes.paragraph()
        link += _page_link(app, docname, fromdocname)
        secs = t["seconds"]
        total += secs or 0.0
        status = "ran" if t["succeeded"] else "FAILED"
        verdicts = [
            f"{by_page[(docname, w)]} {w}"
            for w in ("holds", "not reproduced", "does not hold")
            if by_page[(docname, w)]
        ]
        rows.append([link, "—" if secs is None else f"{secs:.1f} s", status, ", ".join(verdicts)])
    section += nodes.paragraph(
        text=f"{len(rows)} notebooks executed in {total:.0f} s of notebook time "
        f"(each on its own kernel; the build runs two at a time); {summary(claims)}."
    )
    section += _simple_table(
        ["notebook", "time", "status", "claims"], rows, (46, 12, 10, 32), ["dlparts-build-table"]
    )
    return section


def _page_link(app, docname, fromdocname):
    """A link to ``docname`` titled with its page title."""
    title = app.env.titles.get(docname)
    return nodes.reference(
        "", title.astext() if title is not None else docname,
        refuri=app.builder.get_relative_uri(fromdocname, docname),
    )  # fmt: skip


def _verdict(c) -> tuple[str, str]:
    word = verdict_word(c)
    return word, {"holds": "holds", "does not hold": "fails", "not reproduced": "open"}[word]


def _table(app, claims, fromdocname):
    """The summary, then one table per page (verdict, claim, measured, paper), in book order."""
    section = nodes.container(classes=["dlparts-ledger"])
    scales = sorted({c["scale"] for c in claims})
    built = f" This copy was built at scale {', '.join(scales)}." if scales else ""
    section += nodes.paragraph(text=summary(claims) + "." + built)
    pages = {}
    for c in claims:
        pages.setdefault(c["notebook"], []).append(c)
    for docname, page_claims in pages.items():
        heading = nodes.rubric()
        heading += _page_link(app, docname, fromdocname)
        section += heading
        section += _page_table(app, page_claims, fromdocname)
    return section


def _page_table(app, claims, fromdocname):
    rows = []
    for c in claims:
        uri = app.builder.get_relative_uri(fromdocname, c["notebook"]) + f"#claim-{c['key']}"
        word, kind = _verdict(c)
        verdict = nodes.paragraph()
        verdict += nodes.inline(text=word, classes=["dlparts-verdict", f"dlparts-verdict-{kind}"])
        if c["seeds"]:
            verdict += nodes.inline(text=f" {c['seeds']} seeds", classes=["dlparts-ledger-seeds"])
        claim = nodes.paragraph()
        claim += nodes.reference("", c["key"], refuri=uri, classes=["dlparts-ledger-key"])
        claim += nodes.Text(": " + c["statement"])
        measured = "; ".join(f"{k} = {format_value(v)}" for k, v in c["measured"].items())
        rows.append([verdict, claim, measured, c["paper"] or "—"])
    heads = ["verdict", "claim", "measured", "paper"]
    return _simple_table(heads, rows, (17, 43, 24, 16), ["dlparts-ledger-table"])


def _write(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    claims = [{k: c.get(k) for k in (*FIELDS, "source")} for c in _ordered(app)]
    Path(app.outdir, LEDGER).write_text(json.dumps(claims, indent=1, ensure_ascii=False) + "\n")
    Path(app.outdir, EXECUTION).write_text(json.dumps(_execution(app), indent=1) + "\n")
    for problem in gate(claims):
        logger.warning(problem)
    logger.info(f"claims ledger: {summary(claims)} -> {Path(app.outdir, LEDGER)}")


def _execution(app) -> dict:
    """Each executed page's run time (seconds; from the cache when it was not re-run)."""
    from myst_nb.sphinx_ import NbMetadataCollector

    times = {}
    for docname in _toc_order(app.env):
        try:
            data = NbMetadataCollector.get_exec_data(app.env, docname)
        except KeyError:
            continue
        if data:
            times[docname] = {"seconds": data.get("runtime"), "succeeded": data.get("succeeded")}
    return times


def setup(app):
    app.add_node(ledger_placeholder)
    app.add_directive("claims-ledger", ClaimsLedger)
    app.add_node(build_info_placeholder)
    app.add_directive("build-info", BuildInfo)
    app.connect("doctree-read", _collect)
    app.connect("doctree-read", _note_ledger_page)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("env-get-outdated", _always_outdated)
    app.connect("doctree-resolved", _resolve)
    app.connect("build-finished", _write)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
