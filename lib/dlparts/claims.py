"""Claims: every sentence that reads a result is checked where the result is computed.

A notebook that states a finding calls :func:`check` beside the evidence::

    claims.check(
        "resnet.degradation",
        "The deeper plain network fits its training set worse than the shallower one.",
        plain_err[-1] > plain_err[0],
        measured={"plain-8 train err": plain_err[0], "plain-20 train err": plain_err[-1]},
        paper="plain-56 above plain-20 (Fig. 6)",
        seeds=3,
    )

The call shows the verdict in the page (what was claimed, the measured values, the scale and
whether it held), makes the verdict word and each measured number available to the Markdown
prose through myst-nb's glue (``{glue:text}`resnet.degradation``` reads "holds" or "does not
hold"; ``{glue:text}`resnet.degradation.plain-20 train err:.1%``` the number), and leaves a
machine-readable record in the cell's output. The book build collects those records into its
ledger (``claims.json``, rendered as the "Claims and evidence" page) and fails when a claim
with ``required=True`` does not hold, so a page never says what its own numbers do not show.
A paper result the book measures but does not reproduce here is recorded with
``required=False``, and the prose reads its verdict.

Small effects are compared over seeds with :func:`summarize` and :func:`compare`: a difference
counts as an effect only when it exceeds its noise (more than ``z = 2`` standard errors, over at
least three seeds each); otherwise :attr:`Comparison.reading` says "within noise at this scale"
and the prose claims no direction.
"""

from __future__ import annotations

import html
import math
import os
import re
import textwrap
from dataclasses import dataclass

import numpy as np

from . import runtime

MIME = "application/vnd.dlparts.claim+json"
"""The output MIME type that carries a claim's record to the book's ledger."""

STRICT_ENV = "DLPARTS_CLAIMS_STRICT"
"""Set to ``1`` (``make notebooks`` does) to make a required claim that fails raise at once."""

MIN_SEEDS = 3
TEXT_WIDTH = 100  # the plain-text form of a claim (what nbval and a terminal see) wraps here
NOISE_Z = 2.0
_KEY = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
_NAME = re.compile(r"^[^:`\n]+$")

_recorded: dict[str, dict] = {}
_pasted: dict[str, object] = {}  # every glued value of this session, for paste_text / paste_md


class Record(dict):
    """A claim's record, as the ledger stores it. A notebook shows the verdict block that
    :func:`check` displays, not the record, when a cell ends with the call."""

    def _ipython_display_(self):
        pass


class ClaimFailed(AssertionError):
    """A required claim did not hold (raised only when ``DLPARTS_CLAIMS_STRICT=1``)."""


@dataclass(frozen=True)
class Stat:
    """Mean and spread of one quantity measured over ``n`` seeds."""

    mean: float
    sd: float
    n: int

    @property
    def se(self) -> float:
        """Standard error of the mean (``sd / sqrt(n)``; 0 for a single value)."""
        return self.sd / math.sqrt(self.n) if self.n > 1 else 0.0

    def format(self, spec: str = ".3f") -> str:
        """``"0.873 ± 0.012"`` (mean ± sd), or the mean alone for one seed."""
        if self.n < 2:
            return format(self.mean, spec)
        return f"{format(self.mean, spec)} ± {format(self.sd, spec)}"

    def __str__(self) -> str:
        return self.format()


@dataclass(frozen=True)
class Comparison:
    """The difference ``b − a`` between two quantities measured over seeds.

    ``effect`` is True only when both have at least ``min_seeds`` values and
    ``|diff| > z · se``; ``direction`` is then +1 (b higher) or −1 (b lower), else 0.
    """

    a: Stat
    b: Stat
    diff: float
    se: float
    z: float
    min_seeds: int
    paired: bool

    @property
    def enough_seeds(self) -> bool:
        return min(self.a.n, self.b.n) >= self.min_seeds

    @property
    def effect(self) -> bool:
        return self.enough_seeds and abs(self.diff) > self.z * self.se

    @property
    def direction(self) -> int:
        if not self.effect:
            return 0
        return 1 if self.diff > 0 else -1

    @property
    def higher(self) -> bool:
        """b is higher than a, beyond the noise."""
        return self.direction > 0

    @property
    def lower(self) -> bool:
        """b is lower than a, beyond the noise."""
        return self.direction < 0

    @property
    def reading(self) -> str:
        """``"higher"``, ``"lower"`` or ``"within noise at this scale"`` (for b against a)."""
        if self.direction > 0:
            return "higher"
        if self.direction < 0:
            return "lower"
        return "within noise at this scale"

    def format(self, spec: str = "+.3f") -> str:
        """``"+0.021 ± 0.006 (higher)"``: the difference, its standard error and the reading."""
        plain = spec.lstrip("+")
        return f"{format(self.diff, spec)} ± {format(self.se, plain)} ({self.reading})"

    def __str__(self) -> str:
        return self.format()


