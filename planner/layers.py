"""Read, normalise and validate the input layers of a scenario.

Every layer is read in its own format, its columns are renamed to the canonical names of
its kind (:mod:`planner.schemas`), values are typed, coordinates are brought to WGS84
(GCJ-02/BD-09 offsets removed, Gauss-Krüger zones detected) and then to the working
metric CRS. All problems are collected first and raised once, as one table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from . import crs as crs_mod
from .errors import PlannerError, Problem, ValidationError
from .levels import try_normalize_level
from .progress import progress
from .readers import OSM_SUFFIXES, RawLayer, read_any, suffix_of
from .scenario import LayerSpec, Scenario
from .schemas import COLUMN_ALIASES, SCHEMAS, LayerSchema, parse_bool

_GEOMETRY_TYPES = {
    "point": {"Point"},
    "polygon": {"Polygon", "MultiPolygon"},
    "line": {"LineString", "MultiLineString"},
}
_MAX_LISTED = 20  # problems of one kind listed per layer before they are summarised


@dataclass
class LayerSet:
    """The scenario's layers, normalised, in the working metric CRS."""

    crs: pyproj.CRS
    frames: dict[str, gpd.GeoDataFrame]
    sources: dict[str, Path]
    problems: list[Problem] = field(default_factory=list)

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


class _Collector:
    """Collects problems for one layer, listing at most a few of each kind."""

    def __init__(self, kind: str, path: Path):
        self.kind, self.file = kind, str(path)
        self.problems: list[Problem] = []
        self._counts: dict[tuple[str, str], int] = {}

    def add(
        self,
        severity: str,
        problem: str,
        *,
        row: int | None = None,
        column: str = "",
        fix: str = "",
        key: str | None = None,
    ) -> None:
        tag = (severity, key or problem)
        self._counts[tag] = self._counts.get(tag, 0) + 1
        if self._counts[tag] <= _MAX_LISTED:
            self.problems.append(Problem(severity, self.kind, self.file, row, column, problem, fix))

    def rows(
        self,
        severity: str,
        mask: np.ndarray,
        rows: np.ndarray,
        problem: str,
        *,
        column: str = "",
        fix: str = "",
        values: pd.Series | None = None,
    ) -> None:
        """Add one problem per flagged row (``problem`` may use ``{value}``).

        Only the first few rows of a kind are formatted; the rest are counted.
        """
        flagged = np.flatnonzero(mask)
        if not flagged.size:
            return
        tag = (severity, problem)
        room = max(_MAX_LISTED - self._counts.get(tag, 0), 0)
        for pos in flagged[:room]:
            text = problem.format(value=values.iloc[pos] if values is not None else "")
            self.problems.append(
                Problem(severity, self.kind, self.file, int(rows[pos]), column, text, fix)
            )
        self._counts[tag] = self._counts.get(tag, 0) + flagged.size

    def finish(self) -> list[Problem]:
        for (severity, key), count in self._counts.items():
            if count > _MAX_LISTED:
                self.problems.append(
                    Problem(
                        severity,
                        self.kind,
                        self.file,
                        None,
                        "",
                        f"... and {count - _MAX_LISTED} more rows with: {key.format(value='…')}",
                    )
                )
        return self.problems


def _float_codes(values: pd.Series) -> pd.Series:
    """Float cells as code text: whole numbers without ``.0`` (``-0.0`` → ``"0"``)."""
    number = values.to_numpy(dtype=float, na_value=np.nan)
    whole = np.isfinite(number) & (number == np.round(number)) & (np.abs(number) < 2**53)
    digits = np.where(whole, number, 0).astype(np.int64).astype(str)
    text = np.where(whole, digits, number.astype(str))
    return pd.Series(text, index=values.index, dtype=object).where(~np.isnan(number))


