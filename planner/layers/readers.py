"""Raw reading of input files by format, before any schema is applied.

Vector files go through pyogrio; GeoParquet through geopandas; CSV and Excel ledgers
through pandas (:mod:`planner.layers.ledgers`, :mod:`planner.layers.workbooks`), with their
longitude/latitude columns turned into points. Text encodings are honoured or detected so
Chinese names never come out garbled.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow
import pyarrow.parquet as pq
import pyogrio

from planner.errors import PlannerError
from planner.layers.ledgers import RAW_CELLS, Ledger, Note, first_line, ledger_from_cells
from planner.layers.workbooks import read_workbook

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

_BINARY = (pyarrow.binary(), pyarrow.large_binary())
#: Arrow-to-pandas options of :func:`read_vector`: binary columns (the WKB geometry) stay
#: in Arrow, which spares a Python ``bytes`` object per feature on the way to pandas.
_ARROW_TO_PANDAS = {"types_mapper": {t: pd.ArrowDtype(t) for t in _BINARY}.get}

#: Largest CSV/TXT ledger read, in bytes (a village ledger of a whole country is ~100 MB).
MAX_TEXT_BYTES = 2 << 30


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
    rows: np.ndarray | None = None
    duplicate_columns: tuple[str, ...] = ()
    notes: tuple[Note, ...] = ()

    def row_numbers(self) -> np.ndarray:
        """The user's row number of every row of :attr:`frame`."""
        if self.rows is not None:
            return self.rows
        return np.arange(len(self.frame)) + self.row_base


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


def require_regular_file(path: Path) -> None:
    """Refuse a missing path, a folder, a FIFO, a socket or a device without opening it.

    Raises
    ------
    PlannerError
        When ``path`` is not an existing regular file (a FIFO would block the reader forever).
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise PlannerError(f"{path}: file not found") from None
    except OSError as exc:
        raise PlannerError(f"{path}: cannot open ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise PlannerError(f"{path}: is a folder, not a file; give the file inside it")
    if not stat.S_ISREG(mode):
        raise PlannerError(
            f"{path}: is not a regular file (a pipe, socket or device); give a file on disk"
        )


def check_encoding(path: Path, encoding: str | None) -> None:
    """Refuse an ``encoding`` setting that is not a text encoding Python knows (``rot13``)."""
    if encoding is None:
        return
    try:
        b"a".decode(encoding)  # not b"": empty input skips the codec check
    except (LookupError, TypeError, ValueError):
        raise PlannerError(
            f'{path}: encoding = "{encoding}" is not a known text encoding',
            fix='use "utf-8" or "gbk" (or leave it out: it is detected)',
        ) from None


def read_vector(path: Path, *, layer: str | None = None, encoding: str | None = None) -> RawLayer:
    """Read a vector file with pyogrio (GeoParquet with geopandas)."""
    suffix = suffix_of(path)
    if suffix in PARQUET_SUFFIXES:
        return read_parquet(path)
    if suffix == ".shp" and encoding is None:
        encoding = detect_dbf_encoding(path)
    try:
        with np.errstate(invalid="ignore"):  # NaN coordinates are reported per row later
            arrow = suffix in _ARROW_SUFFIXES and not encoding  # Arrow reads UTF-8 only
            frame = pyogrio.read_dataframe(
                path,
                layer=layer,
                encoding=encoding,
                use_arrow=arrow,
                arrow_to_pandas_kwargs=_ARROW_TO_PANDAS if arrow else None,
            )
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise PlannerError(f"{path}: cannot read ({first_line(exc)})") from None
    except UnicodeDecodeError as exc:
        other = "gbk" if exc.encoding.replace("-", "").lower() == "utf8" else "utf-8"
        raise PlannerError(
            f"{path}: attribute text is not {exc.encoding} (as its .cpg or the encoding "
            f'setting says); set encoding = "{other}" in the layer\'s table'
        ) from None
    return RawLayer(_binary_as_bytes(frame), row_base=1, encoding=encoding)


def _binary_as_bytes(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Binary attribute columns as ``bytes`` objects (``None`` when missing), as the
    default Arrow conversion gives them (:data:`_ARROW_TO_PANDAS` keeps them in Arrow)."""
    for name in frame.columns[frame.dtypes.map(_is_arrow_binary).to_numpy(dtype=bool)]:
        frame[name] = frame[name].to_numpy(dtype=object, na_value=None)
    return frame


def _is_arrow_binary(dtype: object) -> bool:
    return isinstance(dtype, pd.ArrowDtype) and dtype.pyarrow_dtype in _BINARY


