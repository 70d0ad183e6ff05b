import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book_cache  # noqa: E402


def make_root(tmp_path: Path) -> Path:
    root = tmp_path / "book"
    (root / "lib" / "dlparts").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "lib" / "dlparts" / "a.py").write_text("x = 1\n")
    (root / "data" / "d.csv").write_text("1,2\n")
    for f in ("constraints.txt", "pyproject.toml"):
        shutil.copy(ROOT / f, root / f)
    return root


def test_cache_key_changes_with_library_data_and_scale(tmp_path):
    root = make_root(tmp_path)
    key = book_cache.cache_key("default", root)
    assert book_cache.cache_key("default", root) == key
    assert book_cache.cache_key("quick", root) != key
    (root / "lib" / "dlparts" / "a.py").write_text("x = 2\n")
    key2 = book_cache.cache_key("default", root)
    assert key2 != key
    (root / "data" / "d.csv").write_text("1,3\n")
    assert book_cache.cache_key("default", root) != key2


def test_stale_cache_is_cleared(tmp_path):
    root = make_root(tmp_path)
    cache = root / "_build" / ".jupyter_cache"
    assert book_cache.refresh(cache, "default", root)  # first build: writes the key
    cache.mkdir(parents=True)
    (cache / "executed.db").write_text("stale")
    assert not book_cache.refresh(cache, "default", root)  # nothing changed: kept
    assert (cache / "executed.db").exists()
    (root / "lib" / "dlparts" / "a.py").write_text("x = 3\n")
    assert book_cache.refresh(cache, "default", root)  # the library changed: cleared
    assert not cache.exists()


def test_a_test_build_gets_its_own_cache_and_finds_the_extensions(tmp_path):
    import yaml

    import build_book

    path = build_book._config_for(tmp_path / "_build", tmp_path / "_build" / ".jupyter_cache")
    config = yaml.safe_load(path.read_text())
    assert config["execute"]["cache"] == str(tmp_path / "_build" / ".jupyter_cache")
    exts = config["sphinx"]["local_extensions"]
    assert set(exts) >= {"sphinx_offline", "claims_ledger"}
    for name, folder in exts.items():
        assert (Path(folder) / f"{name}.py").is_file(), (name, folder)
    # everything else is the book's own configuration
    book = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["title"] == book["title"] and config["parse"] == book["parse"]


def test_version_and_repository_are_written_once():
    import yaml

    import dlparts
    import nbtool

    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert str(cff["version"]) == dlparts.__version__
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert cff["repository-code"] == url
    assert f"git clone -q --depth 1 {url} " in nbtool.colab_cell()


def test_every_notebook_opens_with_the_colab_cell_for_the_configured_repository():
    import nbformat

    import nbtool

    cell = nbtool.colab_cell()
    for path in sorted((ROOT / "chapters").rglob("*.ipynb")):
        first = nbformat.read(path, as_version=4).cells[0]
        assert first.source == cell, f"{path}: run tools/nbtool.py to regenerate its first cell"
        assert "remove-cell" in first.metadata.get("tags", [])