def _as_code(values: pd.Series) -> pd.Series:
    """Identifier cells as text: ``150521100001.0`` and ``150521100001`` both become
    ``"150521100001"``; blanks become missing."""
    if pd.api.types.is_float_dtype(values.dtype):
        values = _float_codes(values)
    elif values.dtype == object:
        floats = np.fromiter((isinstance(v, float) for v in values), bool, len(values))
        if floats.any():
            values = values.copy()
            values[floats] = _float_codes(values[floats].astype(float))
    text = values.astype("string").str.strip()
    text = text.str.replace(r"^(\d+)\.0$", r"\1", regex=True)
    return text.mask(text == "")


def _by_distinct(values: pd.Series, parse: Callable[[object], object]) -> pd.Series:
    """``parse`` applied once per distinct non-missing value (missing stays missing)."""
    codes, uniques = pd.factorize(values)
    parsed = np.array([parse(u) for u in uniques] + [None], dtype=object)
    return pd.Series(parsed[codes], index=values.index, dtype=object)


def _rename_columns(
    frame: gpd.GeoDataFrame, spec: LayerSpec, schema: LayerSchema, raw: RawLayer, out: _Collector
) -> gpd.GeoDataFrame:
    mapping: dict[str, str] = {}
    for canonical, source in spec.columns.items():
        if canonical not in schema.names:
            out.add(
                "error",
                f"unknown column mapping {canonical!r} for layer kind {schema.kind!r}",
                fix=f"use one of: {', '.join(schema.names)}",
            )
        elif source not in frame.columns:
            out.add(
                "error",
                f"mapped column {source!r} (for {canonical}) not found",
                column=source,
                fix=f"columns present: {', '.join(map(str, frame.columns))}",
            )
        else:
            mapping[source] = canonical
    lookup = {str(c).strip().lower(): c for c in frame.columns}
    for col in schema.columns:
        if col.name in mapping.values() or col.name in frame.columns:
            continue
        for alias in COLUMN_ALIASES.get(col.name, ()):
            source = lookup.get(alias.lower())
            if (
                source is not None
                and source not in mapping
                and source not in (raw.lon_column, raw.lat_column)
            ):
                mapping[source] = col.name
                break
    taken = set(mapping.values())
    clashes = [c for c in frame.columns if c in taken and c not in mapping]
    frame = frame.rename(columns={c: f"{c}_orig" for c in clashes})
    return frame.rename(columns=mapping)


def _coerce_columns(
    frame: gpd.GeoDataFrame, schema: LayerSchema, rows: np.ndarray, out: _Collector
) -> gpd.GeoDataFrame:
    for col in schema.columns:
        if col.name not in frame.columns:
            if col.required:
                out.add(
                    "error",
                    f"required column {col.name!r} is missing",
                    column=col.name,
                    fix=f'add it, or map it with {col.name} = "<source column>"',
                )
            continue
        values = frame[col.name]
        if col.dtype == "code":
            frame[col.name] = _as_code(values)
            if col.required:
                out.rows(
                    "error",
                    frame[col.name].isna().to_numpy(),
                    rows,
                    "empty id",
                    column=col.name,
                    fix="give every feature an id",
                )
        elif col.dtype == "text":
            frame[col.name] = values.astype("string").str.strip()
        elif col.dtype in ("number", "year"):
            number = pd.to_numeric(values, errors="coerce")
            bad = (number.isna() & values.notna()).to_numpy()
            if values.dtype == object or pd.api.types.is_string_dtype(values):
                bad = bad & values.astype("string").str.strip().fillna("").ne("").to_numpy()
            out.rows(
                "error",
                bad,
                rows,
                "not a number: {value!r}",
                column=col.name,
                values=values,
                fix="write plain numbers (no units or text)",
            )
            out.rows(
                "error",
                (number < 0).fillna(False).to_numpy(),
                rows,
                "negative value: {value}",
                column=col.name,
                values=values,
            )
            frame[col.name] = number.astype("Int64" if col.dtype == "year" else float)
        elif col.dtype == "bool":
            parsed = _by_distinct(values, parse_bool)
            bad = (parsed.isna() & values.notna()).to_numpy()
            out.rows(
                "warning",
                bad,
                rows,
                "not a yes/no value: {value!r} (left empty)",
                column=col.name,
                values=values,
            )
            frame[col.name] = parsed.astype("boolean")
        elif col.dtype == "level":
            levels = _by_distinct(values, try_normalize_level)
            bad = levels.isna().to_numpy()
            out.rows(
                "error",
                bad,
                rows,
                "unknown level {value!r}",
                column=col.name,
                values=values,
                fix="use city, county, township, subcenter, village, "
                "station or a Chinese alias (县级, 乡镇, 村, 社区, 分中心, 驿站 …)",
            )
            frame[col.name] = levels.astype("string")
    if schema.unique_id and "id" in frame.columns:
        dup = frame["id"].duplicated(keep=False) & frame["id"].notna()
        out.rows(
            "error",
            dup.to_numpy(),
            rows,
            "duplicate id {value!r}",
            column="id",
            values=frame["id"],
            fix="ids must be unique within the layer",
        )
    return frame


