"""Tests of planner.grids.generate: counts, balance, targets, determinism, refusals."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from grids_helpers import CRS, X0, Y0, assert_tiles, villages_gdf, voronoi_region
from shapely.geometry import Polygon, box

from planner.errors import PlannerError
from planner.grids import RURAL_HOUSEHOLDS_PER_GRID, URBAN_HOUSEHOLDS_PER_GRID, generate_grids


def test_region_tiles_balances_and_counts():
    areas = voronoi_region(40, seed=3)
    res = generate_grids(areas)
    assert_tiles(res.grids, areas)
    target = np.where(areas["urban"], URBAN_HOUSEHOLDS_PER_GRID, RURAL_HOUSEHOLDS_PER_GRID)
    want_k = np.maximum(1, np.rint(areas["households"] / target)).astype(int)
    got_k = res.grids.groupby("village_id").size().reindex(areas["id"]).to_numpy()
    np.testing.assert_array_equal(got_k, want_k)
    # Households are whole numbers summing to the village total, balanced by area.
    per_village = res.grids.groupby("village_id")["households"].sum()
    np.testing.assert_array_equal(per_village.reindex(areas["id"]), areas["households"])
    for vid, own in res.grids.groupby("village_id"):
        share = own["households"] / own["households"].sum()
        area_share = own["area_m2"] / own["area_m2"].sum()
        assert (np.abs(share - area_share) * own["households"].sum() <= 1 + 1e-9).all(), vid
    assert res.stats["grids"] == len(res.grids) == int(want_k.sum())
    assert res.stats["balance_ratio_max"] < 1.1
    assert 0.5 < res.stats["compactness_mean"] <= 1
    assert res.warnings == []


def test_points_balance_households():
    rng = np.random.default_rng(7)
    village = villages_gdf([box(X0, Y0, X0 + 4000, Y0 + 3000)], [np.nan])
    xy = np.vstack(
        [
            rng.normal([X0 + 1000, Y0 + 1000], 300, (300, 2)),
            rng.uniform([X0, Y0], [X0 + 4000, Y0 + 3000], (100, 2)),
        ]
    )
    xy = xy[(xy[:, 0] > X0) & (xy[:, 0] < X0 + 4000) & (xy[:, 1] > Y0) & (xy[:, 1] < Y0 + 3000)]
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS)
    res = generate_grids(village, points=pts)
    assert_tiles(res.grids, village)
    k = round(len(xy) / RURAL_HOUSEHOLDS_PER_GRID)
    assert len(res.grids) == k
    # Independent count of the points in each grid.
    joined = gpd.sjoin(pts, res.grids[["id", "geometry"]], predicate="within")
    counts = joined.groupby("id").size().reindex(res.grids["id"], fill_value=0)
    np.testing.assert_array_equal(counts.to_numpy(), res.grids["households"].to_numpy())
    assert counts.max() - counts.min() <= 2
    assert "counted from points" in " ".join(res.warnings)
    # The dense cluster gets small grids.
    assert res.grids.area.max() / res.grids.area.min() > 5


def test_population_target_and_weights():
    village = villages_gdf([box(X0, Y0, X0 + 2000, Y0 + 2000)], [np.nan])
    village["population"] = 1000.0
    res = generate_grids(village, population_per_grid=250)
    assert len(res.grids) == 4
    assert res.grids["population"].sum() == 1000
    assert res.grids["households"].sum() == round(1000 / 2.62)


def test_deterministic_and_independent_of_row_order():
    areas = voronoi_region(25, seed=11)
    a = generate_grids(areas).grids
    b = generate_grids(areas.iloc[::-1].reset_index(drop=True)).grids
    assert a["id"].tolist() == b["id"].tolist()
    assert a["id"].is_unique
    assert shapely.equals_exact(
        shapely.normalize(a.geometry.to_numpy()), shapely.normalize(b.geometry.to_numpy()), 1e-6
    ).all()
    pd.testing.assert_frame_equal(
        a.drop(columns="geometry"), generate_grids(areas).grids.drop(columns="geometry")
    )


def test_grids_export_and_read_back(tmp_path):
    import pyogrio

    from planner.outputs.vector import write_vector

    res = generate_grids(voronoi_region(4, seed=9))
    for fmt in ("shp", "gpkg"):
        paths = write_vector(res.grids, tmp_path / f"grids.{fmt}")
        got = pyogrio.read_dataframe(paths[0])
        assert len(got) == len(res.grids)
        assert got.iloc[:, 0].tolist() == res.grids["id"].tolist()


def test_summary_json_ready():
    res = generate_grids(voronoi_region(5, seed=1))
    json.dumps(res.stats)  # plain Python numbers only
    assert set(res.villages.columns) >= {"village_id", "grids", "workers", "balance_ratio"}


def test_unusable_input_raises():
    village = villages_gdf([box(0, 0, 1, 1)], [30]).set_crs(4490, allow_override=True)
    with pytest.raises(PlannerError, match="metric"):
        generate_grids(village)
    nothing = villages_gdf([Polygon()], [30])
    with pytest.raises(PlannerError, match="no village polygon"):
        generate_grids(nothing)
    with pytest.raises(PlannerError, match="not both"):
        generate_grids(nothing, households_per_grid=10, population_per_grid=10)
    with pytest.raises(PlannerError, match="999"):
        generate_grids(villages_gdf([box(0, 0, 100, 100)], [1e6]), households_per_grid=1)


def test_population_1e300_with_default_targets_is_refused_readably():
    village = villages_gdf([box(X0, Y0, X0 + 100, Y0 + 100)], [np.nan])
    village["population"] = 1e300
    with pytest.raises(PlannerError, match=r"village 150521100001 would get 1\.272e\+298 grids"):
        generate_grids(village)
