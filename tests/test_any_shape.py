"""Any valid shape runs: a test matrix generated from the layer schemas.

A small synthetic region with every layer kind of :data:`planner.scenario.LAYER_KINDS`
(the grid layer made by :func:`planner.grids.generate_grids`) is the base. The matrix
drops every optional layer and every optional column of :data:`planner.schemas.SCHEMAS`
(one at a time and all together) and adds the shapes real offices bring: villages as
polygons, one village, every or no village covered, no centers, each level alone, roads.
Adding a layer kind or a column to the schemas adds its cases here.

Each case runs the whole pipeline with the map and the report and checks it against an
independent computation: the population covered per straight-line level equals a
brute-force count of shapely distances, ``summary.json`` agrees with ``coverage.gpkg``, and
steps that cannot run are named in ``summary["skipped"]``.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from planner.errors import PlannerError
from planner.grids import generate_grids
from planner.outputs.writers import write_outputs
from planner.pipeline import run
from planner.plan import Plan
from planner.scenario import LAYER_KINDS, load_scenario
from planner.schemas import SCHEMAS
from planner.synth.region import SYNTH_CRS, generate_region

#: The base region: 24 villages in 4 townships, two of them with a merged former township.
REGION = {"villages": 24, "townships": 4, "seed": 3, "merged_share": 0.5}
#: Service radii of the base scenario (metres); every level by straight line.
RADII = {"city": 12_000, "county": 8_000, "township": 4_000, "village": 900, "station": 900}
#: Levels that also count another level's centers (the scenario defaults).
ALSO = {"township": ("subcenter",), "village": ("station",)}

_FILLERS: dict[str, Callable[[int], Any]] = {
    "code": lambda i: f"{150502900000 + i}",
    "text": lambda i: f"t{i}",
    "number": lambda i: float(10 + i),
    "year": lambda i: 2010 + i % 10,
    "bool": lambda i: bool(i % 2),
    "level": lambda i: "village",
}


def _complete(kind: str, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The layer with every schema column (columns the generator lacks are filled by type),
    so that a column added to the schema gets its drop case."""
    out = frame.copy()
    for column in SCHEMAS[kind].columns:
        if column.name not in out.columns:
            out[column.name] = [_FILLERS[column.dtype](i) for i in range(len(out))]
    return out


@functools.cache
def _base() -> dict[str, gpd.GeoDataFrame]:
    """Every layer kind of the base region in CGCS2000 lon/lat (EPSG:4490)."""
    region = generate_region(**REGION)
    frames = dict(region.layers())
    metric = region.to_crs(SYNTH_CRS)
    grids = generate_grids(
        metric.village_areas, metric.villages, households_per_grid=60, lang="zh"
    ).grids
    keep = [c for c in SCHEMAS["grids"].names if c in grids.columns]
    frames["grids"] = grids[[*keep, "geometry"]].to_crs(frames["villages"].crs)
    return {kind: _complete(kind, frames[kind]) for kind in LAYER_KINDS}


# ---------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One input shape: the layers and scenario to run and what the run must report."""

    frames: dict[str, gpd.GeoDataFrame]
    settings: dict[str, Any]
    skipped: set[str] = field(default_factory=set)


def _settings() -> dict[str, Any]:
    return {
        "levels": {lvl: {"radius_m": r} for lvl, r in RADII.items()},
        "siting": {
            "subcenters": {"max_count": 2},
            "stations": {"budget": 3, "candidates": "candidates"},
        },
        "standards": {"profile": "generic"},
        "outputs": {"formats": ["gpkg"], "lang": "zh", "map": True, "report": True},
    }


def _optional_layers() -> list[str]:
    return [kind for kind in LAYER_KINDS if kind != "villages"]


def _optional_columns() -> list[tuple[str, str]]:
    return [
        (kind, column.name)
        for kind in LAYER_KINDS
        for column in SCHEMAS[kind].columns
        if not column.required
    ]


def _drop_layer(case: Case, kind: str) -> None:
    case.frames.pop(kind)
    if kind == "candidates":
        case.settings["siting"]["stations"]["candidates"] = "villages"
    if kind == "merged_townships":
        case.skipped.add("subcenters")
    if kind == "centers":
        case.skipped.add("standards")


def _skips_without(kinds: set[str]) -> set[str]:
    """Steps that cannot run without these layers."""
    skipped = set()
    if "merged_townships" in kinds:
        skipped.add("subcenters")
    if {"village_areas", "townships"} <= kinds and "grids" in kinds:
        skipped.add("grids")
    return skipped


def case_drop_layer(kind: str) -> Case:
    case = Case(dict(_base()), _settings())
    _drop_layer(case, kind)
    case.skipped |= _skips_without({kind})
    return case