def summarize(values) -> Stat:
    """Mean and sample standard deviation (``ddof=1``) of values measured over seeds.

    Raises:
        ValueError: for an empty sequence or a non-finite value.
    """
    arr = _finite_array(values, "summarize(values)")
    sd = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return Stat(mean=float(arr.mean()), sd=sd, n=int(arr.size))


def compare(a, b, *, paired: bool = False, z: float = NOISE_Z, min_seeds: int = MIN_SEEDS):
    """Compare ``b`` against ``a``, each a sequence of values over seeds.

    With ``paired=True`` the two were measured on the same seeds (run *i* of ``a`` and run *i*
    of ``b`` share data order and initialisation), and the noise is that of the per-seed
    differences; otherwise the two standard errors add in quadrature.

    Returns:
        A :class:`Comparison`; its ``reading`` is the sentence the prose may use.

    Raises:
        ValueError: for empty or non-finite values, or paired sequences of unequal length.
    """
    xa = _finite_array(a, "compare(a, ...)")
    xb = _finite_array(b, "compare(..., b)")
    if z <= 0 or min_seeds < 1:
        raise ValueError(f"z must be positive and min_seeds at least 1, got z={z}, {min_seeds=}")
    sa, sb = summarize(xa), summarize(xb)
    if paired:
        if xa.size != xb.size:
            raise ValueError(
                f"paired comparison needs one value per seed on both sides; got {xa.size} and "
                f"{xb.size} values: pass paired=False for independent runs"
            )
        d = summarize(xb - xa)
        diff, se = d.mean, d.se
    else:
        diff, se = sb.mean - sa.mean, math.hypot(sa.se, sb.se)
    return Comparison(sa, sb, diff, se, z, min_seeds, paired)


def check(
    key: str,
    statement: str,
    holds,
    *,
    measured: dict,
    paper: str | None = None,
    source: str | None = None,
    seeds: int | None = None,
    required: bool = True,
) -> Record:
    """Record a claim beside its evidence, show its verdict, and glue it for the prose.

    Args:
        key: unique in the book: lower-case letters, digits, ``_``, ``-`` and ``.``
            (e.g. ``"resnet.degradation"``).
        statement: the finding in one sentence, as the prose states it.
        holds: whether the measurement supports it (a ``bool``; NumPy booleans are accepted).
        measured: the numbers the verdict rests on, by name (at least one); ``None`` or a
            non-finite value for "never reached".
        paper: what the paper reports, in words, where it reports the same quantity.
        source: where the claim comes from (a citation key or a short reference).
        seeds: how many seeds each measured value is over (``None`` for a computation).
        required: ``True`` fails the book build when the claim does not hold; ``False`` for a
            paper result the book measures but does not reproduce at this scale.

    Returns:
        The record that goes to the ledger (also kept in :func:`recorded`).

    Raises:
        ValueError: for a malformed key, a key already recorded with another statement,
            a non-boolean ``holds``, a missing or empty ``measured``, or bad ``seeds``.
        ClaimFailed: when ``DLPARTS_CLAIMS_STRICT=1`` and a required claim does not hold.
    """
    record = _record(key, statement, holds, measured, paper, source, seeds, required)
    previous = _recorded.get(key)
    if previous is not None and previous["statement"] != record["statement"]:
        raise ValueError(
            f"claim key {key!r} is already used for {previous['statement']!r}: keys are unique "
            "in the book, so give this claim its own key"
        )
    _recorded[key] = record  # the same claim again is a re-run cell: it replaces the first
    _show(record)
    _glue(record)
    if not record["holds"] and record["required"] and os.environ.get(STRICT_ENV) == "1":
        raise ClaimFailed(failure_message(record))
    return record


def say(name: str, text: str) -> None:
    """Glue a sentence of Markdown for the prose: ``{glue:md}`name``` pastes it inline.

    Use it for a reading whose wording depends on the measurement (built from a claim's
    verdict or a :class:`Comparison`'s ``reading``), never for fixed text.
    """
    if not isinstance(name, str) or not _KEY.match(name):
        raise ValueError(f"name must look like a claim key (e.g. 'relu.reading'), got {name!r}")
    from IPython.display import Markdown

    _glue_value(name, Markdown(text))