def _remove_offsets(
    frame: gpd.GeoDataFrame, spec: LayerSpec, out: _Collector
) -> gpd.GeoDataFrame | None:
    """Remove GCJ-02/BD-09 offsets when declared (the layer comes back in WGS84); any
    other layer keeps its own CRS, so it is reprojected once, into the working CRS."""
    coords = spec.coords
    if coords in ("gcj02", "bd09"):
        if not frame.crs.is_geographic:
            out.add(
                "error",
                f'coords = "{coords}" needs longitude/latitude, but the file '
                f"is in a projected CRS ({frame.crs.name})",
                fix="remove coords",
            )
            return None
        return crs_mod.to_wgs84(frame.to_crs("EPSG:4326"), coords)
    return frame


def _assign_crs(
    frame: gpd.GeoDataFrame, spec: LayerSpec, raw: RawLayer, out: _Collector
) -> gpd.GeoDataFrame | None:
    """Give the layer its CRS: declared, stored, implied by lon/lat columns or detected."""
    coords = spec.coords
    if spec.crs is not None:
        frame = frame.set_crs(_parse_crs(spec.crs, out), allow_override=True)
    elif frame.crs is None:
        bounds = frame.geometry.dropna()
        x, y = shapely.get_coordinates(bounds.values).T if len(bounds) else (np.empty(0),) * 2
        if raw.lon_column is not None or (coords and crs_mod.looks_geographic(x, y)):
            frame = frame.set_crs("EPSG:4326")
        elif (zone := crs_mod.detect_gauss_kruger(x, y)) is not None:
            frame = frame.set_crs(zone)
            out.add(
                "warning",
                f"no CRS in the file; 8-digit eastings say Gauss-Krüger zone EPSG:{zone}",
                fix=f'declare crs = "EPSG:{zone}" to silence this',
            )
        else:
            out.add(
                "error",
                "the file has no CRS and none is declared",
                fix='add crs = "EPSG:4490" (or the right code) to the layer\'s table',
            )
            return None
    return frame


def _parse_crs(value: str | int, out: _Collector) -> pyproj.CRS:
    try:
        return pyproj.CRS.from_user_input(value)
    except pyproj.exceptions.CRSError:
        raise PlannerError(f"{out.file}: unknown CRS {value!r}") from None