def case_drop_column(kind: str, column: str) -> Case:
    frames = dict(_base())
    frames[kind] = frames[kind].drop(columns=column)
    return Case(frames, _settings())


def case_all_layers_dropped() -> Case:
    case = Case(dict(_base()), _settings())
    for kind in _optional_layers():
        _drop_layer(case, kind)
    case.skipped |= _skips_without(set(_optional_layers()))
    return case


def case_all_columns_dropped() -> Case:
    frames = {
        kind: frame[[c.name for c in SCHEMAS[kind].columns if c.required] + ["geometry"]]
        for kind, frame in _base().items()
    }
    return Case(frames, _settings())


def case_village_polygons() -> Case:
    frames = dict(_base())
    areas = frames.pop("village_areas").set_index("id").geometry
    villages = frames["villages"].copy()
    villages["geometry"] = villages["id"].map(areas).to_numpy()
    frames["villages"] = gpd.GeoDataFrame(villages, geometry="geometry", crs=areas.crs)
    return Case(frames, _settings())


def case_one_village() -> Case:
    frames = dict(_base())
    frames["villages"] = frames["villages"].head(1)
    return Case(frames, _settings())


def case_every_village_covered() -> Case:
    case = Case(dict(_base()), _settings())
    for spec in case.settings["levels"].values():
        spec["radius_m"] = 1_000_000
    return case


def case_no_village_covered() -> Case:
    case = Case(dict(_base()), _settings())
    for spec in case.settings["levels"].values():
        spec["radius_m"] = 1
    return case


def case_no_centers_of_a_level() -> Case:
    frames = dict(_base())
    centers = frames["centers"]
    frames["centers"] = centers[~centers["level"].isin(["village", "station"])]
    return Case(frames, _settings())


def case_level_alone(level: str) -> Case:
    case = Case(dict(_base()), _settings())
    case.settings["levels"] = {level: {"radius_m": RADII[level]}}
    if level != "township":
        case.skipped.add("subcenters")
    if level not in ("village", "station"):
        case.skipped.add("stations")
    return case


def case_network() -> Case:
    case = Case(dict(_base()), _settings())
    case.settings["levels"]["township"] |= {"mode": "network", "travel": "drive"}
    case.settings["levels"]["village"] |= {"mode": "network", "travel": "walk"}
    return case


def case_grid_candidates_without_grids() -> Case:
    """Stations to be sited at grid centroids, but no layer to draw grids in."""
    case = Case(dict(_base()), _settings())
    for kind in ("village_areas", "townships", "grids"):
        _drop_layer(case, kind)
    case.settings["siting"]["stations"]["candidates"] = "grids"
    case.skipped |= {"grids", "stations"}
    return case


def case_minimum_without_townships() -> Case:
    """A minimum of stations per township, but no township is known."""
    case = Case(dict(_base()), _settings())
    _drop_layer(case, "townships")
    case.frames["villages"] = case.frames["villages"].drop(columns="township_id")
    case.settings["siting"]["stations"]["min_per_township"] = 1
    return case


def case_polygons_with_nothing_optional() -> Case:
    """Village polygons with only the required columns and no other layer."""
    polygons = case_village_polygons().frames["villages"]
    required = [c.name for c in SCHEMAS["villages"].columns if c.required]
    case = Case({"villages": polygons[[*required, "geometry"]]}, _settings())
    case.settings["siting"]["stations"]["candidates"] = "villages"
    case.settings.pop("standards")
    case.skipped.add("subcenters")  # grids are drawn in the village polygons
    return case


CASES: dict[str, Callable[[], Case]] = {
    "base": lambda: Case(dict(_base()), _settings()),
    **{f"drop-layer-{k}": functools.partial(case_drop_layer, k) for k in _optional_layers()},
    **{
        f"drop-column-{k}.{c}": functools.partial(case_drop_column, k, c)
        for k, c in _optional_columns()
    },
    "all-optional-layers-dropped": case_all_layers_dropped,
    "all-optional-columns-dropped": case_all_columns_dropped,
    "village-polygons": case_village_polygons,
    "one-village": case_one_village,
    "every-village-covered": case_every_village_covered,
    "no-village-covered": case_no_village_covered,
    "no-village-or-station-centers": case_no_centers_of_a_level,
    **{f"level-alone-{lvl}": functools.partial(case_level_alone, lvl) for lvl in RADII},
    "network": case_network,
    "grid-candidates-without-grids": case_grid_candidates_without_grids,
    "station-minimum-without-townships": case_minimum_without_townships,
    "village-polygons-nothing-optional": case_polygons_with_nothing_optional,
}
#: Cases in the fast suite: one of every family; the rest are marked slow.
FAST = {
    "base",
    "drop-layer-townships",
    "drop-layer-centers",
    "drop-column-townships.county_id",
    "all-optional-layers-dropped",
    "all-optional-columns-dropped",
    "village-polygons",
    "one-village",
    "every-village-covered",
    "no-village-covered",
    "level-alone-township",
    "network",
}
#: Cases that fail on a bug in a file this matrix's owner does not own.
XFAIL: dict[str, str] = {}


