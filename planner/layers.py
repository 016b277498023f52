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

from planner import crs as crs_mod
from planner.catchment import unit_of
from planner.errors import PlannerError, Problem, ValidationError
from planner.levels import try_normalize_level
from planner.progress import progress
from planner.readers import OSM_SUFFIXES, RawLayer, read_any, suffix_of
from planner.scenario import LayerSpec, Scenario
from planner.schemas import COLUMN_ALIASES, SCHEMAS, YEAR_RANGE, Column, LayerSchema, parse_bool

_GEOMETRY_TYPES = {
    "point": {"Point"},
    "polygon": {"Polygon", "MultiPolygon"},
    "line": {"LineString", "MultiLineString"},
}
_MAX_LISTED = 20  # problems of one kind listed per layer before they are summarised
#: A point farther than this (km) from the middle of the villages is refused (see
#: :func:`_far_outliers`; a layer spread wider raises the bar to 10× its median spread).
FAR_KM = 1000.0


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
                        count=count - _MAX_LISTED,
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
) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    """Canonical column names; returns the frame and ``canonical → user's column``."""
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
    _check_duplicate_columns(frame, schema, raw, mapping, out)
    taken = set(mapping.values())
    clashes = [c for c in frame.columns if c in taken and c not in mapping]
    frame = frame.rename(columns={c: f"{c}_orig" for c in clashes})
    names = {c: c for c in schema.names if c in frame.columns}
    names.update({canonical: str(source) for source, canonical in mapping.items()})
    return frame.rename(columns=mapping), names


def _check_duplicate_columns(
    frame: gpd.GeoDataFrame,
    schema: LayerSchema,
    raw: RawLayer,
    mapping: dict[str, str],
    out: _Collector,
) -> None:
    """A repeated column name is an error when the planner reads that column, else a note."""
    for name in raw.duplicate_columns:
        used = (
            name in mapping
            or name in (raw.lon_column, raw.lat_column)
            or (name in schema.names and name not in mapping.values())
        )
        copies = [c for c in frame.columns if str(c).startswith(f"{name}.")]
        if used:
            out.add(
                "error",
                f"the column name {name!r} appears {len(copies) + 1} times; "
                "the planner cannot tell which one to use",
                column=name,
                fix="rename or delete the extra columns",
            )
        else:
            out.add(
                "warning",
                f"the column name {name!r} appears {len(copies) + 1} times; the later ones "
                f"are read as {', '.join(map(repr, copies))}",
                column=name,
                fix="give every column its own name",
            )


def _coerce_columns(
    frame: gpd.GeoDataFrame,
    schema: LayerSchema,
    rows: np.ndarray,
    out: _Collector,
    names: dict[str, str],
) -> gpd.GeoDataFrame:
    """Type every canonical column; problems name the user's column (``names``)."""
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
        values, where = frame[col.name], names.get(col.name, col.name)
        if col.dtype == "code":
            frame[col.name] = _as_code(values)
            if col.required:
                out.rows(
                    "error",
                    frame[col.name].isna().to_numpy(),
                    rows,
                    "empty id",
                    column=where,
                    fix="give every feature an id",
                )
        elif col.dtype == "text":
            frame[col.name] = values.astype("string").str.strip()
        elif col.dtype in ("number", "year"):
            frame[col.name] = _coerce_number(values, col, rows, out, where)
        elif col.dtype == "bool":
            parsed = _by_distinct(values, parse_bool)
            bad = (parsed.isna() & values.notna()).to_numpy()
            out.rows(
                "warning",
                bad,
                rows,
                "not a yes/no value: {value!r} (left empty)",
                column=where,
                values=values,
            )
            frame[col.name] = parsed.astype("boolean")
        elif col.dtype == "level":
            levels = _by_distinct(values, try_normalize_level)
            blank = values.astype("string").str.strip().fillna("").eq("").to_numpy()
            out.rows(
                "error",
                blank,
                rows,
                "empty level",
                column=where,
                fix="give every center its level (city, county, township, village …)",
            )
            out.rows(
                "error",
                levels.isna().to_numpy() & ~blank,
                rows,
                "unknown level {value!r}",
                column=where,
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
            column=names.get("id", "id"),
            values=frame["id"],
            fix="ids must be unique within the layer",
        )
    return frame