def _check_geometry(
    frame: gpd.GeoDataFrame, schema: LayerSchema, raw: RawLayer, rows: np.ndarray, out: _Collector
) -> gpd.GeoDataFrame:
    geoms = frame.geometry.values
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    column = raw.lon_column or "geometry"
    out.rows(
        "error",
        empty,
        rows,
        "empty or missing geometry",
        column=column,
        fix="give every feature a location",
    )
    types = np.asarray(shapely.get_type_id(geoms))
    names = np.array(
        [
            "Point",
            "LineString",
            "LinearRing",
            "Polygon",
            "MultiPoint",
            "MultiLineString",
            "MultiPolygon",
            "GeometryCollection",
        ]
    )
    type_names = np.where(types >= 0, names[np.clip(types, 0, 7)], "")
    wanted = _GEOMETRY_TYPES[schema.geometry]
    if schema.kind == "villages":
        wanted = wanted | _GEOMETRY_TYPES["polygon"]
    wrong = ~empty & ~np.isin(type_names, list(wanted))
    out.rows(
        "error",
        wrong,
        rows,
        "wrong geometry type {value}",
        column="geometry",
        values=pd.Series(type_names),
        fix=f"a {schema.kind} layer holds {schema.geometry}s",
    )
    invalid = ~empty & ~wrong & ~shapely.is_valid(geoms)
    if invalid.any():
        reasons = pd.Series(shapely.is_valid_reason(geoms[invalid]))
        out.rows(
            "warning",
            invalid[invalid],
            rows[invalid],
            "invalid geometry ({value}); repaired with make_valid",
            column="geometry",
            values=reasons,
        )
        fixed = shapely.make_valid(geoms[invalid])
        if schema.geometry == "polygon":
            fixed = _polygonal_part(fixed)
        geoms = geoms.copy()
        geoms[invalid] = fixed
        frame = frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs))
    if schema.geometry == "point" and schema.kind != "villages":
        multi = type_names == "MultiPoint"
        if multi.any():
            frame.loc[multi, frame.geometry.name] = frame.geometry[multi].centroid
    return frame


