"""Result tables: a plain-text form that nbval compares, and an HTML form the book shows.

``format_table(rows)`` returns the text (for ``print``); ``show_table(rows)`` returns an object
that a notebook displays as an HTML table (numbers right-aligned, wide tables scroll inside their
box instead of being cut) while its ``text/plain`` form is the same text, so a checked cell
compares exactly as before.
"""

from __future__ import annotations

import html

import numpy as np

__all__ = ["format_table", "show_table", "Table"]


def format_table(rows, columns=None, floatfmt="{:,.2f}") -> str:
    """A plain-text table: ``rows`` is a list of dicts, ``columns`` the keys to show (default:
    the first row's). Integers get thousands separators; floats use ``floatfmt``; tuples print as
    shapes (``3×224×224``). Numbers are right-aligned, text left-aligned.
    """
    if not rows:
        return ""
    columns, cells = _cells(rows, columns, floatfmt)
    widths = [max(len(str(c)), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = "  ".join(str(c).ljust(w) for c, w in zip(columns, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    for row in cells:
        out.append(
            "  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(row, widths))
        )
    return "\n".join(out)


def show_table(rows, columns=None, floatfmt="{:,.2f}", caption=None) -> Table:
    """A table to display (the last expression of a cell): HTML in the book, text elsewhere."""
    return Table(rows, columns, floatfmt, caption)


class Table:
    """A displayed table; ``str(t)`` and ``repr(t)`` are :func:`format_table`'s text."""

    def __init__(self, rows, columns=None, floatfmt="{:,.2f}", caption=None):
        if not isinstance(rows, (list, tuple)) or not all(isinstance(r, dict) for r in rows):
            raise ValueError(
                f"rows must be a list of dicts (one per row, keyed by column), got "
                f"{type(rows).__name__}"
            )
        self.rows, self.columns, self.floatfmt, self.caption = (
            list(rows),
            columns,
            floatfmt,
            caption,
        )

    def __str__(self) -> str:
        return format_table(self.rows, self.columns, self.floatfmt)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        if not self.rows:
            return ""
        columns, cells = _cells(self.rows, self.columns, self.floatfmt)
        num = [all(_numeric(row[i]) or not row[i] for row in cells) for i in range(len(columns))]
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
