"""The notebooks are stored the way the book expects, and the table of contents lists them all."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "chapters").rglob("*.ipynb"))
NOTEBOOKS = [
    p for p in NOTEBOOKS if ".ipynb_checkpoints" not in p.parts and "_build" not in p.parts
]
sys.path.insert(0, str(ROOT / "tools"))
from nbtool import LEGACY_CHECK, is_checked  # noqa: E402


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found = [toc["root"]]

    def walk(entries):
        for e in entries or []:
            if "file" in e:
                found.append(e["file"])
            walk(e.get("sections"))
            walk(e.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return found


def rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found under chapters/"


def test_toc_lists_every_notebook_and_every_entry_exists():
    listed = toc_files()
    for entry in listed:
        assert any((ROOT / (entry + ext)).is_file() for ext in (".md", ".ipynb")), (
            f"_toc.yml lists {entry!r}, which does not exist"
        )
    for nb in NOTEBOOKS:
        assert rel(nb).removesuffix(".ipynb") in listed, f"{rel(nb)} is missing from _toc.yml"
    for md in (ROOT / "chapters").rglob("*.md"):
        if "_build" not in md.parts:
            assert rel(md).removesuffix(".md") in listed, f"{rel(md)} is missing from _toc.yml"
    assert len(listed) == len(set(listed)), "a page is listed twice in _toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=rel)
def test_notebook_is_stored_clean(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "code" and "google.colab" in first.source, (
        f"{rel(path)}: the first cell must install dlparts on Colab (tools/nbtool.py new)"
    )
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        where = f"{rel(path)} cell {i}"
        assert LEGACY_CHECK not in cell.source, (
            f"{where}: mark a checked cell with the nbval-check-output tag, not a comment "
            "readers see; tools/nbtool.py strip converts it"
        )
        if is_checked(cell):
            assert cell.outputs, (
                f"{where}: a checked cell needs its output; run tools/nbtool.py refresh"
            )
            assert cell.metadata.get("keep_output"), f"{where}: checked cell lacks keep_output"
            assert cell.execution_count is not None, (
                f"{where}: nbval rejects a checked cell stored unrun; run tools/nbtool.py refresh"
            )
        else:
            assert cell.execution_count is None, (
                f"{where}: execution count stored; run tools/nbtool.py strip"
            )
            assert not cell.outputs, f"{where}: outputs stored; run tools/nbtool.py strip"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=rel)
def test_notebook_reads_its_scale_only_through_dlparts(path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "DLPARTS_SCALE" not in code and not re.search(r"os\.environ", code), (
        f"{rel(path)}: read the scale with dlparts.runtime.scale() / by_scale()"
    )
    assert "seed_everything" in code, f"{rel(path)}: seed with dlparts.runtime.seed_everything"


def test_every_chapter_has_an_index():
    for chapter in sorted((ROOT / "chapters").iterdir()):
        if chapter.is_dir() and not chapter.name.startswith(("_", ".")):
            assert (chapter / "index.md").is_file(), f"{rel(chapter)} has no index.md"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=rel)
def test_notebook_records_its_findings_as_claims(path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert re.search(r"\bclaims\.check\(", code), (
        f"{rel(path)}: record the notebook's findings with dlparts.claims.check(...) beside the "
        "evidence, so the prose can read their verdicts and the build can check them"
    )
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for phrase in ("whatever that is", "depends on the run", "printed above"):
        assert phrase not in prose.lower(), (
            f"{rel(path)}: the prose says {phrase!r}; read the computed result (a claim's "
            "glued verdict or value) instead"
        )


FIGURE_CELL_EXTRAS = re.compile(r"\b(claims\.check|claims\.say|glue|show_table|display)\(")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=rel)
def test_a_figure_cell_shows_only_its_figure(path):
    """myst-nb wraps every displayed output of a cell that has figure metadata in the figure (its
    number, caption and name): a claim, a table or a glued value displayed by the same cell would
    become a second figure with the same name. Put those in the next cell."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        figure = cell.metadata.get("mystnb", {}).get("figure")
        if cell.cell_type != "code" or not figure:
            continue
        where = f"{rel(path)} cell {i} ({figure.get('name')})"
        assert figure.get("name", "").startswith("fig-") and figure.get("caption"), (
            f"{where}: a figure needs a name starting with fig- and a caption"
        )
        assert cell.metadata["mystnb"].get("image", {}).get("alt"), f"{where}: no alt text"
        found = FIGURE_CELL_EXTRAS.search(cell.source)
        assert not found, f"{where}: {found.group(1)}(...) displays a second output; move it out"


def test_figure_names_are_unique_in_the_book():
    seen = {}
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            name = cell.metadata.get("mystnb", {}).get("figure", {}).get("name")
            if name:
                assert name not in seen, f"{name} is used in {seen.get(name)} and {rel(path)}"
                seen[name] = rel(path)
    assert len(seen) > 50, f"only {len(seen)} named figures in the book"
