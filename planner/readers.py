"""Raw reading of input files by format, before any schema is applied.

Vector files go through pyogrio; GeoParquet through geopandas; CSV and Excel ledgers
through pandas, with their longitude/latitude columns turned into points. Text encodings
are honoured or detected so Chinese names never come out garbled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from .errors import PlannerError

VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".fgb", ".kml", ".gml", ".zip")
PARQUET_SUFFIXES = (".parquet", ".geoparquet")
TABLE_SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm", ".xls")
OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".graphml")

LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度", "东经", "经度坐标", "point_x")
LAT_NAMES = ("lat", "latitude", "y", "纬度", "北纬", "纬度坐标", "point_y")
_TEXT_ENCODINGS = ("utf-8-sig", "gb18030")
# Always-UTF-8 formats read through Arrow (several times faster on big layers); others
# (Shapefile, KML, …) keep the row reader, which reports undecodable text.
_ARROW_SUFFIXES = (".gpkg", ".fgb", ".geojson", ".json")


@dataclass(frozen=True)
class RawLayer:
    """A file as read: its frame, and how data rows map to the user's row numbers.

    ``row_base`` is added to the 0-based position to give the row the user sees: 2 for
    spreadsheets and CSV (row 1 is the header), 1 for vector files (feature number).
    """

    frame: gpd.GeoDataFrame
    row_base: int
    lon_column: str | None = None
    lat_column: str | None = None
    encoding: str | None = None


def suffix_of(path: Path) -> str:
    """The format suffix, keeping double suffixes such as ``.osm.pbf``."""
    name = path.name.lower()
    for double in (".osm.pbf", ".osm.bz2"):
        if name.endswith(double):
            return double
    return path.suffix.lower()


def detect_dbf_encoding(shp: Path) -> str:
    """Encoding of a shapefile's attributes: its ``.cpg`` if present, else detected.

    Detection decodes the whole ``.dbf`` as UTF-8 and falls back to GB18030 (a superset
    of GBK), which is what Chinese shapefiles without a ``.cpg`` almost always use.
    """
    cpg = shp.with_suffix(".cpg")
    if not cpg.exists():
        cpg = shp.with_suffix(".CPG")
    if cpg.exists():
        declared = cpg.read_text(encoding="ascii", errors="ignore").strip()
        return _normalise_encoding_name(declared)
    dbf = shp.with_suffix(".dbf")
    if not dbf.exists():
        return "utf-8"
    text = _dbf_text_bytes(dbf.read_bytes())
    for candidate in ("utf-8", "gb18030"):
        try:
            text.decode(candidate)
            return candidate
        except UnicodeDecodeError:
            continue
    return "latin1"


def _dbf_text_bytes(data: bytes) -> bytes:
    """The bytes of a DBF that hold text: field names and records (not the binary header)."""
    header_len = int.from_bytes(data[8:10], "little")
    names = [data[i : i + 11].split(b"\0")[0] for i in range(32, header_len - 1, 32)]
    return b" ".join(names) + data[header_len:].rstrip(b"\x1a")


def _normalise_encoding_name(declared: str) -> str:
    name = declared.lower().replace("_", "-")
    if name in ("936", "cp936", "gbk", "gb2312", "gb-2312", "gb18030", "ansi 936"):
        return "gb18030"
    if name in ("65001", "utf8", "utf-8"):
        return "utf-8"
    return declared


def read_vector(path: Path, *, layer: str | None = None, encoding: str | None = None) -> RawLayer:
    """Read a vector file with pyogrio (GeoParquet with geopandas)."""
    suffix = suffix_of(path)
    if suffix in PARQUET_SUFFIXES:
        return RawLayer(gpd.read_parquet(path), row_base=1)
    if suffix == ".shp" and encoding is None:
        encoding = detect_dbf_encoding(path)
    try:
        frame = pyogrio.read_dataframe(
            path, layer=layer, encoding=encoding, use_arrow=suffix in _ARROW_SUFFIXES
        )
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise PlannerError(f"{path}: cannot read ({_first_line(exc)})") from None
    except UnicodeDecodeError as exc:
        other = "gbk" if exc.encoding.replace("-", "").lower() == "utf8" else "utf-8"
        raise PlannerError(
            f"{path}: attribute text is not {exc.encoding} (as its .cpg or the encoding "
            f'setting says); set encoding = "{other}" in the layer\'s table'
        ) from None
    return RawLayer(frame, row_base=1, encoding=encoding)


def read_table(
    path: Path, *, sheet: str | int | None = None, encoding: str | None = None
) -> tuple[pd.DataFrame, str | None]:
    """Read a CSV or Excel ledger as a plain table (all cells kept as read)."""
    suffix = suffix_of(path)
    if suffix in (".xlsx", ".xlsm", ".xls"):
        try:
            table = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, dtype=object)
        except (ValueError, OSError, KeyError) as exc:
            raise PlannerError(f"{path}: cannot read spreadsheet ({_first_line(exc)})") from None
        return table, None
    for candidate in (encoding,) if encoding else _TEXT_ENCODINGS:
        try:
            return pd.read_csv(
                path, dtype=str, encoding=candidate, keep_default_na=False, na_values=[""]
            ), candidate
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError, LookupError) as exc:
            raise PlannerError(f"{path}: cannot read CSV ({_first_line(exc)})") from None
    raise PlannerError(
        f'{path}: text is neither UTF-8 nor GBK; set encoding = "..." in the layer\'s table'
    )


def find_column(columns: pd.Index, candidates: tuple[str, ...]) -> str | None:
    """The first column whose name (case-insensitive, trimmed) is one of ``candidates``."""
    lookup = {str(c).strip().lower(): c for c in columns}
    for name in candidates:
        if name in lookup:
            return lookup[name]
    return None


def table_to_points(
    table: pd.DataFrame, path: Path, *, lon: str | None, lat: str | None
) -> tuple[gpd.GeoDataFrame, str, str]:
    """Turn a ledger's longitude/latitude columns into points (no CRS assigned yet).

    Cells that are not numbers give empty geometries; validation reports them by row.
    """
    lon_col = lon or find_column(table.columns, LON_NAMES)
    lat_col = lat or find_column(table.columns, LAT_NAMES)
    for given, found, what in ((lon, lon_col, "longitude"), (lat, lat_col, "latitude")):
        if found is None or found not in table.columns:
            hint = f"column {given!r} not found" if given else f"no {what} column found"
            raise PlannerError(
                f"{path}: {hint}; name it lon/lat or 经度/纬度, or map it with "
                f'lon = "..." / lat = "..." in the layer\'s table '
                f"(columns are: {', '.join(map(str, table.columns))})"
            )
    x = pd.to_numeric(table[lon_col], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(table[lat_col], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    geometry = gpd.GeoSeries.from_xy(np.where(ok, x, 0.0), np.where(ok, y, 0.0), index=table.index)
    geometry[~ok] = None
    frame = gpd.GeoDataFrame(table, geometry=geometry, crs=None)
    return frame, str(lon_col), str(lat_col)


def read_any(
    path: Path,
    *,
    layer: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    lon: str | None = None,
    lat: str | None = None,
) -> RawLayer:
    """Read ``path`` in whatever supported format it is.

    Raises
    ------
    PlannerError
        When the file is missing, of an unsupported format, or unreadable.
    """
    if not path.exists():
        raise PlannerError(f"{path}: file not found")
    suffix = suffix_of(path)
    if suffix in TABLE_SUFFIXES:
        table, used = read_table(path, sheet=sheet, encoding=encoding)
        if table.empty:
            return RawLayer(gpd.GeoDataFrame(table, geometry=[]), row_base=2, encoding=used)
        frame, lon_col, lat_col = table_to_points(table, path, lon=lon, lat=lat)
        return RawLayer(frame, row_base=2, lon_column=lon_col, lat_column=lat_col, encoding=used)
    if suffix in VECTOR_SUFFIXES + PARQUET_SUFFIXES:
        return read_vector(path, layer=layer, encoding=encoding)
    raise PlannerError(
        f"{path}: unsupported format {suffix!r}; use GeoPackage, GeoJSON, Shapefile, "
        "FlatGeobuf, GeoParquet, KML, CSV or XLSX (roads also .osm.pbf, .osm, .graphml)"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
