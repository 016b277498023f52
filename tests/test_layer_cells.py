"""Vectorised cell parsing of layer attributes against the per-cell definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.layers.columns import as_code as _as_code
from planner.layers.columns import by_distinct as _by_distinct
from planner.layers.problems import LayerProblems as _Collector
from planner.levels import try_normalize_level
from planner.schemas import parse_bool


def code_reference(value):
    """The per-cell definition of an identifier cell as text."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text or None


CELLS = st.one_of(
    st.none(),
    st.integers(-(10**12), 10**12),
    st.floats(-1e14, 1e14),
    st.just(float("nan")),
    st.integers(0, 10**12).map(float),
    st.from_regex(r"\s*[0-9]{1,12}(\.0|\.5)?\s*", fullmatch=True),
    st.text(alphabet="村0123456789 .x", max_size=8),
)


def as_list(series):
    return [None if pd.isna(v) else v for v in series]


@settings(max_examples=60, deadline=None)
@given(st.lists(CELLS, max_size=30))
def test_as_code_equals_the_per_cell_definition(cells):
    expected = [code_reference(v) for v in cells]
    assert as_list(_as_code(pd.Series(cells, dtype=object))) == expected
    floats = [v for v in cells if isinstance(v, float)]
    assert as_list(_as_code(pd.Series(floats, dtype=float))) == [code_reference(v) for v in floats]


YES_NO = st.sampled_from(
    [None, True, False, 1, 0, 1.0, 0.0, "是", "否", "城镇", "社区", "村", "yes", "N", " true ", "x",
     "2", np.nan]
)  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(st.lists(YES_NO, max_size=30))
def test_distinct_parsing_equals_per_cell_parsing(cells):
    values = pd.Series(cells, dtype=object)
    assert as_list(_by_distinct(values, parse_bool)) == [
        None if pd.isna(v) else parse_bool(v) for v in cells
    ]
    levels = pd.Series([str(v) for v in cells], dtype="string")
    assert as_list(_by_distinct(levels, try_normalize_level)) == [
        try_normalize_level(v) for v in levels
    ]


def test_collector_lists_twenty_rows_and_counts_the_rest(tmp_path):
    out = _Collector("villages", tmp_path / "v.gpkg")
    mask = np.zeros(1000, dtype=bool)
    mask[::10] = True
    out.rows("error", mask, np.arange(1000) + 2, "bad {value}", values=pd.Series(range(1000)))
    out.add("error", "bad {value}", row=5000)
    problems = out.finish()
    listed = [p for p in problems if p.row is not None]
    assert [p.row for p in listed] == list(range(2, 202, 10))
    assert listed[3].problem == "bad 30"
    assert problems[-1].problem == "... and 81 more rows with: bad …"
