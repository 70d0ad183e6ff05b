"""dlparts.claims: verdicts, the noise rule, the ledger and the gate that fails a build."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from dlparts import claims

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_book  # noqa: E402
import claims_ledger  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    monkeypatch.setattr(claims, "_recorded", {})
    monkeypatch.setenv("DLPARTS_SCALE", "quick")
    monkeypatch.delenv(claims.STRICT_ENV, raising=False)


def test_a_claim_that_holds_is_recorded_with_every_ledger_field(capsys):
    rec = claims.check(
        "test.holds",
        "Two is more than one.",
        2 > 1,
        measured={"two": 2, "one": np.float64(1.0)},
        paper="two > one",
        seeds=3,
    )
    assert rec["holds"] is True and rec["required"] is True
    assert rec["scale"] == "quick" and rec["seeds"] == 3
    assert rec["measured"] == {"two": 2, "one": 1.0}
    assert isinstance(rec["measured"]["one"], float)
    assert claims.verdict_word(rec) == "holds"
    assert "HOLDS" in capsys.readouterr().out  # outside IPython the verdict is printed
    assert claims.recorded() == [rec]


def test_a_claim_that_does_not_hold_says_so_and_raises_only_when_strict(monkeypatch):
    rec = claims.check("test.fails", "One is more than two.", 1 > 2, measured={"one": 1})
    assert rec["holds"] is False
    assert claims.verdict_word(rec) == "does not hold"
    assert "'test.fails'" in claims.failure_message(rec) and "one = 1" in claims.failure_message(
        rec
    )
    monkeypatch.setenv(claims.STRICT_ENV, "1")
    with pytest.raises(claims.ClaimFailed, match="test.strict"):
        claims.check("test.strict", "One is more than two.", False, measured={"one": 1})
    # a paper result that is not required never raises, and reads "not reproduced"
    rec = claims.check("test.paper", "6x", False, measured={"ratio": 1.2}, required=False)
    assert claims.verdict_word(rec) == "not reproduced"


def test_non_finite_measurements_are_recorded_as_never():
    rec = claims.check("test.never", "It never got there.", True, measured={"steps": float("inf")})
    assert rec["measured"] == {"steps": None}
    json.dumps(rec, allow_nan=False)  # the ledger stays valid JSON


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"holds": 1}, "holds must be True or False"),
        ({"holds": "yes"}, "holds must be True or False"),
        ({"holds": np.array([True, False])}, "holds must be True or False"),
        ({"measured": None}, "measured must be a non-empty dict"),
        ({"measured": {}}, "measured must be a non-empty dict"),
        ({"measured": {"x": "big"}}, r"measured\['x'\] must be a number"),
        ({"measured": {"a:b": 1.0}}, "measured names"),
        ({"seeds": 0}, "seeds must be a positive int"),
        ({"seeds": 2.5}, "seeds must be a positive int"),
        ({"paper": 6}, "paper must be a string"),
        ({"required": "no"}, "required must be True or False"),
        ({"key": "Bad Key"}, "claim key must be"),
        ({"key": ""}, "claim key must be"),
        ({"statement": "  "}, "statement must be a non-empty"),
    ],
)
def test_bad_input_is_a_clear_value_error(kwargs, match):
    args = {"key": "test.bad", "statement": "S.", "holds": True, "measured": {"x": 1.0}}
    args.update(kwargs)
    key, statement, holds = args.pop("key"), args.pop("statement"), args.pop("holds")
    with pytest.raises(ValueError, match=match):
        claims.check(key, statement, holds, **args)


def test_measured_is_a_required_keyword():
    with pytest.raises(TypeError):
        claims.check("test.nomeasured", "S.", True)  # type: ignore[call-arg]


def test_a_key_used_for_another_claim_is_rejected_but_a_rerun_cell_is_not():
    claims.check("test.dup", "First.", True, measured={"x": 1})
    claims.check("test.dup", "First.", False, measured={"x": 2})  # the same cell run again
    assert [r["holds"] for r in claims.recorded()] == [False]
    with pytest.raises(ValueError, match="already used"):
        claims.check("test.dup", "Second.", True, measured={"x": 1})


def test_summarize_gives_mean_and_sample_sd():
    s = claims.summarize([1.0, 2.0, 3.0])
    assert s.mean == pytest.approx(2.0) and s.sd == pytest.approx(1.0) and s.n == 3
    assert s.se == pytest.approx(1 / np.sqrt(3))
    assert s.format(".1f") == "2.0 ± 1.0"
    assert claims.summarize([0.5]).format(".2f") == "0.50"
    with pytest.raises(ValueError, match="at least one value"):
        claims.summarize([])
    with pytest.raises(ValueError, match="finite"):
        claims.summarize([1.0, float("nan")])


def test_the_noise_rule():
    rng = np.random.default_rng(0)
    base = 0.80 + 0.01 * rng.standard_normal(5)
    clear = claims.compare(base, base + 0.05)
    assert clear.effect and clear.higher and clear.reading == "higher"
    assert claims.compare(base + 0.05, base).lower
    # a difference smaller than its noise has no direction
    noisy = claims.compare([0.80, 0.85, 0.75], [0.81, 0.86, 0.74])
    assert not noisy.effect and noisy.direction == 0
    assert noisy.reading == "within noise at this scale"
    # too few seeds: never an effect, however large the difference
    few = claims.compare([0.1, 0.1], [0.9, 0.9])
    assert not few.enough_seeds and not few.effect
    # exactly two standard errors is not more than two
    edge = claims.compare([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    assert edge.se == 0 and edge.effect  # no noise at all: any difference counts
    # pairing removes the seed-to-seed variation that both sides share
    a = np.array([0.70, 0.80, 0.90, 0.75])
    b = a + np.array([0.011, 0.009, 0.010, 0.010])
    assert not claims.compare(a, b).effect
    assert claims.compare(a, b, paired=True).higher
    with pytest.raises(ValueError, match="paired"):
        claims.compare([1, 2, 3], [1, 2], paired=True)
    assert "within noise" in noisy.format()


def test_gate_names_failed_required_claims_and_duplicate_keys():
    ok = {"key": "a", "notebook": "p", "statement": "S", "measured": {"x": 1}, "scale": "quick",
          "holds": True, "required": True}  # fmt: skip
    paper = {**ok, "key": "b", "holds": False, "required": False}
    bad = {**ok, "key": "c", "holds": False, "measured": {"err": 0.75}}
    assert claims_ledger.gate([ok, paper]) == []
    problems = claims_ledger.gate([ok, paper, bad, {**ok, "notebook": "q"}])
    assert any("'c'" in p and "err = 0.75" in p for p in problems)
    assert any("'a'" in p and "2 times" in p for p in problems)
    assert claims_ledger.summary([ok, paper, bad]) == (
        "3 claims: 1 hold, 1 not reproduced here (paper results, not required), 1 required failing"
    )


NOTEBOOK_CODE = textwrap.dedent(
    """
    from dlparts import claims
    claims.check("demo.holds", "Two is more than one.", 2 > 1, measured={"two": 2}, seeds=3)
    claims.check("demo.paper", "A paper's 6x.", False, measured={"ratio": 1.5}, paper="6x",
                 required=False)
    claims.check("demo.gate", "One is more than two.", HOLDS, measured={"one": 1})
    """
)


def _book(tmp_path: Path, holds: bool) -> Path:
    """A one-notebook Sphinx project whose notebook was executed here (as myst-nb would)."""
    src = tmp_path / "src"
    src.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Demo\n\nThe claim {glue:text}`demo.holds`."),
        nbformat.v4.new_code_cell(NOTEBOOK_CODE.replace("HOLDS", str(holds))),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    # a cell ending with check(...) shows the verdict block, not the returned record
    assert not [o for o in nb.cells[1].outputs if o.output_type == "execute_result"]
    nbformat.write(nb, src / "demo.ipynb")
    (src / "claims.md").write_text("# Claims and evidence\n\n```{claims-ledger}\n```\n")
    (src / "index.md").write_text("# Book\n\n```{toctree}\ndemo\nclaims\n```\n")
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'tools')!r})\n"
        "extensions = ['myst_nb', 'claims_ledger']\nnb_execution_mode = 'off'\n"
        "suppress_warnings = ['mystnb.unknown_mime_type']\n"
    )
    return src


@pytest.mark.parametrize("holds", [True, False])
def test_a_build_writes_the_ledger_and_the_gate_fails_it_on_a_required_claim(tmp_path, holds):
    src = _book(tmp_path, holds)
    out = tmp_path / "html"
    run = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-q", str(src), str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "DLPARTS_SCALE": "quick"},
    )
    assert run.returncode == 0, run.stderr
    ledger = json.loads((out / "claims.json").read_text())
    assert [c["key"] for c in ledger] == ["demo.holds", "demo.paper", "demo.gate"]
    for c in ledger:
        assert set(claims_ledger.FIELDS) <= set(c)
        assert c["notebook"] == "demo" and c["scale"] == "quick"
    assert isinstance(ledger[0]["measured"], dict) and ledger[0]["seeds"] == 3
    assert ledger[1]["paper"] == "6x" and ledger[1]["required"] is False
    assert ledger[2]["holds"] is holds
    page = (out / "demo.html").read_text()
    assert "id='claim-demo.holds'" in page or 'id="claim-demo.holds"' in page
    text = " ".join(re.sub(r"<[^>]+>", "", page).split())
    assert "The claim holds." in text  # the glued verdict, pasted into the prose
    table = (out / "claims.html").read_text()
    assert 'href="demo.html#claim-demo.holds"' in table
    assert "not reproduced" in table
    assert build_book.check_ledger(out) == (0 if holds else 1)
    if not holds:
        assert "demo.gate" in run.stderr  # named in the build log too


def test_the_text_form_of_a_long_claim_wraps_within_the_width(capsys):
    long = "A statement that goes on " + "and on " * 30 + "until it ends."
    measured = {f"quantity {i}": i / 7 for i in range(12)}
    claims.check("test.wrap", long, True, measured=measured, paper="a paper " * 20)
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= claims.TEXT_WIDTH
    words = " ".join(out.split())
    assert "until it ends." in words and "quantity 11 = " in words and "HOLDS" in words
