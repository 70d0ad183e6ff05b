"""Keep the book's notebooks tidy.

    python tools/nbtool.py strip   NOTEBOOK...   # remove outputs, except cells nbval compares
    python tools/nbtool.py refresh NOTEBOOK...   # run at quick scale, store the compared outputs
    python tools/nbtool.py new     NOTEBOOK "Title"

A cell tagged ``nbval-check-output`` (nbval's own tag, so readers see no test marker in the
code) holds a checked fact (a layer table, a parameter count): ``refresh`` stores its output and
sets ``keep_output`` in its metadata so that nbstripout keeps it too; nbval then compares it on
every run. Every other output is stripped. ``strip`` also turns a legacy ``# NBVAL_CHECK_OUTPUT``
comment into the tag. Cell metadata that the book reads (``tags``, myst-nb's ``mystnb`` figure
captions and alt text) is kept; everything else an editor adds is dropped.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat

CHECK_TAG = "nbval-check-output"
LEGACY_CHECK = "# NBVAL_CHECK_OUTPUT"
KEPT_METADATA = ("tags", "mystnb")
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}

ROOT = Path(__file__).resolve().parents[1]


def repository_url(root: Path = ROOT) -> str:
    """The repository's URL, written once: ``repository.url`` in ``_config.yml`` (the launch
    buttons read it there too)."""
    import yaml

    return yaml.safe_load((root / "_config.yml").read_text())["repository"]["url"].rstrip("/")


def colab_cell(url: str | None = None) -> str:
    """The first cell of every notebook: install the course on Colab, a no-op elsewhere."""
    url = url or repository_url()
    return f"""\
# Runs only on Google Colab: fetch the course and install its library (a no-op elsewhere).
import sys

if "google.colab" in sys.modules:
    !git clone -q --depth 1 {url} /content/pdl
    !pip install -q -e /content/pdl
    sys.path.insert(0, "/content/pdl/lib")"""


def is_checked(cell) -> bool:
    """Whether nbval compares this cell's output (the ``nbval-check-output`` tag)."""
    return cell.cell_type == "code" and (
        CHECK_TAG in cell.get("metadata", {}).get("tags", []) or LEGACY_CHECK in cell.source
    )


def _tag_legacy_check(cell) -> None:
    """Replace a ``# NBVAL_CHECK_OUTPUT`` comment line by the equivalent cell tag."""
    if LEGACY_CHECK not in cell.source:
        return
    lines = [ln for ln in cell.source.splitlines() if ln.strip() != LEGACY_CHECK]
    cell.source = "\n".join(lines).strip("\n")
    tags = cell.metadata.setdefault("tags", [])
    if CHECK_TAG not in tags:
        tags.append(CHECK_TAG)


def clean(nb, keep_checked: bool = True):
    """Strip outputs and execution counts (except checked cells) and normalise metadata."""
    checked = 0
    nb.metadata = {
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
    }
    for cell in nb.cells:
        cell.pop("id", None)
        if cell.cell_type != "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            continue
        _tag_legacy_check(cell)
        meta = {k: v for k, v in cell.metadata.items() if k in KEPT_METADATA}
        if is_checked(cell) and keep_checked:
            # nbval compares only cells whose reference ran: a checked cell keeps a count
            # (numbered in order), every other cell is stored unrun.
            checked += 1
            meta["keep_output"] = True
            cell.execution_count = checked
            for out in cell.outputs:
                if "execution_count" in out:
                    out["execution_count"] = checked
        else:
            cell.outputs = []
            cell.execution_count = None
        cell.metadata = meta
    return nb


def write(nb, path: Path) -> None:
    nb = nbformat.from_dict(nb)
    nb.nbformat, nb.nbformat_minor = 4, 4  # clean() dropped the cell ids: keeps diffs quiet
    path.write_text(nbformat.writes(nb, version=4))


def strip(paths) -> None:
    for p in map(Path, paths):
        nb = nbformat.read(p, as_version=4)
        write(clean(nb), p)


def refresh(paths) -> None:
    from nbclient import NotebookClient

    os.environ["DLPARTS_SCALE"] = "quick"
    os.environ.setdefault("TQDM_DISABLE", "1")
    for p in map(Path, paths):
        nb = nbformat.read(p, as_version=4)
        client = NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(p.parent)}}
        )
        client.execute()
        write(clean(nb), p)
        print(f"refreshed {p}")


def new(path, title) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(colab_cell(), metadata={"tags": ["remove-cell"]}),
        nbformat.v4.new_markdown_cell(f"# {title}\n"),
        nbformat.v4.new_code_cell(
            "import numpy as np\nimport torch\n\nfrom dlparts import runtime\n"
            "from dlparts.plot import use_book_style\n\n"
            "use_book_style()\nruntime.seed_everything(0)\nprint(runtime.describe())"
        ),
    ]
    write(clean(nb), Path(path))


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("strip", "refresh", "new"):
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    {"strip": strip, "refresh": refresh, "new": lambda a: new(a[0], a[1])}[cmd](args)