def _params() -> list[Any]:
    params = []
    for name in CASES:
        marks = [] if name in FAST else [pytest.mark.slow]
        if name in XFAIL:
            marks.append(pytest.mark.xfail(strict=True, reason=XFAIL[name]))
        params.append(pytest.param(name, id=name, marks=marks))
    return params


# ---------------------------------------------------------------------------- running


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def _toml_tables(prefix: str, table: dict[str, Any]) -> list[str]:
    plain = {k: v for k, v in table.items() if not isinstance(v, dict)}
    lines = [f"[{prefix}]", *(f"{k} = {_toml_value(v)}" for k, v in plain.items())] if plain else []
    for key, sub in table.items():
        if isinstance(sub, dict):
            lines += _toml_tables(f"{prefix}.{key}", sub)
    return lines


def write_case(case: Case, folder: Path) -> Path:
    """Write the case's layers (GeoPackage) and scenario; returns the scenario path."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["[scenario]", 'name = "any"', 'out_dir = "out"']
    for kind, frame in case.frames.items():
        frame.to_file(folder / f"{kind}.gpkg", driver="GPKG")
        lines.append(f'[layers.{kind}]\npath = "{kind}.gpkg"')
    for key, table in case.settings.items():
        lines += _toml_tables(key, table)
    path = folder / "scenario.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def brute_force_covered(case: Case, plan: Plan, level: str) -> float:
    """Population within the level's radius of a serving center, by shapely distances in
    the run's working CRS (villages at the points the run placed them)."""
    villages = plan.layers["villages"]
    centers = case.frames.get("centers")
    radius = case.settings["levels"][level]["radius_m"]
    if centers is None:
        return 0.0
    serving = centers[centers["level"].isin([level, *ALSO.get(level, ())])].to_crs(plan.layers.crs)
    if serving.empty:
        return 0.0
    dist = shapely.distance(
        villages.geometry.to_numpy()[:, None], serving.geometry.to_numpy()[None, :]
    ).min(axis=1)
    return float(villages["population"].fillna(0).to_numpy()[dist <= radius].sum())


def check_outputs(case: Case, plan: Plan, out: Path) -> None:
    """Coverage by brute force, summary.json against coverage.gpkg, skipped steps named."""
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    villages = gpd.read_file(out / "coverage.gpkg", layer="villages")
    gaps = gpd.read_file(out / "coverage.gpkg", layer="gaps")
    assert len(villages) == len(case.frames["villages"])
    assert set(summary["levels"]) == set(case.settings["levels"])
    for level, spec in case.settings["levels"].items():
        got = summary["levels"][level]
        covered = villages[f"{level}_covered"].astype(bool)
        assert got["population_covered"] == pytest.approx(
            villages.loc[covered, "population"].fillna(0).sum()
        )
        assert got["villages_uncovered"] == int((~covered).sum())
        assert int((gaps["level"] == level).sum()) == got["villages_uncovered"]
        if spec.get("mode", "euclidean") == "euclidean":
            assert got["population_covered"] == pytest.approx(
                brute_force_covered(case, plan, level)
            )
    _check_gains(summary)
    _check_village_points(case, plan)
    assert case.skipped <= set(summary.get("skipped", {})), summary.get("skipped")
    for reason in summary.get("skipped", {}).values():
        assert isinstance(reason, str) and reason and "\n" not in reason
    assert {"map.html", "report.html", "summary.xlsx"} <= {p.name for p in out.iterdir()}


def _check_gains(summary: dict[str, Any]) -> None:
    """What the proposals add per level (``after`` − before) is the sum of their gains:
    sub-centers at the township level, stations at the village level (else station)."""
    levels = summary["levels"]
    station_level = "village" if "village" in levels else "station"
    for kind, level in (("subcenter", "township"), ("station", station_level)):
        if level not in levels:
            continue
        gain = sum(p["new_population_covered"] for p in summary["proposals"] if p["kind"] == kind)
        added = (
            summary["after"]["levels"][level]["population_covered"]
            - levels[level]["population_covered"]
        )
        assert added == pytest.approx(gain), (kind, level)


