"""Tests of planner.grids.attributes: workers and whole-number apportioning."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from grids_helpers import C_SHAPE, X0, Y0, villages_gdf
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from planner.grids import RURAL_WORKERS_PER_GRID, URBAN_WORKERS_PER_GRID, generate_grids


def test_workers_follow_tongliao_ratios():
    villages = villages_gdf(
        [box(X0, Y0, X0 + 3000, Y0 + 3000), box(X0 + 4000, Y0, X0 + 5000, Y0 + 1000)],
        [300, 2500],
        urban=[False, True],
    )
    res = generate_grids(villages)
    table = res.villages.set_index("village_id")
    rural, urban = table.iloc[0], table.iloc[1]
    assert rural["grids"] == 10 and urban["grids"] == 10
    assert rural["workers"] == round(RURAL_WORKERS_PER_GRID * 300 / 30)  # 16
    assert urban["workers"] == round(URBAN_WORKERS_PER_GRID * 2500 / 250)  # 22
    assert (res.grids["workers"] >= 1).all()
    assert res.grids["workers"].max() <= 3
    sums = res.grids.groupby("village_id")[["workers", "households"]].sum()
    np.testing.assert_array_equal(sums["workers"], table["workers"])
    np.testing.assert_array_equal(sums["households"], table["households"])
    assert RURAL_WORKERS_PER_GRID == pytest.approx(1.65, abs=0.01)
    assert URBAN_WORKERS_PER_GRID == pytest.approx(2.2, abs=0.01)


@settings(max_examples=60, deadline=None)
@given(
    exponent=st.floats(0, 305),
    mantissa=st.floats(1, 9.99),
    k=st.integers(1, 12),
    by_population=st.booleans(),
)
def test_property_huge_counts_never_go_negative(exponent, mantissa, k, by_population):
    total = mantissa * 10.0**exponent
    village = villages_gdf([shapely.affinity.translate(C_SHAPE, X0, Y0)], [np.nan])
    village["population"] = total
    village["households"] = total / 2.5
    target = (
        {"population_per_grid": total / k}
        if by_population
        else {"households_per_grid": total / 2.5 / k}
    )
    res = generate_grids(village, **target)
    grids = res.grids
    assert len(grids) == k
    for col, want in (("population", np.rint(total)), ("households", np.rint(total / 2.5))):
        values = grids[col].to_numpy(float)
        assert np.isfinite(values).all() and (values >= 0).all(), col
        assert (values == np.floor(values)).all(), col
        assert values.sum() == pytest.approx(want, rel=1e-9, abs=k), col
    workers = grids["workers"].to_numpy(float)
    assert np.isfinite(workers).all() and (workers >= 1).all()
    assert (res.villages[["households", "population", "workers"]].to_numpy(float) >= 0).all()
    json.dumps(res.stats)