def _coerce_number(
    values: pd.Series, col: Column, rows: np.ndarray, out: _Collector, where: str
) -> pd.Series:
    """Numbers (or years) of one column; text, non-finite, negative, implausibly large and,
    for a required column, empty cells are reported. Refused values become missing."""
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        text = values.astype("string").str.strip()
        blank = (text.isna() | text.eq("")).to_numpy(dtype=bool)
        values = text.mask(text.eq(""))
    else:
        blank = values.isna().to_numpy(dtype=bool)
    number = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
    with np.errstate(invalid="ignore"):
        checks = [
            (
                "not a number: {value!r}",
                np.isnan(number) & ~blank,
                "write plain numbers (no units or text)",
            ),
            ("not a finite number: {value}", np.isinf(number), "write a plain number"),
            ("negative value: {value}", np.isfinite(number) & (number < 0), ""),
        ]
        if col.maximum is not None:
            checks.append(
                (
                    f"implausibly large: {{value}} (more than {col.maximum:,.0f})",
                    np.isfinite(number) & (number > col.maximum),
                    "check the value and its unit",
                )
            )
        if col.dtype == "year":
            low, high = YEAR_RANGE
            checks.append(
                (
                    "not a year: {value}",
                    np.isfinite(number)
                    & ((number != np.round(number)) | (number < low) | (number > high)),
                    f"write a year between {low} and {high}",
                )
            )
    refused = np.zeros(len(number), dtype=bool)
    for problem, mask, fix in checks:
        out.rows("error", mask, rows, problem, column=where, values=values, fix=fix)
        refused |= mask
    if col.required:
        out.rows(
            "warning",
            blank,
            rows,
            f"{where} is empty; counted as 0",
            column=where,
            fix="fill in the number if it is known",
        )
    number = np.where(refused, np.nan, number)
    series = pd.Series(number, index=values.index)
    return series.astype("Int64") if col.dtype == "year" else series


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
    frame: gpd.GeoDataFrame,
    schema: LayerSchema,
    raw: RawLayer,
    rows: np.ndarray,
    out: _Collector,
    reported: np.ndarray,
) -> gpd.GeoDataFrame:
    """Empty, wrong-type and invalid geometries (rows in ``reported`` are already flagged)."""
    geoms = frame.geometry.values
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    column = raw.lon_column or "geometry"
    out.rows(
        "error",
        empty & ~reported,
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
    out = _Collector(kind, path)
    schema = SCHEMAS[kind]
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
    frame = raw.frame
    if frame.empty:  # an office's empty template: absent unless the run cannot do without
        if kind in _indispensable(scenario):
            out.add("error", "the layer is empty", fix="give it at least one feature")
        else:
            out.add(
                "warning",
                "the layer is empty; the run goes on as if it were absent",
                fix=f"remove [layers.{kind}] or give it features",
            )
        return None, out.finish(), {}
    rows = raw.row_numbers()
    for note in raw.notes:
        out.add(
            "warning", note.problem, row=note.row, column=note.column, fix=note.fix, key="formula"
        )
    frame = frame.reset_index(drop=True)
    frame, names = _rename_columns(frame, spec, schema, raw, out)
    names["geometry"] = raw.lon_column or "geometry"
    frame = _coerce_columns(frame, schema, rows, out, names)
    frame, reported = _clean_coordinates(frame, raw, rows, out)
    frame = _assign_crs(frame, spec, raw, out)
    if frame is None:
        return None, out.finish(), names
    bad = _check_lonlat(frame, raw, rows, out)
    frame.loc[bad, frame.geometry.name] = None
    frame = _remove_offsets(frame, spec, out)
    if frame is None:
        return None, out.finish(), names
    frame = _check_geometry(frame, schema, raw, rows, out, reported | bad)
    frame["_row"] = rows
    return frame, out.finish(), names


def _clean_coordinates(
    frame: gpd.GeoDataFrame, raw: RawLayer, rows: np.ndarray, out: _Collector
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Drop Z (planning is 2-D); report ledger cells that give no point and geometries with
    NaN or infinite coordinates (those become missing). Returns the rows reported."""
    geoms = np.asarray(frame.geometry.values)
    if shapely.has_z(geoms).any():
        geoms = shapely.force_2d(geoms)
    xy, index = shapely.get_coordinates(geoms, return_index=True)
    nonfinite = np.zeros(len(geoms), dtype=bool)
    nonfinite[index[~np.isfinite(xy).all(axis=1)]] = True
    out.rows(
        "error",
        nonfinite,
        rows,
        "coordinates are not finite numbers (NaN or infinity)",
        column="geometry",
        fix="fix or delete the feature's coordinates",
    )
    geoms[nonfinite] = None
    reported = nonfinite
    if raw.lon_column is not None:
        missing = shapely.is_missing(geoms)
        text = pd.Series("", index=frame.index, dtype=object)
        shown = np.flatnonzero(missing)[:_MAX_LISTED]
        lon, lat = frame[raw.lon_column], frame[raw.lat_column]
        text.iloc[shown] = [f"lon={_cell(lon.iloc[i])}, lat={_cell(lat.iloc[i])}" for i in shown]
        out.rows(
            "error",
            missing,
            rows,
            "longitude/latitude missing or not a number ({value})",
            column=raw.lon_column,
            values=text,
            fix="give plain decimal degrees, e.g. 122.2613 and 43.6172",
        )
        reported = reported | missing
    frame = frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs))
    return frame, reported


def _cell(value: object) -> str:
    """A ledger cell as the user typed it ("empty" when blank)."""
    return "empty" if pd.isna(value) or str(value).strip() == "" else repr(value)


def _read_raw(kind: str, path: Path, spec: LayerSpec) -> RawLayer:
    if kind == "roads" and suffix_of(path) in OSM_SUFFIXES:
        from planner.network.graph import read_road_lines

        return RawLayer(read_road_lines(path), row_base=1)
    return read_any(
        path, layer=spec.layer, encoding=spec.encoding, sheet=spec.sheet, lon=spec.lon, lat=spec.lat
    )


def _cross_checks(
    frames: dict[str, gpd.GeoDataFrame],
    sources: dict[str, Path],
    columns: dict[str, dict[str, str]],
) -> list[Problem]:
    """Checks between layers, done in the working CRS; problems name the user's columns."""
    problems: list[Problem] = []
    townships = frames.get("townships")
    if townships is None or townships.empty:
        return problems
    tree = shapely.STRtree(townships.geometry.values)
    for kind in ("villages", "centers", "merged_townships", "candidates"):
        frame = frames.get(kind)
        if frame is None or frame.empty:
            continue
        names = columns.get(kind, {})
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
            column=names.get("geometry", "geometry"),
            fix="check its coordinates and coordinate system",
        )
        if kind == "villages" and "township_id" in frame.columns:
            _township_mismatch(frame, townships, tree, pts, names, out)
        problems += out.finish()
    return problems


def _township_mismatch(
    frame: gpd.GeoDataFrame,
    townships: gpd.GeoDataFrame,
    tree: shapely.STRtree,
    pts: np.ndarray,
    names: dict[str, str],
    out: _Collector,
) -> None:
    """Villages whose stated township is not the township polygon their point lies in."""
    hit_point, hit_poly = tree.query(pts, predicate="within")
    found = pd.Series(pd.NA, index=range(len(frame)), dtype="string")
    found.iloc[hit_point] = townships["id"].to_numpy()[hit_poly]
    label = townships["id"].astype("string")
    if "name" in townships.columns:
        label = label + " " + townships["name"].astype("string").fillna("")
    found_label = pd.Series("", index=range(len(frame)), dtype=object)
    found_label.iloc[hit_point] = label.str.strip().to_numpy()[hit_poly]
    stated = frame["township_id"].reset_index(drop=True)
    differs = (stated.notna() & found.notna() & (stated != found)).to_numpy()
    text = pd.Series("", index=range(len(frame)), dtype=object)
    shown = np.flatnonzero(differs)[:_MAX_LISTED]
    text.iloc[shown] = [
        f"{stated.iloc[i]!r}; the point lies in {found_label.iloc[i]}" for i in shown
    ]
    where = names.get("township_id", "township_id")
    out.rows(
        "warning",
        differs,
        frame["_row"].to_numpy(),
        f"{where} {{value}}",
        column=where,
        values=text,
        fix=f"correct {where} to the township the point lies in, or the point's coordinates "
        '(points copied from Amap/Baidu need coords = "gcj02"/"bd09"); '
        "grids follow the polygon the point lies in",
    )


def _fill_units(frames: dict[str, gpd.GeoDataFrame]) -> None:
    """Give villages and centers the ``township_id`` of the polygon they lie in, and the
    ``county_id`` of that township or else of the county polygon they lie in, where the
    input does not state them."""
    townships, counties = frames.get("townships"), frames.get("counties")
    county_of_township = (
        townships.set_index(townships["id"].astype("string"))["county_id"]
        if townships is not None and "county_id" in townships
        else None
    )
    for kind in ("villages", "centers"):
        frame = frames.get(kind)
        if frame is None:
            continue
        if townships is not None:
            frame["township_id"] = _stated(frame, "township_id").fillna(unit_of(frame, townships))
        if county_of_township is None and counties is None:
            continue
        county = _stated(frame, "county_id")
        if county_of_township is not None:
            county = county.fillna(frame["township_id"].map(county_of_township).astype("string"))
        if counties is not None:
            county = county.fillna(unit_of(frame, counties))
        frame["county_id"] = county


def _stated(frame: gpd.GeoDataFrame, column: str) -> pd.Series:
    """The codes a layer states in ``column`` (all missing when it has no such column)."""
    if column in frame.columns:
        return frame[column].astype("string")
    return pd.Series(pd.NA, index=frame.index, dtype="string")


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


def _lonlat(frame: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude of a point inside each feature (NaN where there is none)."""
    geoms = np.asarray(frame.geometry.values)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    lon, lat = np.full(len(frame), np.nan), np.full(len(frame), np.nan)
    if ok.any():
        pts = gpd.GeoSeries(shapely.point_on_surface(geoms[ok]), crs=frame.crs)
        pts = pts.to_crs("EPSG:4326").values
        with np.errstate(invalid="ignore"):
            lon[ok], lat[ok] = shapely.get_x(pts), shapely.get_y(pts)
    return lon, lat


def _working_crs(scenario: Scenario, frames: dict[str, gpd.GeoDataFrame]) -> pyproj.CRS:
    """The working CRS, from the villages' points (else any layer's) when ``auto``."""
    lon, lat = np.empty(0), np.empty(0)
    for kind in ("villages", "townships", "centers", *frames):
        if kind in frames and crs_mod.out_of_range_lonlat(lon, lat).all():
            lon, lat = _lonlat(frames[kind])
    return crs_mod.working_crs(scenario.scenario.crs, lon, lat)


def _haversine_km(lon: np.ndarray, lat: np.ndarray, lon0: float, lat0: float) -> np.ndarray:
    lon, lat, lon0, lat0 = map(np.radians, (lon, lat, lon0, lat0))
    a = np.sin((lat - lat0) / 2) ** 2 + np.cos(lat) * np.cos(lat0) * np.sin((lon - lon0) / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def _far_outliers(
    frames: dict[str, gpd.GeoDataFrame],
    sources: dict[str, Path],
    columns: dict[str, dict[str, str]],
) -> list[Problem]:
    """Points far from all the villages: an error, and their geometry is dropped.

    The middle is the median longitude/latitude of the villages; a point is far when it
    lies more than ``max(FAR_KM, 10 × the villages' median distance from the middle)`` from
    it (great-circle), so a county's stray point is caught while a national layer, whose
    villages spread over thousands of km, is not.
    """
    villages = frames.get("villages")
    if villages is None:
        return []
    vlon, vlat = _lonlat(villages)
    ok = np.isfinite(vlon) & np.isfinite(vlat) & ~crs_mod.out_of_range_lonlat(vlon, vlat)
    if not ok.any():
        return []
    lon0, lat0 = float(np.median(vlon[ok])), float(np.median(vlat[ok]))
    spread = float(np.median(_haversine_km(vlon[ok], vlat[ok], lon0, lat0)))
    limit = max(FAR_KM, 10 * spread)
    problems: list[Problem] = []
    for kind in ("villages", "centers", "merged_townships", "candidates"):
        frame = frames.get(kind)
        if frame is None:
            continue
        lon, lat = (vlon, vlat) if kind == "villages" else _lonlat(frame)
        with np.errstate(invalid="ignore"):
            km = _haversine_km(lon, lat, lon0, lat0)
            far = np.isfinite(km) & (km > limit)
        out = _Collector(kind, sources[kind])
        text = pd.Series("", index=range(len(frame)), dtype=object)
        shown = np.flatnonzero(far)[:_MAX_LISTED]
        text.iloc[shown] = [f"{km[i]:,.0f} km (lon={lon[i]:.6g}, lat={lat[i]:.6g})" for i in shown]
        out.rows(
            "error",
            far,
            frame["_row"].to_numpy(),
            f"lies {{value}} from the middle of the villages (lon={lon0:.4f}, "
            f"lat={lat0:.4f}); more than {limit:,.0f} km",
            column=columns.get(kind, {}).get("geometry", "geometry"),
            values=text,
            fix="check the coordinates: a typing error, swapped digits or a point from "
            "another region",
        )
        frame.loc[far, frame.geometry.name] = None
        problems += out.finish()
    return problems


def collect_layers(scenario: Scenario, *, kinds: tuple[str, ...] | None = None) -> LayerSet:
    """Read every layer and return them with all problems found (errors included).

    Layers that could not be read are left out of the result; when no working CRS can be
    chosen, no layer is returned, but every problem found so far is.
    """
    frames: dict[str, gpd.GeoDataFrame] = {}
    sources: dict[str, Path] = {}
    columns: dict[str, dict[str, str]] = {}
    problems: list[Problem] = []
    chosen = {k: s for k, s in scenario.layers.items() if kinds is None or k in kinds}
    for kind, spec in progress(chosen.items(), total=len(chosen), desc="read layers"):
        sources[kind] = scenario.path(spec.path)
        frame, found, columns[kind] = read_layer(kind, spec, scenario)
        problems += found
        if frame is not None:
            frames[kind] = frame
    if not frames:
        return LayerSet(pyproj.CRS("EPSG:4326"), frames, sources, problems, columns)
    problems += _far_outliers(frames, sources, columns)
    try:
        working = _working_crs(scenario, frames)
    except PlannerError as exc:
        problems.append(
            Problem(
                "error",
                "scenario",
                "",
                None,
                "",
                str(exc),
                fix="fix the coordinates listed above, or set [scenario] crs to a metric "
                'CRS such as "EPSG:4549"',
            )
        )
        return LayerSet(pyproj.CRS("EPSG:4326"), {}, sources, problems, columns)
    frames = {k: f.to_crs(working) for k, f in frames.items()}
    _split_village_polygons(frames, problems, sources)
    problems += _cross_checks(frames, sources, columns)
    _fill_units(frames)
    _derive_counties(frames)
    return LayerSet(working, frames, sources, problems, columns)


def load_layers(scenario: Scenario, *, kinds: tuple[str, ...] | None = None) -> LayerSet:
    """Read every layer; raise :class:`ValidationError` listing all errors, if any."""
    layers = collect_layers(scenario, kinds=kinds)
    if any(p.severity == "error" for p in layers.problems):
        raise ValidationError(layers.problems)
    return layers
