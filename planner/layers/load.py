"""Reading a scenario's layers into one :class:`LayerSet` (see :mod:`planner.layers`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from planner import crs as crs_mod
from planner.errors import PlannerError, Problem, ValidationError
from planner.layers.columns import coerce_columns, rename_columns
from planner.layers.cross_checks import cross_checks, far_outliers, feature_lonlat
from planner.layers.geometry import (
    assign_crs,
    check_geometry,
    check_lonlat,
    clean_coordinates,
    remove_offsets,
)
from planner.layers.problems import LayerProblems
from planner.layers.readers import OSM_SUFFIXES, RawLayer, read_any, suffix_of
from planner.layers.units import derive_counties, fill_units
from planner.progress import progress
from planner.scenario.model import LayerSpec, Scenario
from planner.schemas import SCHEMAS


@dataclass
class LayerSet:
    """The scenario's layers, normalised, in the working metric CRS."""

    crs: pyproj.CRS
    frames: dict[str, gpd.GeoDataFrame]
    sources: dict[str, Path]
    problems: list[Problem] = field(default_factory=list)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per layer kind: canonical column name → the user's column it was read from."""

    def get(self, kind: str) -> gpd.GeoDataFrame | None:
        """The layer of ``kind``, or ``None`` when the scenario has none."""
        return self.frames.get(kind)

    def __getitem__(self, kind: str) -> gpd.GeoDataFrame:
        if kind not in self.frames:
            raise PlannerError(f"this step needs a [layers.{kind}] layer in the scenario")
        return self.frames[kind]

    def __contains__(self, kind: str) -> bool:
        return kind in self.frames

    @property
    def warnings(self) -> list[Problem]:
        """Problems that did not stop the run."""
        return [p for p in self.problems if p.severity == "warning"]


def _indispensable(scenario: Scenario) -> set[str]:
    """Layer kinds a run cannot do without: the villages, roads for road levels, and the
    candidate layer when stations are sited on it."""
    kinds = {"villages"}
    if any(spec.mode == "network" for spec in scenario.levels.values()):
        kinds.add("roads")
    stations = scenario.siting.stations
    if stations.enabled and stations.candidates == "candidates":
        kinds.add("candidates")
    return kinds


def read_layer(
    kind: str, spec: LayerSpec, scenario: Scenario
) -> tuple[gpd.GeoDataFrame | None, list[Problem], dict[str, str]]:
    """Read one layer with canonical columns, GCJ-02/BD-09 offsets removed.

    Returns the frame (``None`` when it cannot be used at all), the problems found, and
    ``canonical column → the user's column`` (``geometry`` → the longitude column of a
    ledger), so later checks can name the user's own column.
    """
    path = scenario.path(spec.path)
    out = LayerProblems(kind, path)
    try:
        raw = _read_raw(kind, path, spec)
    except PlannerError as exc:
        out.add(
            "error",
            str(exc).removeprefix(f"{path}: "),
            column=exc.column,
            fix=exc.fix or "check the path and format",
        )
        return None, out.finish(), {}
    if raw.frame.empty:  # an office's empty template: absent unless the run cannot do without
        if kind in _indispensable(scenario):
            out.add("error", "the layer is empty", fix="give it at least one feature")
        else:
            out.add(
                "warning",
                "the layer is empty; the run goes on as if it were absent",
                fix=f"remove [layers.{kind}] or give it features",
            )
        return None, out.finish(), {}
    frame, names = _normalise(kind, spec, raw, out)
    return frame, out.finish(), names


def _normalise(
    kind: str, spec: LayerSpec, raw: RawLayer, out: LayerProblems
) -> tuple[gpd.GeoDataFrame | None, dict[str, str]]:
    """Canonical columns, typed values, a CRS, WGS84 coordinates and checked geometries
    of a layer read; ``None`` for the frame when it has no usable CRS."""
    schema = SCHEMAS[kind]
    rows = raw.row_numbers()
    for note in raw.notes:
        out.add(
            "warning", note.problem, row=note.row, column=note.column, fix=note.fix, key="formula"
        )
    frame = raw.frame.reset_index(drop=True)
    frame, names = rename_columns(frame, spec.columns, schema, raw, out)
    names["geometry"] = raw.lon_column or "geometry"
    frame = coerce_columns(frame, schema, rows, out, names)
    frame, reported = clean_coordinates(frame, raw, rows, out)
    frame = assign_crs(frame, raw, out, crs=spec.crs, coords=spec.coords)
    if frame is None:
        return None, names
    bad = check_lonlat(frame, raw, rows, out)
    frame.loc[bad, frame.geometry.name] = None
    frame = remove_offsets(frame, spec.coords, out)
    if frame is None:
        return None, names
    frame = check_geometry(frame, schema, raw, rows, out, reported | bad)
    frame["_row"] = rows
    return frame, names