def _nb(cells):
    """Code cells from (source, outputs); a source starting with "checked:" gets nbval's tag."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    for src, out in cells:
        tags = ["nbval-check-output"] if src.startswith("checked:") else []
        src = src.removeprefix("checked:")
        nb.cells.append(nbformat.v4.new_code_cell(src, outputs=out, metadata={"tags": tags}))
    return nb


def test_strip_turns_the_legacy_comment_into_the_tag_and_keeps_book_metadata():
    import nbformat

    import nbtool

    nb = nbformat.v4.new_notebook()
    fig = {"figure": {"caption": "What to see", "name": "fig-x"}, "image": {"alt": "a curve"}}
    nb.cells = [
        nbformat.v4.new_code_cell(
            "# NBVAL_CHECK_OUTPUT\nprint(1)",
            outputs=[_stream("1\n")],
            execution_count=7,
            metadata={"collapsed": True},
        ),
        nbformat.v4.new_code_cell(
            "plot()", outputs=[_stream("x")], metadata={"mystnb": fig, "scrolled": True}
        ),
    ]
    nbtool.clean(nb)
    checked, plot = nb.cells
    assert checked.source == "print(1)" and checked.metadata["tags"] == ["nbval-check-output"]
    assert nbtool.is_checked(checked) and checked.outputs and checked.execution_count == 1
    assert not nbtool.is_checked(plot) and plot.outputs == []
    assert plot.metadata == {"mystnb": fig}


def _stream(text):
    import nbformat

    return nbformat.v4.new_output("stream", name="stdout", text=text)


def test_checked_outputs_are_compared_as_nbval_compares_them():
    import execute_notebooks as ex

    checked = "checked:print(table)"
    stored = _nb([(checked, [_stream("a  1\nb  2\n")]), ("print(t)", [_stream("12.3 s\n")])])
    # the same text in other chunks, trailing spaces, and an unchecked cell that changed: equal
    same = _nb(
        [(checked, [_stream("a  1  \n"), _stream("b  2\n")]), ("print(t)", [_stream("9 s")])]
    )
    assert ex.compare_checked(stored, same, subs=[]) == []
    changed = _nb([(checked, [_stream("a  1\nb  3\n")]), ("print(t)", [])])
    problems = ex.compare_checked(stored, changed, subs=[])
    assert len(problems) == 1 and "b  3" in problems[0] and "checked code cell 1" in problems[0]


def test_sanitize_file_masks_volatile_output():
    import execute_notebooks as ex

    subs = ex.sanitizers()
    assert subs, "tools/nbval_sanitize.cfg has no patterns"
    stored = _nb([("checked:f()", [_stream("took 1.20 s at 0x7f3a2b1c9d40\n")])])
    fresh = _nb([("checked:f()", [_stream("took 3.5 s at 0x7f00aa11bb22\n")])])
    assert ex.compare_checked(stored, fresh, subs) == []


def test_the_build_runs_every_notebook_in_the_toc():
    import execute_notebooks as ex

    listed = {p.relative_to(ROOT).as_posix() for p in ex.toc_notebooks()}
    on_disk = {p.relative_to(ROOT).as_posix() for p in (ROOT / "chapters").rglob("*.ipynb")}
    assert listed == on_disk


def test_build_facts_name_the_scale_and_versions(monkeypatch):
    import claims_ledger

    monkeypatch.setenv("DLPARTS_SCALE", "quick")
    facts = dict(claims_ledger.build_facts())
    assert facts["scale"] == "quick"
    assert {"PyTorch", "NumPy", "Python", "device", "built"} <= set(facts)


def test_the_gate_fails_a_notebook_whose_claims_were_lost():
    import claims_ledger

    claim = {"key": "a.b.c", "notebook": "ch/one", "required": True, "holds": True}
    assert claims_ledger.gate([claim], ["ch/one"]) == []
    problems = claims_ledger.gate([claim], ["ch/one", "ch/two"])
    assert len(problems) == 1 and "ch/two" in problems[0]


def test_the_setup_installs_jupyterlab_with_myst_rendering():
    import subprocess

    jupyter = Path(sys.executable).parent / "jupyter"
    listing = subprocess.run(
        [str(jupyter), "labextension", "list"], capture_output=True, text=True, timeout=120
    )
    text = listing.stdout + listing.stderr
    line = next((ln for ln in text.splitlines() if "jupyterlab-myst" in ln), "")
    assert "enabled" in line and "OK" in line, f"jupyterlab-myst missing or incompatible:\n{text}"


def test_nbval_reports_a_broken_checked_cell_as_a_reader_sees_it(tmp_path):
    """`make notebooks` runs nbval with the book's settings: a tagged cell whose output changed
    fails and shows both outputs; a volatile timing in an untagged cell does not."""
    import subprocess

    import nbformat

    import nbtool

    nb = _nb(
        [
            ("checked:print(2 + 2)", [_stream("5\n")]),  # the stored fact is wrong
            ("import time; print(time.time())", [_stream("0\n")]),  # not checked
        ]
    )
    nb.metadata["kernelspec"] = nbtool.KERNELSPEC
    for i, cell in enumerate(nb.cells, 1):
        cell.execution_count = i
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "--nbval-current-env", "--nbval-sanitize-with", str(ROOT / "tools/nbval_sanitize.cfg"),
         str(path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "1 failed, 1 passed" in out, out
    assert "print(2 + 2)" in out and "5" in out and "4" in out, out


def test_the_browser_check_skips_the_root_redirect_page_whatever_its_case(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    import check_book

    (tmp_path / "index.html").write_text(
        '<meta http-equiv="Refresh" content="0; url=intro.html" />'
    )
    (tmp_path / "intro.html").write_text("<html><body>intro</body></html>")
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "index.html").write_text("<html>a chapter's index</html>")
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "x.html").write_text("<html></html>")
    found = [str(p) for p in check_book.pages(tmp_path)]
    assert found == ["chapters/index.html", "intro.html"]
