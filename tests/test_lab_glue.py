"""dlparts.lab: the prose's glue roles shown in JupyterLab as {eval} of claims.paste_*, and back."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path

import pytest

from dlparts import claims, lab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "chapters").rglob("*.ipynb") if "_build" not in p.parts)


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    monkeypatch.setattr(claims, "_recorded", {})
    monkeypatch.setattr(claims, "_pasted", {})
    monkeypatch.setenv("DLPARTS_SCALE", "quick")
    monkeypatch.delenv(claims.STRICT_ENV, raising=False)


def _count(nb, needle):
    return sum(
        "".join(c["source"]).count(needle) for c in nb["cells"] if c["cell_type"] == "markdown"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT / "chapters")))
def test_every_notebook_round_trips_exactly_and_shows_no_glue_in_lab(path):
    nb = json.loads(path.read_text())
    shown = lab.notebook_to_lab(copy.deepcopy(nb))
    roles = _count(nb, "{glue:text}") + _count(nb, "{glue:md}")
    assert _count(shown, "{glue:") == 0
    assert _count(shown, "{eval}`claims.paste_") == roles
    assert _count(nb, "{eval}") == 0, "an {eval} in the file would be read back as glue"
    assert lab.notebook_from_lab(shown) == nb
    if roles:  # every notebook that pastes binds `claims`, the name the expressions use
        code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
        assert "from dlparts import" in code and "claims" in code


def test_the_lab_form_of_each_role():
    text = "a {glue:text}`relu.speedup:.1f` b {glue:md}`relu.reading` c {glue:text}`x.y z`"
    shown = lab.glue_to_eval(text)
    assert shown == (
        'a {eval}`claims.paste_text("relu.speedup", ".1f")` b {eval}`claims.paste_md('
        '"relu.reading")` c {eval}`claims.paste_text("x.y z")`'
    )
    assert lab.eval_to_glue(shown) == text
    # a key with a colon inside splits where myst-nb splits it: at the last colon
    assert lab.eval_to_glue(lab.glue_to_eval("{glue:text}`a:b:.2f`")) == "{glue:text}`a:b:.2f`"
    with pytest.raises(ValueError, match="another notebook"):
        lab.glue_to_eval("{glue:text}`other.ipynb::key`")


def test_a_save_from_lab_drops_the_kernels_results_and_keeps_glue():
    nb = {
        "cells": [
            {
                "cell_type": "markdown",
                "metadata": {"user_expressions": [{"expression": "x"}], "tags": ["t"]},
                "source": 'value {eval}`claims.paste_text("k.v", ".2f")`',
            }
        ]
    }
    out = lab.notebook_from_lab(nb)["cells"][0]
    assert out["source"] == "value {glue:text}`k.v:.2f`"
    assert out["metadata"] == {"tags": ["t"]}


def test_paste_text_formats_as_myst_nb_does():
    from myst_nb.core.variables import format_plain_text

    claims.check(
        "labtest.paste",
        "A claim whose values the prose pastes.",
        True,
        measured={"ratio": 0.12345, "count": 34944, "none": None},
    )
    for key, fmt in [
        ("labtest.paste", ""),
        ("labtest.paste.ratio", ".1%"),
        ("labtest.paste.ratio", ".3f"),
        ("labtest.paste.count", ",d"),
        ("labtest.paste.count", ""),
        ("labtest.paste.none", ""),
    ]:
        value = claims._pasted[key]
        expected = format_plain_text(claims._plain_text(value), fmt or "s")
        assert repr(claims.paste_text(key, fmt)) == expected, (key, fmt)
    assert repr(claims.paste_text("labtest.paste")) == "holds"
    assert repr(claims.paste_text("labtest.paste.count", ",d")) == "34,944"
    with pytest.raises(KeyError, match="run the code cell that measures it"):
        claims.paste_text("labtest.paste.missing")


def test_paste_md_returns_the_markdown_say_glued():
    claims.say("labtest.reading", "**higher** than the baseline")
    shown = claims.paste_md("labtest.reading")
    assert shown._repr_markdown_() == "**higher** than the baseline"
    assert claims.paste_text("labtest.reading") is shown


def test_the_contents_manager_shows_eval_and_writes_glue(tmp_path):
    pytest.importorskip("jupyter_server")
    source = "Speed-up {glue:text}`relu.speedup:.1f`, read: {glue:md}`relu.reading`."
    nb = {
        "cells": [{"cell_type": "markdown", "id": "a1", "metadata": {}, "source": source}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "n.ipynb").write_text(json.dumps(nb))
    manager = lab.GlueContentsManager(root_dir=str(tmp_path))

    async def round_trip():
        model = await manager.get("n.ipynb")
        shown = model["content"]["cells"][0]["source"]
        assert "{glue" not in shown and 'claims.paste_text("relu.speedup", ".1f")' in shown
        model["content"]["cells"][0]["metadata"]["user_expressions"] = [{"expression": "x"}]
        await manager.save({"type": "notebook", "content": model["content"]}, "n.ipynb")

    asyncio.run(round_trip())
    saved = json.loads((tmp_path / "n.ipynb").read_text())["cells"][0]
    assert "".join(saved["source"]) == source
    assert "user_expressions" not in saved["metadata"]