def paste_text(name: str, fmt: str = ""):
    """What ``{glue:text}`name:fmt``` pastes into the book, for the live kernel of JupyterLab.

    ``make lab`` shows each ``{glue:text}`` role of the prose as
    ``{eval}`claims.paste_text("name", "fmt")``` (jupyterlab-myst evaluates ``{eval}`` in the
    kernel when the Markdown cell runs, and knows nothing of glue); the file keeps the glue
    role (``dlparts.lab``). The text is myst-nb's: the value's plain-text form, formatted by
    ``fmt`` as a number for a numeric format type (``.1%``, ``.3f``, ``d``), as text otherwise.

    Raises:
        KeyError: when nothing was glued under ``name`` yet in this kernel (run the code cell
            that measures it first).
    """
    value = _paste_value(name)
    if hasattr(value, "_repr_markdown_"):
        return value
    return _Pasted(_format_plain_text(_plain_text(value), fmt))


def paste_md(name: str):
    """What ``{glue:md}`name``` pastes (Markdown from :func:`say`), for JupyterLab: see
    :func:`paste_text`."""
    return _paste_value(name)


def recorded() -> list[dict]:
    """The claims recorded in this session, in order."""
    return list(_recorded.values())


def failure_message(record: dict) -> str:
    """One line naming a failed claim and its measured values, for the build log."""
    values = ", ".join(f"{k} = {format_value(v)}" for k, v in record["measured"].items())
    return (
        f"required claim {record['key']!r} does not hold at scale {record['scale']}: "
        f"{record['statement']} (measured: {values})"
    )


def verdict_word(record: dict) -> str:
    """``"holds"``, ``"does not hold"`` or, for a claim not required, ``"not reproduced"``."""
    if record["holds"]:
        return "holds"
    return "does not hold" if record["required"] else "not reproduced"


# ---------------------------------------------------------------------------------------------
# validation and display


def format_value(value) -> str:
    """A measured number as the verdict block and the ledger page print it."""
    if value is None:
        return "never / n.a."
    if isinstance(value, int):
        return f"{value:,}"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.4g}"


_LABEL = {"holds": "Holds", "does not hold": "Does not hold", "not reproduced": "Not reproduced"}


def _text(record) -> str:
    seeds = f", {record['seeds']} seeds" if record["seeds"] else ""
    head = (
        f"[claim {record['key']}: {verdict_word(record).upper()}] "
        f"(scale {record['scale']}{seeds}{'' if record['required'] else ', not required'})"
    )
    measured = "; ".join(f"{k} = {format_value(v)}" for k, v in record["measured"].items())
    parts = [("", record["statement"]), ("measured: ", measured)]
    if record["paper"]:
        parts.append(("paper: ", record["paper"]))
    lines = textwrap.wrap(head, TEXT_WIDTH, subsequent_indent="    ")
    for label, text in parts:
        lines += textwrap.wrap(
            label + text, TEXT_WIDTH, initial_indent="  ", subsequent_indent="    "
        )
    return "\n".join(lines)


def _html(record) -> str:
    word = verdict_word(record)
    kind = {"holds": "holds", "does not hold": "fails", "not reproduced": "open"}[word]
    esc = html.escape
    rows = "".join(
        f"<tr><th scope='row'>{esc(k)}</th><td>{esc(format_value(v))}</td></tr>"
        for k, v in record["measured"].items()
    )
    meta = [f"scale <b>{esc(record['scale'])}</b>"]
    if record["seeds"]:
        meta.append(f"{record['seeds']} seeds")
    if not record["required"]:
        meta.append("not required: a paper result, recorded as measured")
    extra = ""
    if record["paper"]:
        extra += f"<p class='dlparts-claim-paper'><b>Paper:</b> {esc(record['paper'])}</p>"
    if record["source"]:
        extra += f"<p class='dlparts-claim-source'><b>Source:</b> {esc(record['source'])}</p>"
    return (
        f"<div class='dlparts-claim dlparts-claim-{kind}' id='claim-{esc(record['key'])}' "
        f"role='note' aria-label='claim {esc(record['key'])}: {esc(word)}'>"
        f"<div class='dlparts-claim-head'><span class='dlparts-claim-badge'>{_LABEL[word]}</span>"
        f"<code>{esc(record['key'])}</code><span class='dlparts-claim-meta'>"
        f"{' · '.join(meta)}</span></div>"
        f"<p class='dlparts-claim-statement'>{esc(record['statement'])}</p>"
        f"<table class='dlparts-claim-measured'><tbody>{rows}</tbody></table>{extra}</div>"
    )


def _show(record) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with the notebook stack
        get_ipython = None
    if get_ipython is None or get_ipython() is None:
        print(_text(record))
        return
    bundle = {"text/plain": _text(record), "text/html": _html(record), MIME: dict(record)}
    display(bundle, raw=True)