def read_parquet(path: Path) -> RawLayer:
    """Read GeoParquet; a plain Parquet table is read like a ledger (lon/lat columns).

    Raises
    ------
    PlannerError
        For a damaged file, or a plain table without longitude/latitude columns.
    """
    try:
        metadata = pq.read_schema(path).metadata or {}
        if b"geo" in metadata:
            return RawLayer(gpd.read_parquet(path), row_base=1)
        table = pd.read_parquet(path)
    except (pyarrow.ArrowException, OSError, ValueError) as exc:
        raise PlannerError(
            f"{path}: cannot read Parquet ({first_line(exc)})",
            fix="the file is damaged or not Parquet; export it again",
        ) from None
    table.columns = [str(c) for c in table.columns]
    if find_column(table.columns, LON_NAMES) is None:
        raise PlannerError(
            f"{path}: a plain Parquet table (no GeoParquet metadata) and no longitude/latitude "
            f"columns (columns are: {', '.join(table.columns)})",
            fix="write it as GeoParquet, or add lon/lat columns",
        )
    ledger = Ledger(table.reset_index(drop=True), np.arange(len(table)) + 1)
    return ledger_to_layer(ledger, path, lon=None, lat=None)


def read_table(
    path: Path, *, sheet: str | int | None = None, encoding: str | None = None
) -> Ledger:
    """Read a CSV or Excel ledger as a plain table (all cells kept as read).

    The header is the first row that is not blank; blank rows are dropped, and the
    spreadsheet row number of every remaining row is kept. Repeated column names are
    made unique as pandas does (``编码``, ``编码.1``) and listed in
    :attr:`Ledger.duplicate_columns`.
    """
    if suffix_of(path) in (".xlsx", ".xlsm", ".xls"):
        return read_workbook(path, sheet)
    size = path.stat().st_size
    if size > MAX_TEXT_BYTES:
        raise PlannerError(
            f"{path}: {size / 2**30:.1f} GB is more than the {MAX_TEXT_BYTES / 2**30:.0f} GB "
            "a text ledger may have",
            fix="split the ledger or convert it to GeoPackage",
        )
    for candidate in (encoding,) if encoding else _TEXT_ENCODINGS:
        cells = _read_csv(path, candidate)
        if cells is not None:
            return ledger_from_cells(cells, encoding=candidate)
    raise PlannerError(
        f'{path}: text is neither UTF-8 nor GBK; set encoding = "..." in the layer\'s table'
    )


def _read_csv(path: Path, encoding: str) -> pd.DataFrame | None:
    """The cells of a CSV/TXT ledger as text; ``None`` when it is not in ``encoding``."""
    try:
        return pd.read_csv(path, dtype=str, encoding=encoding, skip_blank_lines=False, **RAW_CELLS)
    except UnicodeDecodeError:
        return None
    except pd.errors.EmptyDataError:
        raise PlannerError(f"{path}: the file is empty", fix="give it a header and rows") from None
    except (pd.errors.ParserError, LookupError, ValueError) as exc:
        raise PlannerError(f"{path}: cannot read CSV ({first_line(exc)})") from None


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
    if "geometry" in table.columns:
        raise PlannerError(
            f"{path}: a column is named 'geometry', a name kept for the points made from "
            "longitude/latitude",
            column="geometry",
            fix="rename that column",
        )
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


def ledger_to_layer(ledger: Ledger, path: Path, *, lon: str | None, lat: str | None) -> RawLayer:
    """A ledger with its longitude/latitude columns turned into points."""
    if ledger.table.empty:
        frame = gpd.GeoDataFrame(ledger.table, geometry=[])
        return RawLayer(frame, row_base=2, encoding=ledger.encoding, rows=ledger.rows)
    frame, lon_col, lat_col = table_to_points(ledger.table, path, lon=lon, lat=lat)
    return RawLayer(
        frame,
        row_base=2,
        lon_column=lon_col,
        lat_column=lat_col,
        encoding=ledger.encoding,
        rows=ledger.rows,
        duplicate_columns=ledger.duplicate_columns,
        notes=ledger.notes,
    )


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
        When the file is missing, not a regular file, of an unsupported format, too large
        or unreadable, or the encoding setting is not a text encoding.
    """
    require_regular_file(path)
    check_encoding(path, encoding)
    suffix = suffix_of(path)
    if suffix in TABLE_SUFFIXES:
        ledger = read_table(path, sheet=sheet, encoding=encoding)
        return ledger_to_layer(ledger, path, lon=lon, lat=lat)
    if suffix in VECTOR_SUFFIXES + PARQUET_SUFFIXES:
        return read_vector(path, layer=layer, encoding=encoding)
    raise PlannerError(
        f"{path}: unsupported format {suffix!r}; use GeoPackage, GeoJSON, Shapefile, "
        "FlatGeobuf, GeoParquet, KML, CSV or XLSX (roads also .osm.pbf, .osm, .graphml)"
    )