def _check_village_points(case: Case, plan: Plan) -> None:
    """Each village is placed at a point on its own geometry (inside a given polygon)."""
    given = case.frames["villages"].to_crs(plan.layers.crs).set_index("id").geometry
    placed = plan.layers["villages"].set_index("id").geometry
    assert (placed.geom_type == "Point").all()
    assert given.loc[placed.index].buffer(1e-6).covers(placed).all()


@pytest.mark.parametrize("name", _params())
def test_any_valid_shape_runs(name: str, tmp_path: Path) -> None:
    case = CASES[name]()
    scenario = load_scenario(write_case(case, tmp_path))
    plan = run(scenario)
    write_outputs(plan, tmp_path / "out")
    check_outputs(case, plan, tmp_path / "out")


def test_matrix_covers_every_layer_kind_and_optional_column() -> None:
    assert set(_base()) == set(LAYER_KINDS)
    for kind, frame in _base().items():
        assert set(SCHEMAS[kind].names) <= set(frame.columns), kind
    names = set(CASES)
    assert {f"drop-layer-{k}" for k in LAYER_KINDS if k != "villages"} <= names
    assert {f"drop-column-{k}.{c}" for k, c in _optional_columns()} <= names
    assert len(_optional_columns()) >= 30  # the schemas as of issue 13


def test_dropped_columns_run_from_the_cli(tmp_path: Path) -> None:
    case = case_all_columns_dropped()
    scenario = write_case(case, tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "planner.cli", "run", str(scenario)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    villages = case.frames["villages"]
    assert summary["levels"]["city"]["population_total"] == pytest.approx(
        villages["population"].sum()
    )


def test_candidate_layer_named_but_absent_is_refused(tmp_path: Path) -> None:
    """``candidates = "candidates"`` without the layer is refused when the scenario is
    loaded, with a message naming the layer, before anything is read."""
    case = Case(dict(_base()), _settings())
    case.frames.pop("candidates")
    with pytest.raises(PlannerError, match=r"\[layers\.candidates\]"):
        load_scenario(write_case(case, tmp_path))


def test_excel_cells_of_empty_text_columns() -> None:
    """An empty table (no village left uncovered) has text columns of no rows."""
    from planner.outputs.xlsx import _fit_excel_cells

    empty = pd.DataFrame({"id": pd.Series([], dtype="string"), "n": pd.Series([], dtype=object)})
    assert _fit_excel_cells(empty.copy()).empty
    long = pd.DataFrame({"t": pd.Series(["x" * 40_000, None], dtype="string")})
    fitted = _fit_excel_cells(long)["t"]
    assert len(fitted[0]) == 32_767 and fitted[0].endswith("…") and pd.isna(fitted[1])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["all-optional-layers-dropped", "all-optional-columns-dropped"])
def test_dask_engine_runs_the_barest_inputs(name: str, tmp_path: Path) -> None:
    """The Dask engine partitions by county: with no township or county layer and no codes
    beyond ``id`` it still gives the in-process coverage."""
    scenario = load_scenario(write_case(CASES[name](), tmp_path))
    spread = run(scenario, engine="dask")
    local = run(scenario)
    assert spread.summary["levels"] == local.summary["levels"]
    assert spread.summary["after"] == local.summary["after"]


def test_compliance_by_unit_without_codes_uses_the_polygons(tmp_path: Path) -> None:
    """Centers and townships without codes: the compliance summary counts each center in
    the township and county polygon that holds it."""
    case = case_all_columns_dropped()
    plan = run(load_scenario(write_case(case, tmp_path)))
    table = plan.tables["compliance_by_township"]
    centers = case.frames["centers"]
    for scope, kind in (("township_id", "townships"), ("county_id", "counties")):
        units = case.frames[kind]
        inside = [units["id"][units.contains(point)].iloc[0] for point in centers.geometry]
        expected = pd.Series(inside).value_counts().sort_index()
        rows = table[table["scope"] == scope].set_index("key")["centers"].sort_index()
        assert rows.to_dict() == expected.to_dict()
    assert int(table.loc[table["scope"] == "total", "centers"].iloc[0]) == len(centers)


def test_inspection_round_without_codes_stratifies_by_county_polygon(tmp_path: Path) -> None:
    """``planner inspect`` on centers without county or township codes: each stop gets the
    county whose polygon holds it."""
    from planner.pipeline import inspection_plan

    case = case_all_columns_dropped()
    stops, _ = inspection_plan(load_scenario(write_case(case, tmp_path)), sample=6, seed=1)
    assert len(stops) == 6
    counties = case.frames["counties"].to_crs(stops.crs)
    for county, point in zip(stops["county_id"], stops.geometry, strict=True):
        holder = counties.loc[counties["id"] == county]
        assert len(holder) == 1 and holder.contains(point).all()
