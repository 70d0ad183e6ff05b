"""Result tables: a plain-text form that nbval compares, and an HTML form the book shows.

``format_table(rows)`` returns the text (for ``print``); ``show_table(rows)`` returns an object
that a notebook displays as an HTML table (numbers right-aligned, wide tables scroll inside their
box instead of being cut) while its ``text/plain`` form is the same text, so a checked cell
compares exactly as before.

A table whose text would be wider than ``width`` characters (when one is given) wraps its
column headers onto several lines, and if it is still too wide, prints its columns in blocks
that each repeat the first column, so that no line of the text is wider than ``width``.
"""

from __future__ import annotations

import html
import textwrap

import numpy as np

from dlparts._validate import integer

__all__ = ["format_table", "show_table", "transposed", "Table"]


def format_table(rows, columns=None, floatfmt="{:,.2f}", width=None) -> str:
    """A plain-text table: ``rows`` is a list of dicts, ``columns`` the keys to show (default:
    the first row's). Integers get thousands separators; floats use ``floatfmt``; tuples print as
    shapes (``3×224×224``). Numbers are right-aligned, text left-aligned. With ``width`` (a
    number of characters), a wider table wraps its headers, then splits its columns into blocks
    that repeat the first column, so that no line is wider than ``width`` unless a single cell
    is.
    """
    if not rows:
        return ""
    if width is not None:
        width = integer("width", width, minimum=10)
    columns, cells = _cells(rows, columns, floatfmt)
    heads = [[str(c)] for c in columns]
    widths = [max(len(str(c)), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    if width is not None and _span(widths) > width:
        for i, c in enumerate(columns):
            cell = max(len(row[i]) for row in cells)
            wrap = max(cell, *(len(word) for word in str(c).split()), 1)
            heads[i] = textwrap.wrap(str(c), wrap) or [""]
            widths[i] = max(cell, *(len(h) for h in heads[i]))
    blocks = _blocks(widths, width) if width is not None else [list(range(len(columns)))]
    return "\n\n".join(
        _block_text(
            [heads[i] for i in b], [widths[i] for i in b], [[row[i] for i in b] for row in cells]
        )
        for b in blocks
    )


def show_table(
    rows, columns=None, floatfmt="{:,.2f}", caption=None, width=None, transpose=False
) -> Table:
    """A table to display (the last expression of a cell): HTML in the book, text elsewhere.

    ``caption`` titles the HTML table; ``width`` limits the text form's lines (see
    :func:`format_table`); the HTML table wraps its headers instead. With ``transpose`` each
    row becomes a column headed by its first value, and each other column a row: the form that
    fits the page for a few rows of many columns (two networks compared on ten measures).
    """
    if transpose:
        rows, columns = transposed(rows, columns)
    return Table(rows, columns, floatfmt, caption, width)


def transposed(rows, columns=None):
    """``rows`` (a list of dicts) turned sideways: returns ``(rows, columns)`` where the first
    column lists the original columns after the first, and each original row is a column named
    by its first value.

    Raises:
        ValueError: when two rows share a first value (two columns would have one name).
    """
    if not isinstance(rows, (list, tuple)) or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"rows must be a list of dicts, got {type(rows).__name__}")
    if not rows:
        return [], columns
    columns = list(columns or rows[0])
    first, rest = columns[0], columns[1:]
    names = [str(r.get(first, "")) for r in rows]
    if len(set(names)) != len(names):
        raise ValueError(
            f"transpose needs a different {first!r} in every row to name the columns, got {names}"
        )
    out = [{first: c, **{n: r.get(c, "") for n, r in zip(names, rows)}} for c in rest]
    return out, [first, *names]


class Table:
    """A displayed table; ``str(t)`` and ``repr(t)`` are :func:`format_table`'s text."""

    def __init__(self, rows, columns=None, floatfmt="{:,.2f}", caption=None, width=None):
        if not isinstance(rows, (list, tuple)) or not all(isinstance(r, dict) for r in rows):
            raise ValueError(
                f"rows must be a list of dicts (one per row, keyed by column), got "
                f"{type(rows).__name__}"
            )
        if width is not None:
            width = integer("width", width, minimum=10)
        self.rows, self.columns, self.floatfmt, self.caption, self.width = (
            list(rows),
            columns,
            floatfmt,
            caption,
            width,
        )

    def __str__(self) -> str:
        return format_table(self.rows, self.columns, self.floatfmt, self.width)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        if not self.rows:
            return ""
        columns, cells = _cells(self.rows, self.columns, self.floatfmt)
        num = [all(_aligns_right(row[i]) for row in cells) for i in range(len(columns))]
        head = "".join(
            f'<th class="{"num" if n else "text"}">{html.escape(str(c))}</th>'
            for c, n in zip(columns, num)
        )
        body = "".join(
            "<tr>"
            + "".join(
                f'<td class="{"num" if n else "text"}">{html.escape(v)}</td>'
                for v, n in zip(row, num)
            )
            + "</tr>"
            for row in cells
        )
        cap = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return (
            f'<div class="dlparts-table"><table>{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>"
        )


def _fmt(v, floatfmt) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        return floatfmt.format(float(v))
    if isinstance(v, tuple):
        return "×".join(str(i) for i in v)
    return str(v)


def _cells(rows, columns, floatfmt):
    columns = list(columns or rows[0])
    return columns, [[_fmt(r.get(c, ""), floatfmt) for c in columns] for r in rows]


def _numeric(v: str) -> bool:
    return v[:1].isdigit() or v[:1] == "-"


def _aligns_right(v: str) -> bool:
    """A cell that lets its HTML column be a numeric one: a number, an empty cell, or a boolean
    (a transposed table puts a check's True beside numbers)."""
    return _numeric(v) or not v or v in ("True", "False")


def _span(widths) -> int:
    return sum(widths) + 2 * (len(widths) - 1)


def _blocks(widths, width):
    """Column indices in blocks no wider than ``width``, each after the first repeating column 0."""
    if _span(widths) <= width or len(widths) < 3:
        return [list(range(len(widths)))]
    blocks, block = [], [0]
    for i in range(1, len(widths)):
        if len(block) > 1 and _span([widths[j] for j in block + [i]]) > width:
            blocks.append(block)
            block = [0]
        block.append(i)
    blocks.append(block)
    return blocks


def _block_text(heads, widths, cells) -> str:
    depth = max(len(h) for h in heads)
    out = []
    for k in range(depth):  # headers aligned at the bottom, next to the rule
        parts = []
        for h, w in zip(heads, widths):
            lines = [""] * (depth - len(h)) + h
            parts.append(lines[k].ljust(w))
        out.append("  ".join(parts).rstrip() if k < depth - 1 else "  ".join(parts))
    out.append("  ".join("-" * w for w in widths))
    for row in cells:
        out.append(
            "  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(row, widths))
        )
    return "\n".join(out)
