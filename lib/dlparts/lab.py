"""The book's notebooks in JupyterLab, with the numbers their prose pastes.

The book's prose reads measured numbers through myst-nb's glue roles: ``{glue:text}`key:.1%```
pastes a number that a code cell above measured (:mod:`dlparts.claims` glues every claim's
verdict and values). jupyterlab-myst, which renders the notebooks' MyST in JupyterLab, knows no
glue; it does know ``{eval}`expression```, an inline expression it evaluates in the kernel when
the Markdown cell runs. So ``make lab`` serves the notebooks through :class:`GlueContentsManager`:
a notebook opened in JupyterLab shows each glue role as the ``{eval}`` of
:func:`dlparts.claims.paste_text` (or :func:`~dlparts.claims.paste_md`) with the same key, and
a notebook saved from JupyterLab gets its glue roles back, so the files, the book and nbval
see exactly what they saw before. Run All Cells fills in every number.

    {glue:text}`relu.speedup:.1f`   <->   {eval}`claims.paste_text("relu.speedup", ".1f")`
    {glue:md}`relu.reading`         <->   {eval}`claims.paste_md("relu.reading")`

The round trip is exact for every notebook of the book (``tests/test_lab_glue.py``). The
results jupyterlab-myst stores in a Markdown cell's metadata (``user_expressions``) are not
saved: they are this kernel's numbers, not the notebook's.
"""

from __future__ import annotations

import functools
import json
import re

_GLUE = re.compile(r"\{glue:(text|md)\}`([^`]+)`")
_STR = r'"(?:[^"\\]|\\.)*"'  # a JSON string
_EVAL = re.compile(rf"\{{eval\}}`claims\.paste_(text|md)\((?P<args>{_STR}(?:, {_STR})?)\)`")
_LAB_METADATA = ("user_expressions",)


def glue_to_eval(markdown: str) -> str:
    """Markdown as JupyterLab shows it: every glue role as an ``{eval}`` of ``claims.paste_*``.

    Raises:
        ValueError: for a glue role that names another document (``path::key``), which the
            kernel of this notebook cannot paste.
    """

    def sub(m: re.Match) -> str:
        kind, content = m.group(1), m.group(2)
        if "::" in content:
            raise ValueError(
                f"{m.group(0)} pastes from another notebook; in JupyterLab only this "
                f"notebook's kernel answers, so keep glue roles local to their notebook"
            )
        args = [content]
        if kind == "text" and ":" in content:  # key:format, split where myst-nb splits it
            args = list(content.rsplit(":", 1))
        quoted = ", ".join(json.dumps(a, ensure_ascii=False) for a in args)
        return f"{{eval}}`claims.paste_{kind}({quoted})`"

    return _GLUE.sub(sub, markdown)


def eval_to_glue(markdown: str) -> str:
    """The inverse of :func:`glue_to_eval`: the file's glue roles back."""

    def sub(m: re.Match) -> str:
        args = json.loads(f"[{m.group('args')}]")
        return f"{{glue:{m.group(1)}}}`{':'.join(args)}`"

    return _EVAL.sub(sub, markdown)


def notebook_to_lab(nb: dict) -> dict:
    """A notebook's JSON (nbformat 4) as JupyterLab is given it; changed in place and
    returned."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            cell["source"] = _map_source(cell["source"], glue_to_eval)
    return nb


def notebook_from_lab(nb: dict) -> dict:
    """A notebook saved from JupyterLab as the file keeps it: glue roles back, the kernel's
    inline-expression results dropped; changed in place and returned."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            cell["source"] = _map_source(cell["source"], eval_to_glue)
            for key in _LAB_METADATA:
                cell.get("metadata", {}).pop(key, None)
    return nb


def _map_source(source, fn):
    if isinstance(source, list):  # nbformat's on-disk form: a list of lines
        return fn("".join(source)).splitlines(keepends=True)
    return fn(source)


@functools.cache
def contents_manager_class():
    """:class:`GlueContentsManager`, built on jupyter_server's file manager (imported here, so
    that ``dlparts`` itself does not need Jupyter)."""
    from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager

    class GlueContentsManager(AsyncLargeFileManager):
        """Serves notebooks with glue roles shown as ``{eval}`` and saves them back as glue."""

        async def get(self, path, content=True, type=None, format=None, **kwargs):
            model = await super().get(path, content=content, type=type, format=format, **kwargs)
            if model.get("type") == "notebook" and model.get("content"):
                notebook_to_lab(model["content"])
            return model

        async def save(self, model, path=""):
            if model.get("type") == "notebook" and model.get("content"):
                notebook_from_lab(model["content"])
            saved = await super().save(model, path)
            return saved

    return GlueContentsManager


def __getattr__(name):
    if name == "GlueContentsManager":
        return contents_manager_class()
    raise AttributeError(f"module 'dlparts.lab' has no attribute {name!r}")
