"""Equity statistics (planner/equity.py) against pandas, numpy and shapely computed apart."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.catchment import Nearest, level_coverage
from planner.equity import (
    EQUITY_COLUMNS,
    distance_percentiles,
    equity_by_unit,
    equity_summary,
    worst_served,
)
from planner.scenario import LevelSpec

CRS = "EPSG:4547"


def _points(xy, **columns) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns, geometry=shapely.points(np.asarray(xy, float)), crs=CRS)


def _region(seed: int, n: int = 300, m: int = 12):
    rng = np.random.default_rng(seed)
    villages = _points(
        rng.uniform(0, 20_000, (n, 2)),
        id=[f"v{i:04d}" for i in range(n)],
        name=[f"村{i}" for i in range(n)],
        population=rng.integers(0, 3000, n).astype(float),
        township_id=rng.choice(["t1", "t2", "t3", "t4"], n),
    )
    centers = _points(rng.uniform(0, 20_000, (m, 2)), id=[f"c{j}" for j in range(m)])
    return villages, centers


def _weighted_brute(d: np.ndarray, w: np.ndarray, q: float) -> float:
    """Smallest distance within which at least q % of the weight lies (plain loop)."""
    total = w.sum()
    if total <= 0:
        return np.nan
    order = np.argsort(d, kind="stable")
    acc = 0.0
    for i in order:
        acc += w[i]
        if acc >= q / 100 * total:
            return d[i]
    return d[order[-1]]


@pytest.mark.parametrize("seed", range(4))
def test_percentiles_per_township_equal_pandas_and_shapely(seed):
    villages, centers = _region(seed)
    res = level_coverage(villages, centers, "township", LevelSpec(radius_m=4000))
    table = equity_by_unit({"township": res}, villages["population"].to_numpy(),
                           villages["township_id"], "township")  # fmt: skip
    # independent: distances by shapely, quantiles by pandas groupby
    dist = np.array([centers.distance(g).min() for g in villages.geometry])
    frame = pd.DataFrame({"t": villages["township_id"], "d": dist,
                          "w": villages["population"]})  # fmt: skip
    grouped = frame.groupby("t")["d"]
    got = table.set_index("township_id")
    np.testing.assert_allclose(got["p50_m"], grouped.quantile(0.5).round(1), atol=0.051)
    np.testing.assert_allclose(got["p90_m"], grouped.quantile(0.9).round(1), atol=0.051)
    np.testing.assert_allclose(got["max_m"], grouped.max().round(1), atol=0.051)
    assert (got["villages"] == grouped.size()).all()
    assert (got["villages_unreached"] == 0).all()
    for t, rows in frame.groupby("t"):
        for q in (50, 90):
            want = _weighted_brute(rows["d"].to_numpy(), rows["w"].to_numpy(), q)
            assert got.loc[t, f"pop_p{q}_m"] == pytest.approx(want, abs=0.051)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.floats(0, 1e5)),
            st.integers(0, 5000),
            st.integers(0, 4),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_percentiles_are_monotone_and_match_numpy(rows):
    dist = np.array([np.nan if d is None else d for d, _, _ in rows])
    pop = np.array([w for _, w, _ in rows], float)
    groups = np.array([g for _, _, g in rows])
    table = distance_percentiles(dist, pop, groups)
    assert list(table.index) == sorted(set(groups))
    for g, row in table.iterrows():
        d, w = dist[groups == g], pop[groups == g]
        assert row["villages_unreached"] == np.isnan(d).sum()
        assert row["population"] == w.sum()
        if not np.isnan(d).any():
            assert row["p50_m"] == pytest.approx(np.percentile(d, 50).round(1), abs=0.051)
            assert row["p90_m"] == pytest.approx(np.percentile(d, 90).round(1), abs=0.051)
            assert row["max_m"] == pytest.approx(d.max().round(1), abs=0.051)
        else:
            assert np.isnan(row["max_m"])  # the farthest is unreached: unknown
        values = row[["p50_m", "p90_m", "max_m"]].to_numpy(float)
        known = values[~np.isnan(values)]
        assert (np.diff(known) >= -1e-9).all()
        # once a percentile is unknown (unreached), every higher one is unknown too
        assert not (np.isnan(values[:-1]) & ~np.isnan(values[1:])).any()
        want = _weighted_brute(np.where(np.isnan(d), np.inf, d), w, 50)
        got = row["pop_p50_m"]
        assert (np.isnan(got) and (np.isnan(want) or np.isinf(want))) or got == pytest.approx(
            round(want, 1), abs=0.051
        )
        if not np.isnan(row["pop_p90_m"]):
            assert row["pop_p50_m"] <= row["pop_p90_m"]


def test_unreached_villages_count_as_farthest():
    dist = np.array([100.0, np.nan, 300.0, 200.0])
    table = distance_percentiles(dist, np.array([1.0, 1.0, 1.0, 1.0]), np.zeros(4, int))
    row = table.iloc[0]
    assert row["p50_m"] == pytest.approx(250.0)  # between 200 and 300
    assert np.isnan(row["p90_m"]) and np.isnan(row["max_m"])
    assert row["villages_unreached"] == 1
    assert row["pop_p50_m"] == 200.0


def test_worst_served_are_the_farthest_by_brute_force():
    villages, centers = _region(7)
    res = level_coverage(villages, centers, "village", LevelSpec(radius_m=2000))
    worst = worst_served(villages, {"village": res}, n=15)
    dist = np.array([centers.distance(g).min() for g in villages.geometry])
    expected = villages.assign(d=dist).sort_values(["d", "population"], ascending=False)
    assert list(worst["id"]) == list(expected["id"].head(15))
    assert list(worst["rank"]) == list(range(1, 16))
    assert worst.geometry.equals(expected.geometry.head(15).reset_index(drop=True))
    assert (worst["covered"] == (worst["dist_m"] <= 2000)).all()


def test_worst_served_puts_villages_without_a_center_first():
    villages, centers = _region(3, n=10)
    res = level_coverage(villages, centers, "village", LevelSpec(radius_m=2000))
    dist = res.nearest.dist_m.copy()
    dist[[2, 5]] = np.nan  # beyond a road search
    res.nearest = Nearest(res.nearest.index, dist, res.nearest.time_s)
    worst = worst_served(villages, {"village": res}, n=4)
    assert set(worst["id"].head(2)) == {"v0002", "v0005"}
    assert worst["unreached"].tolist() == [True, True, False, False]


def test_summary_is_the_one_group_table():
    villages, centers = _region(11)
    res = level_coverage(villages, centers, "township", LevelSpec(radius_m=4000))
    pop = villages["population"].to_numpy()
    summary = equity_summary({"township": res}, pop, worst=5)
    table = equity_by_unit({"township": res}, pop, pd.Series(["all"] * len(pop)), "x")
    for column in EQUITY_COLUMNS:
        assert summary["levels"]["township"][column] == pytest.approx(table.iloc[0][column])
    assert summary["worst"] == 5