def _read_raw(kind: str, path: Path, spec: LayerSpec) -> RawLayer:
    if kind == "roads" and suffix_of(path) in OSM_SUFFIXES:
        from planner.network import read_road_lines

        return RawLayer(read_road_lines(path), row_base=1)
    return read_any(
        path, layer=spec.layer, encoding=spec.encoding, sheet=spec.sheet, lon=spec.lon, lat=spec.lat
    )


def _split_village_polygons(
    frames: dict[str, gpd.GeoDataFrame], out: list[Problem], sources: dict[str, Path]
) -> None:
    """Villages given as polygons: a point inside each for coverage, polygons as areas."""
    villages = frames.get("villages")
    if villages is None or not villages.geom_type.isin(["Polygon", "MultiPolygon"]).any():
        return
    if "village_areas" not in frames:  # each area keeps the source row it was read from
        keep = [c for c in ("id", "name", "_row") if c in villages.columns]
        frames["village_areas"] = villages[[*keep, "geometry"]].copy()
    points = villages.geometry.where(
        villages.geom_type == "Point", villages.geometry.representative_point()
    )
    frames["villages"] = villages.set_geometry(points)
    out.append(
        Problem(
            "warning",
            "villages",
            str(sources["villages"]),
            None,
            "geometry",
            "villages are polygons; a point inside each is used for distances "
            "and the polygons serve as village areas",
        )
    )


def _working_crs(setting: str | int, frames: dict[str, gpd.GeoDataFrame]) -> pyproj.CRS:
    """The working CRS, from the villages' points (else any layer's) when ``auto``."""
    lon, lat = np.empty(0), np.empty(0)
    for kind in ("villages", "townships", "centers", *frames):
        if kind in frames and crs_mod.out_of_range_lonlat(lon, lat).all():
            lon, lat = feature_lonlat(frames[kind])
    return crs_mod.working_crs(setting, lon, lat)


def _to_crs(frame: gpd.GeoDataFrame, crs: pyproj.CRS) -> gpd.GeoDataFrame:
    """``frame.to_crs(crs)``; a layer of points is reprojected from its coordinate arrays
    (several times faster than rewriting each geometry's coordinates)."""
    geoms = np.asarray(frame.geometry.values)
    points = shapely.get_type_id(geoms) == 0
    others = ~points & ~shapely.is_missing(geoms)
    if frame.crs.is_exact_same(crs) or not points.any() or others.any():
        return frame.to_crs(crs)
    points &= ~shapely.is_empty(geoms)
    x, y = pyproj.Transformer.from_crs(frame.crs, crs, always_xy=True).transform(
        shapely.get_x(geoms[points]), shapely.get_y(geoms[points])
    )
    moved = geoms.copy()
    moved[points] = shapely.points(x, y)
    return frame.set_geometry(gpd.GeoSeries(moved, index=frame.index, crs=crs))


def _no_working_crs(exc: PlannerError) -> Problem:
    return Problem(
        "error",
        "scenario",
        "",
        None,
        "",
        str(exc),
        fix="fix the coordinates listed above, or set [scenario] crs to a metric "
        'CRS such as "EPSG:4549"',
    )


def _read_layers(scenario: Scenario, kinds: tuple[str, ...] | None) -> LayerSet:
    """Every layer read on its own, still in its own CRS (the set's CRS is a placeholder)."""
    layers = LayerSet(pyproj.CRS("EPSG:4326"), {}, {})
    chosen = {k: s for k, s in scenario.layers.items() if kinds is None or k in kinds}
    for kind, spec in progress(chosen.items(), total=len(chosen), desc="read layers"):
        layers.sources[kind] = scenario.path(spec.path)
        frame, found, names = read_layer(kind, spec, scenario)
        layers.columns[kind] = names
        layers.problems += found
        if frame is not None:
            layers.frames[kind] = frame
    return layers


def collect_layers(scenario: Scenario, *, kinds: tuple[str, ...] | None = None) -> LayerSet:
    """Read every layer and return them with all problems found (errors included).

    Layers that could not be read are left out of the result; when no working CRS can be
    chosen, no layer is returned, but every problem found so far is.
    """
    read = _read_layers(scenario, kinds)
    if not read.frames:
        return read
    sources, problems, columns = read.sources, read.problems, read.columns
    problems += far_outliers(read.frames, sources, columns)
    try:
        working = _working_crs(scenario.scenario.crs, read.frames)
    except PlannerError as exc:
        problems.append(_no_working_crs(exc))
        return LayerSet(pyproj.CRS("EPSG:4326"), {}, sources, problems, columns)
    frames = {k: _to_crs(f, working) for k, f in read.frames.items()}
    _split_village_polygons(frames, problems, sources)
    problems += cross_checks(frames, sources, columns)
    fill_units(frames)
    derive_counties(frames)
    return LayerSet(working, frames, sources, problems, columns)


def load_layers(scenario: Scenario, *, kinds: tuple[str, ...] | None = None) -> LayerSet:
    """Read every layer; raise :class:`ValidationError` listing all errors, if any."""
    layers = collect_layers(scenario, kinds=kinds)
    if any(p.severity == "error" for p in layers.problems):
        raise ValidationError(layers.problems)
    return layers