def _polygonal_part(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygonal part of repaired geometries (make_valid may add lines)."""
    parts, index = shapely.get_parts(geoms, return_index=True)
    keep = np.isin(shapely.get_type_id(parts), (3, 6))
    collected = shapely.multipolygons(parts[keep], indices=index[keep])
    result = np.full(len(geoms), None, dtype=object)
    result[np.unique(index[keep])] = collected
    return np.array(
        [
            g if g is None or len(shapely.get_parts(g)) > 1 else shapely.get_parts(g)[0]
            for g in result
        ],
        dtype=object,
    )


def _check_lonlat(
    frame: gpd.GeoDataFrame, raw: RawLayer, rows: np.ndarray, out: _Collector
) -> np.ndarray:
    """Flag swapped and out-of-range longitude/latitude; returns the rows to drop."""
    if not frame.crs.is_geographic or not len(frame):
        return np.zeros(len(frame), dtype=bool)
    pts = frame.geometry.values
    ok = ~(shapely.is_missing(pts) | shapely.is_empty(pts))
    x, y = np.full(len(frame), np.nan), np.full(len(frame), np.nan)
    box = shapely.bounds(pts[ok])  # a point's box is the point itself
    x[ok], y[ok] = (box[:, 0] + box[:, 2]) / 2, (box[:, 1] + box[:, 3]) / 2
    swapped = ok & crs_mod.looks_swapped_lonlat(x, y)
    out_of_range = ok & ~swapped & crs_mod.out_of_range_lonlat(x, y)
    where = raw.lon_column or "geometry"
    coords = _lonlat_text(x, y, [swapped, out_of_range])
    out.rows(
        "error",
        swapped,
        rows,
        "longitude and latitude look swapped ({value})",
        column=where,
        values=coords,
        fix="swap the two columns (or the mapping)",
    )
    out.rows(
        "error",
        out_of_range,
        rows,
        "coordinates out of range ({value})",
        column=where,
        values=coords,
        fix="longitude must be in [-180, 180], latitude in [-90, 90]",
    )
    return swapped | out_of_range


def _lonlat_text(x: np.ndarray, y: np.ndarray, masks: list[np.ndarray]) -> pd.Series:
    """``lon=…, lat=…`` texts for the rows a problem list shows (the first few per mask)."""
    text = pd.Series("", index=range(len(x)), dtype=object)
    shown = np.unique(np.concatenate([np.flatnonzero(m)[:_MAX_LISTED] for m in masks]))
    text.iloc[shown] = [f"lon={x[i]:.6g}, lat={y[i]:.6g}" for i in shown]
    return text


def read_layer(
    kind: str, spec: LayerSpec, scenario: Scenario
) -> tuple[gpd.GeoDataFrame | None, list[Problem]]:
    """Read one layer with canonical columns, GCJ-02/BD-09 offsets removed.

    Returns the frame (``None`` when it cannot be used at all) and the problems found.
    """
    path = scenario.path(spec.path)
    out = _Collector(kind, path)
    schema = SCHEMAS[kind]
    try:
        raw = _read_raw(kind, path, spec)
    except PlannerError as exc:
        out.add("error", str(exc).removeprefix(f"{path}: "), fix="check the path and format")
        return None, out.finish()
    frame = raw.frame
    if frame.empty:
        out.add("error", "the layer is empty", fix="give it at least one feature")
        return None, out.finish()
    rows = np.arange(len(frame)) + raw.row_base
    frame = frame.reset_index(drop=True)
    frame = _rename_columns(frame, spec, schema, raw, out)
    frame = _coerce_columns(frame, schema, rows, out)
    frame = _assign_crs(frame, spec, raw, out)
    if frame is None:
        return None, out.finish()
    bad = _check_lonlat(frame, raw, rows, out)
    frame.loc[bad, frame.geometry.name] = None
    frame = _remove_offsets(frame, spec, out)
    if frame is None:
        return None, out.finish()
    frame = _check_geometry(frame, schema, raw, rows, out)
    frame["_row"] = rows
    return frame, out.finish()


def _read_raw(kind: str, path: Path, spec: LayerSpec) -> RawLayer:
    if kind == "roads" and suffix_of(path) in OSM_SUFFIXES:
        from .network import read_road_lines

        if not path.exists():
            raise PlannerError(f"{path}: file not found")
        return RawLayer(read_road_lines(path), row_base=1)
    return read_any(
        path, layer=spec.layer, encoding=spec.encoding, sheet=spec.sheet, lon=spec.lon, lat=spec.lat
    )


def _cross_checks(frames: dict[str, gpd.GeoDataFrame], sources: dict[str, Path]) -> list[Problem]:
    """Checks between layers, done in the working CRS."""
    problems: list[Problem] = []
    townships = frames.get("townships")
    if townships is None or townships.empty:
        return problems
    tree = shapely.STRtree(townships.geometry.values)
    for kind in ("villages", "centers", "merged_townships", "candidates"):
        frame = frames.get(kind)
        if frame is None or frame.empty:
            continue
        out = _Collector(kind, sources[kind])
        pts = shapely.point_on_surface(frame.geometry.values)
        located = ~(shapely.is_missing(pts) | shapely.is_empty(pts))
        inside = ~located
        inside[tree.query(pts, predicate="intersects")[0]] = True
        what = (
            "village lies in no township"
            if kind == "villages"
            else "point lies outside the region's township boundaries"
        )
        out.rows(
            "warning",
            ~inside,
            frame["_row"].to_numpy(),
            what,
            column="geometry",
            fix="check its coordinates and coordinate system",
        )
        if kind == "villages" and "township_id" in frame.columns:
            hit_point, hit_poly = tree.query(pts, predicate="within")
            found = pd.Series(pd.NA, index=range(len(frame)), dtype="string")
            found.iloc[hit_point] = townships["id"].to_numpy()[hit_poly]
            stated = frame["township_id"].reset_index(drop=True)
            differs = (stated.notna() & found.notna() & (stated != found)).to_numpy()
            out.rows(
                "warning",
                differs,
                frame["_row"].to_numpy(),
                "township_id {value} differs from the township the point lies in",
                column="township_id",
                values=stated,
            )
        problems += out.finish()
    return problems


def _fill_units(frames: dict[str, gpd.GeoDataFrame]) -> None:
    """Give villages and centers the ``township_id`` of the polygon they lie in, and the
    ``county_id`` of that township, where the input does not state them."""
    townships = frames.get("townships")
    if townships is None:
        return
    county = townships.set_index("id")["county_id"] if "county_id" in townships else None
    for kind in ("villages", "centers"):
        frame = frames.get(kind)
        if frame is None:
            continue
        joined = gpd.sjoin(
            frame[[frame.geometry.name]],
            townships[["id", "geometry"]],
            how="left",
            predicate="within",
        )
        found = joined.loc[~joined.index.duplicated(), "id"].astype("string")
        stated = frame["township_id"] if "township_id" in frame else None
        frame["township_id"] = found if stated is None else stated.fillna(found)
        if county is not None:
            derived = frame["township_id"].map(county).astype("string")
            stated = frame["county_id"] if "county_id" in frame else None
            frame["county_id"] = derived if stated is None else stated.fillna(derived)


def _derive_counties(frames: dict[str, gpd.GeoDataFrame]) -> None:
    townships = frames.get("townships")
    if "counties" in frames or townships is None or "county_id" not in townships.columns:
        return
    known = townships[townships["county_id"].notna()]
    if known.empty:
        return
    columns = ["county_id", "geometry"] + (["county_name"] if "county_name" in known else [])
    counties = known[columns].dissolve(by="county_id", as_index=False, aggfunc="first")
    counties = counties.rename(columns={"county_id": "id", "county_name": "name"})
    keep = [c for c in ("id", "name") if c in counties.columns]
    frames["counties"] = counties[[*keep, "geometry"]]


def _split_village_polygons(
    frames: dict[str, gpd.GeoDataFrame], out: list[Problem], sources: dict[str, Path]
) -> None:
    """Villages given as polygons: a point inside each for coverage, polygons as areas."""
    villages = frames.get("villages")
    if villages is None or not villages.geom_type.isin(["Polygon", "MultiPolygon"]).any():
        return
    if "village_areas" not in frames:
        frames["village_areas"] = (
            villages[["id", "name", "geometry"]].copy()
            if "name" in villages.columns
            else villages[["id", "geometry"]].copy()
        )
    points = villages.geometry.where(
        villages.geom_type == "Point", villages.geometry.point_on_surface()
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


def _working_crs(scenario: Scenario, frames: dict[str, gpd.GeoDataFrame]) -> pyproj.CRS:
    anchor = next(
        (frames[k] for k in ("villages", "townships", "centers") if k in frames),
        next(iter(frames.values())),
    )
    pts = gpd.GeoSeries(shapely.point_on_surface(anchor.geometry.dropna().values), crs=anchor.crs)
    pts = pts.to_crs("EPSG:4326").values
    return crs_mod.working_crs(scenario.scenario.crs, shapely.get_x(pts), shapely.get_y(pts))


def collect_layers(scenario: Scenario, *, kinds: tuple[str, ...] | None = None) -> LayerSet:
    """Read every layer and return them with all problems found (errors included).

    Layers that could not be read are left out of the result.
    """
    frames: dict[str, gpd.GeoDataFrame] = {}
    sources: dict[str, Path] = {}
    problems: list[Problem] = []
    chosen = {k: s for k, s in scenario.layers.items() if kinds is None or k in kinds}
    for kind, spec in progress(chosen.items(), total=len(chosen), desc="read layers"):
        sources[kind] = scenario.path(spec.path)
        frame, found = read_layer(kind, spec, scenario)
        problems += found
        if frame is not None:
            frames[kind] = frame
    if not frames:
        return LayerSet(pyproj.CRS("EPSG:4326"), frames, sources, problems)
    working = _working_crs(scenario, frames)
    frames = {k: f.to_crs(working) for k, f in frames.items()}
    _split_village_polygons(frames, problems, sources)
    problems += _cross_checks(frames, sources)
    _fill_units(frames)
    _derive_counties(frames)
    return LayerSet(working, frames, sources, problems)


def load_layers(scenario: Scenario, *, kinds: tuple[str, ...] | None = None) -> LayerSet:
    """Read every layer; raise :class:`ValidationError` listing all errors, if any."""
    layers = collect_layers(scenario, kinds=kinds)
    if any(p.severity == "error" for p in layers.problems):
        raise ValidationError(layers.problems)
    return layers
