"""Result tables: the text nbval compares and the HTML the book shows say the same thing."""

import numpy as np
import pytest

from dlparts.tables import Table, format_table, show_table

ROWS = [
    {"layer": "conv1", "shape": (96, 55, 55), "params": 34944, "share": 0.5},
    {"layer": "fc8", "shape": (1000,), "params": 4097000, "share": np.float32(-0.25)},
]


def test_text_table_aligns_numbers_right_and_text_left():
    lines = format_table(ROWS).splitlines()
    assert lines[0].split() == ["layer", "shape", "params", "share"]
    assert set(lines[1]) <= {"-", " "}
    assert "96×55×55" in lines[2] and "4,097,000" in lines[3]
    assert lines[2].endswith(" 0.50") and lines[3].endswith("-0.25")
    assert lines[2].startswith("conv1 ")
    assert len({len(line) for line in lines}) == 1


def test_columns_and_float_format():
    text = format_table(ROWS, ["layer", "share"], floatfmt="{:.3f}")
    assert "params" not in text and "0.500" in text
    assert format_table([]) == ""


def test_displayed_table_is_the_same_text_and_an_html_table():
    t = show_table(ROWS, caption="AlexNet <layers>")
    assert isinstance(t, Table) and repr(t) == str(t) == format_table(ROWS)
    page = t._repr_html_()
    assert page.count("<tr>") == 3 and "<caption>AlexNet &lt;layers&gt;</caption>" in page
    assert '<td class="num">4,097,000</td>' in page and '<td class="text">conv1</td>' in page


def test_bad_rows_are_refused():
    with pytest.raises(ValueError, match="list of dicts"):
        show_table("conv1")


WIDE = [
    {"layer": f"layer number {i}", **{f"a long column name {j}": 1.5 * i * j for j in range(9)}}
    for i in range(3)
]


def test_width_wraps_headers_and_keeps_every_line_within_it():
    plain = format_table(WIDE)
    assert max(map(len, plain.splitlines())) > 100
    text = format_table(WIDE, width=100)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 100
    assert len(lines) > len(plain.splitlines())  # the headers wrapped onto more lines
    # every cell value is still there, in its row
    for i in range(3):
        assert sum(line.startswith(f"layer number {i}") for line in lines) >= 1
        assert all(f"{1.5 * i * j:,.2f}" in text for j in range(9))


def test_width_splits_columns_into_blocks_that_repeat_the_first():
    text = format_table(WIDE, width=40)
    blocks = text.split("\n\n")
    assert len(blocks) > 1
    assert all(max(map(len, b.splitlines())) <= 40 for b in blocks)
    assert all(
        sum(line.startswith("layer number 2") for line in b.splitlines()) == 1 for b in blocks
    )


def test_narrow_table_is_unchanged_by_a_width():
    assert format_table(ROWS, width=100) == format_table(ROWS)
    t = show_table(ROWS, width=100)
    assert str(t) == format_table(ROWS)


def test_bad_width_is_refused():
    with pytest.raises(ValueError, match="width"):
        format_table(ROWS, width=3)
    with pytest.raises(ValueError, match="width"):
        show_table(ROWS, width=True)


def test_transpose_turns_rows_into_columns():
    rows = [
        {"net": "standard", "test acc": 0.85, "units": 12},
        {"net": "dropout", "test acc": 0.87, "units": 7},
    ]
    t = show_table(rows, transpose=True)
    assert t.columns == ["net", "standard", "dropout"]
    assert t.rows == [
        {"net": "test acc", "standard": 0.85, "dropout": 0.87},
        {"net": "units", "standard": 12, "dropout": 7},
    ]
    lines = str(t).splitlines()
    assert lines[0].split() == ["net", "standard", "dropout"]
    assert lines[2].split() == ["test", "acc", "0.85", "0.87"]
    assert '<th class="num">standard</th>' in t._repr_html_()
    with pytest.raises(ValueError, match="different 'net' in every row"):
        show_table(rows + [dict(rows[0])], transpose=True)


def test_a_boolean_cell_leaves_a_column_of_numbers_right_aligned():
    t = show_table([{"net": "lenet", "batch": 64, "agrees": True}], transpose=True)
    assert '<td class="num">64</td>' in t._repr_html_()
    assert '<td class="num">True</td>' in t._repr_html_()
    text_only = show_table([{"name": "a"}, {"name": "b"}])
    assert '<td class="text">a</td>' in text_only._repr_html_()
