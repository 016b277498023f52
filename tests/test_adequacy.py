"""Adequacy (planner/adequacy.py) against brute force with shapely distances."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.adequacy import (
    DEFAULT_M2_PER_1000,
    adequacy,
    adequacy_rules,
    adequacy_summary,
    served_population,
)
from planner.catchment import combine_parts, level_coverage
from planner.scenario import LevelSpec

CRS = "EPSG:4547"


def _points(xy, **columns) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns, geometry=shapely.points(np.asarray(xy, float)), crs=CRS)


def _region(seed: int, n: int = 200, m: int = 10, level: str = "village"):
    rng = np.random.default_rng(seed)
    villages = _points(rng.uniform(0, 10_000, (n, 2)), id=[f"v{i}" for i in range(n)],
                       population=rng.integers(0, 2500, n).astype(float))  # fmt: skip
    area = rng.uniform(50, 400, m)
    area[::4] = np.nan  # no size recorded
    centers = _points(rng.uniform(0, 10_000, (m, 2)), id=[f"c{j}" for j in range(m)],
                      level=level, area_m2=area)  # fmt: skip
    return villages, centers


@pytest.mark.parametrize("seed", range(4))
def test_served_population_and_verdicts_by_brute_force(seed):
    villages, centers = _region(seed)
    radius = 1500.0
    res = level_coverage(villages, centers, "village", LevelSpec(radius_m=radius))
    pop = villages["population"].to_numpy()
    table = adequacy({"village": res}, pop, {"village": 100.0}).set_index("center_id")
    d = np.array([[c.distance(v) for c in centers.geometry] for v in villages.geometry])
    nearest, near_d = d.argmin(axis=1), d.min(axis=1)
    for j, center in centers.iterrows():
        mine = (nearest == j) & (near_d <= radius)
        served = pop[mine].sum()
        row = table.loc[center["id"]]
        assert row["served_villages"] == mine.sum()
        assert row["served_population"] == pytest.approx(served)
        assert row["required_m2"] == pytest.approx(round(served / 10, 1))
        if np.isnan(center["area_m2"]):
            assert row["status"] == "unknown" and np.isnan(row["shortfall_m2"])
            continue
        over = center["area_m2"] < served / 10
        assert row["status"] == ("overloaded" if over else "adequate")
        assert row["shortfall_m2"] == pytest.approx(max(served / 10 - center["area_m2"], 0),
                                                    abs=0.051)  # fmt: skip
        assert row["residents_supported"] == round(center["area_m2"] * 10)
        assert row["residents_over"] == pytest.approx(
            max(round(served - center["area_m2"] * 10), 0), abs=1
        )


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.floats(200, 5000), st.floats(200, 5000))
def test_served_populations_sum_to_the_covered_population(seed, own_m, station_m):
    villages, centers = _region(seed, n=80, m=6)
    stations = _points(np.random.default_rng(seed + 1).uniform(0, 10_000, (4, 2)),
                       id=[f"s{j}" for j in range(4)], level="station")  # fmt: skip
    pop = villages["population"].to_numpy()
    parts = [
        level_coverage(villages, centers, "village", LevelSpec(radius_m=own_m)),
        level_coverage(villages, stations, "village", LevelSpec(radius_m=station_m)),
    ]
    res = combine_parts("village", LevelSpec(radius_m=own_m), parts)
    table = adequacy({"village": res}, pop, {"village": 100.0})
    assert table["served_population"].sum() == pytest.approx(pop[res.covered].sum())
    assert table["served_villages"].sum() == res.covered.sum()
    # stations have no rule of their own: never judged adequate or overloaded
    assert (table.loc[table["center_level"] == "station", "status"] == "no_rule").all()
    judged = table[table["status"].isin(["overloaded", "adequate"])]
    assert ((judged["status"] == "overloaded") == (judged["shortfall_m2"] > 0)).all()


def test_centers_without_a_size_are_unknown_not_adequate():
    villages, centers = _region(1)
    centers["area_m2"] = np.nan
    res = level_coverage(villages, centers, "village", LevelSpec(radius_m=99_999))
    table = adequacy({"village": res}, villages["population"].to_numpy(), {"village": 1.0})
    assert (table["status"] == "unknown").all()
    summary = adequacy_summary(table, {"village": 1.0})
    assert summary["levels"]["village"]["unknown"] == len(centers)
    assert summary["levels"]["village"]["adequate"] == 0


def test_centers_without_an_area_column_are_unknown():
    villages, centers = _region(2)
    res = level_coverage(villages, centers.drop(columns="area_m2"), "village",
                         LevelSpec(radius_m=3000))  # fmt: skip
    table = adequacy({"village": res}, villages["population"].to_numpy(), {"village": 100.0})
    assert (table["status"] == "unknown").all()


def test_rules_layer_default_profile_scenario():
    assert adequacy_rules() == DEFAULT_M2_PER_1000
    profile = {"township": 30.0, "village": 80.0}
    scenario = {"village": 120.0}
    assert adequacy_rules(profile, scenario) == {"township": 30.0, "village": 120.0}
    assert adequacy_rules(None, scenario)["village"] == 120.0


def test_summary_counts_and_totals():
    villages, centers = _region(5, n=400, m=8)
    res = level_coverage(villages, centers, "village", LevelSpec(radius_m=2500))
    table = adequacy({"village": res}, villages["population"].to_numpy(), {"village": 300.0})
    s = adequacy_summary(table, {"village": 300.0})["levels"]["village"]
    over = table[table["status"] == "overloaded"]
    assert s["overloaded"] == len(over) > 0
    assert s["centers"] == len(centers)
    assert s["shortfall_m2"] == pytest.approx(over["shortfall_m2"].sum(), abs=0.1)
    assert list(table["status"]).index("overloaded") == 0  # overloaded listed first
    assert served_population(res, villages["population"].to_numpy())[1].sum() == pytest.approx(
        villages["population"][res.covered].sum()
    )


def test_blank_population_counts_zero():
    villages, centers = _region(4, n=50, m=3)
    villages.loc[::2, "population"] = np.nan
    res = level_coverage(villages, centers, "village", LevelSpec(radius_m=99_999))
    count, pop = served_population(res, villages["population"].to_numpy())
    assert count.sum() == 50
    assert pop.sum() == pytest.approx(pd.Series(villages["population"]).sum())


def test_no_centers_gives_empty_tables_in_the_villages_crs():
    from planner.catchment import centers_serving
    from planner.service_load import service_load

    villages, _ = _region(6, n=30)
    res = level_coverage(villages, centers_serving(None, ("village",)), "village",
                         LevelSpec(radius_m=1000))  # fmt: skip
    units = pd.Series(["t"] * len(villages))
    load = service_load(villages, {"village": res}, township=units, county=units,
                        rules={"village": 100.0}, worst=5)  # fmt: skip
    assert load.tables["adequacy"].empty and load.tables["adequacy"].crs == villages.crs
    assert load.tables["worst_served"]["unreached"].all()  # no center: no distance
    assert load.summary["equity"]["levels"]["village"]["villages_unreached"] == 30