def _glue(record) -> None:
    _glue_value(record["key"], verdict_word(record))
    for name, value in record["measured"].items():
        _glue_value(f"{record['key']}.{name}", value if value is not None else "never")


def _glue_value(name, value) -> None:
    _pasted[name] = value
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return
    if get_ipython() is None:
        return  # plain Python: nothing to paste into
    try:
        from myst_nb import glue
    except ImportError:  # the book's extras are not installed: the verdict block still shows
        return
    glue(name, value, display=False)


# --------------------------------------------------------------------------- private helpers


class _Pasted(str):
    """Text whose plain-text display is itself (no quotes), as a pasted number reads."""

    def __repr__(self) -> str:
        return str(self)


def _paste_value(name):
    if not isinstance(name, str) or name not in _pasted:
        known = ", ".join(sorted(k for k in _pasted if k.split(".")[0] == str(name).split(".")[0]))
        raise KeyError(
            f"nothing was pasted under {name!r} in this kernel yet: run the code cell that "
            f"measures it (Run > Run All Cells runs them in order)"
            + (f"; known keys like it: {known[:300]}" if known else "")
        )
    return _pasted[name]


def _plain_text(value) -> str:
    """The value's text/plain form, as IPython displays it and myst-nb's glue stores it."""
    try:
        from IPython.lib.pretty import pretty
    except ImportError:  # pragma: no cover
        return repr(value)
    return pretty(value)


def _format_plain_text(text: str, fmt: str) -> str:
    """myst-nb's ``format_plain_text`` (its ``{glue:text}`` role): literal-evaluate the text (so
    a string loses its quotes), then format it by ``fmt``'s type character."""
    import ast

    try:
        value = ast.literal_eval(text)
    except (SyntaxError, ValueError):
        value = text
    if fmt == "":
        return str(value)
    kind = fmt[-1]
    if kind == "s":
        value = str(value)
    elif kind in "bcdoxX":
        value = int(value)
    elif kind in "eEfFgGn%":
        value = float(value)
    return format(value, fmt)


def _record(key, statement, holds, measured, paper, source, seeds, required) -> dict:
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValueError(
            f"claim key must be a non-empty string of lower-case letters, digits, '_', '-' and "
            f"'.', starting with a letter or digit (e.g. 'resnet.degradation'); got {key!r}"
        )
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError(f"claim {key!r}: statement must be a non-empty sentence")
    if isinstance(holds, np.ndarray) and holds.shape == ():
        holds = holds.item()
    if not isinstance(holds, (bool, np.bool_)):
        raise ValueError(
            f"claim {key!r}: holds must be True or False (a comparison's result), got "
            f"{type(holds).__name__} {holds!r}; write e.g. `holds=bool(a > b)`"
        )
    if measured is None or not isinstance(measured, dict) or not measured:
        raise ValueError(
            f"claim {key!r}: measured must be a non-empty dict of the numbers the verdict rests "
            f"on, e.g. measured={{'plain-20 train err': 0.12}}; got {measured!r}"
        )
    values = {}
    for name, value in measured.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(
                f"claim {key!r}: measured names must be strings without ':', '`' or newlines, "
                f"got {name!r}"
            )
        values[name] = _number(key, name, value)
    for label, text in (("paper", paper), ("source", source)):
        if text is not None and not isinstance(text, str):
            raise ValueError(f"claim {key!r}: {label} must be a string or None, got {text!r}")
    if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer))):
        raise ValueError(f"claim {key!r}: seeds must be a positive int or None, got {seeds!r}")
    if seeds is not None and seeds < 1:
        raise ValueError(f"claim {key!r}: seeds must be a positive int or None, got {seeds!r}")
    if not isinstance(required, (bool, np.bool_)):
        raise ValueError(f"claim {key!r}: required must be True or False, got {required!r}")
    return Record(
        key=key,
        statement=" ".join(statement.split()),
        paper=paper,
        source=source,
        measured=values,
        scale=runtime.scale(),
        seeds=None if seeds is None else int(seeds),
        holds=bool(holds),
        required=bool(required),
    )


def _number(key, name, value):
    if value is None:
        return None
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if hasattr(value, "item") and not isinstance(value, (int, float)):
        try:
            value = value.item()  # a NumPy scalar or a one-element tensor
        except (TypeError, ValueError, RuntimeError):
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(
            f"claim {key!r}: measured[{name!r}] must be a number (or None), got "
            f"{type(value).__name__} {value!r}"
        )
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return value if math.isfinite(value) else None


def _finite_array(values, what):
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} must be a sequence of numbers, got {values!r}") from e
    if arr.size == 0:
        raise ValueError(f"{what} needs at least one value")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite, got {arr.tolist()}")
    return arr
