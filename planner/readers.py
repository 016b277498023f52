"""Raw reading of input files by format, before any schema is applied.

Vector files go through pyogrio; GeoParquet through geopandas; CSV and Excel ledgers
through pandas, with their longitude/latitude columns turned into points. Text encodings
are honoured or detected so Chinese names never come out garbled.
"""

from __future__ import annotations

import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow
import pyarrow.parquet as pq
import pyogrio

from planner.errors import PlannerError

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

#: Largest CSV/TXT ledger read, in bytes (a village ledger of a whole country is ~100 MB).
MAX_TEXT_BYTES = 2 << 30
#: Largest total uncompressed size of the parts of an .xlsx workbook, in bytes.
MAX_XLSX_BYTES = 1 << 30
_ZIP_WORKBOOKS = (".xlsx", ".xlsm")
# A DTD (and with it entity expansion, the "billion laughs") has no place in a workbook.
_XML_DTD = tuple(
    word.encode(enc)
    for word in ("<!DOCTYPE", "<!ENTITY")
    for enc in ("utf-8", "utf-16-le", "utf-16-be")
)
_FORMULA = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")
_SCAN_CHUNK = 1 << 20


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


@dataclass(frozen=True)
class Note:
    """A warning found while reading a file: the user's row and column, what and what to do."""

    row: int
    column: str
    problem: str
    fix: str = ""


@dataclass(frozen=True)
class Ledger:
    """A CSV/Excel/Parquet table as read: cells, the user's row numbers, what was noticed."""

    table: pd.DataFrame
    rows: np.ndarray
    encoding: str | None = None
    duplicate_columns: tuple[str, ...] = ()
    notes: tuple[Note, ...] = ()


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
            frame = pyogrio.read_dataframe(path, layer=layer, encoding=encoding, use_arrow=arrow)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise PlannerError(f"{path}: cannot read ({_first_line(exc)})") from None
    except UnicodeDecodeError as exc:
        other = "gbk" if exc.encoding.replace("-", "").lower() == "utf8" else "utf-8"
        raise PlannerError(
            f"{path}: attribute text is not {exc.encoding} (as its .cpg or the encoding "
            f'setting says); set encoding = "{other}" in the layer\'s table'
        ) from None
    return RawLayer(frame, row_base=1, encoding=encoding)


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
            f"{path}: cannot read Parquet ({_first_line(exc)})",
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
    suffix = suffix_of(path)
    if suffix in (".xlsx", ".xlsm", ".xls"):
        return _read_workbook(path, sheet)
    size = path.stat().st_size
    if size > MAX_TEXT_BYTES:
        raise PlannerError(
            f"{path}: {size / 2**30:.1f} GB is more than the {MAX_TEXT_BYTES / 2**30:.0f} GB "
            "a text ledger may have",
            fix="split the ledger or convert it to GeoPackage",
        )
    for candidate in (encoding,) if encoding else _TEXT_ENCODINGS:
        try:
            cells = pd.read_csv(
                path,
                header=None,
                dtype=str,
                encoding=candidate,
                keep_default_na=False,
                na_values=[""],
                skip_blank_lines=False,
            )
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError:
            raise PlannerError(
                f"{path}: the file is empty", fix="give it a header and rows"
            ) from None
        except (pd.errors.ParserError, LookupError, ValueError) as exc:
            raise PlannerError(f"{path}: cannot read CSV ({_first_line(exc)})") from None
        return _ledger(cells, encoding=candidate)
    raise PlannerError(
        f'{path}: text is neither UTF-8 nor GBK; set encoding = "..." in the layer\'s table'
    )


def _read_workbook(path: Path, sheet: str | int | None) -> Ledger:
    zipped = suffix_of(path) in _ZIP_WORKBOOKS or zipfile.is_zipfile(path)  # .xls may be .xlsx
    has_formulas = _scan_workbook(path) if zipped else False
    try:
        with pd.ExcelFile(path) as book:
            name = _sheet_name(path, book.sheet_names, sheet)
            cells = pd.read_excel(
                book,
                sheet_name=name,
                header=None,
                dtype=object,
                keep_default_na=False,
                na_values=[""],
            )
    except PlannerError:
        raise
    except ImportError:
        raise PlannerError(
            f"{path}: old Excel 97-2003 workbooks (.xls) cannot be read",
            fix="save it as .xlsx in Excel or WPS",
        ) from None
    except Exception as exc:  # a damaged workbook fails in many parser-specific types
        raise PlannerError(
            f"{path}: cannot read spreadsheet ({type(exc).__name__}: {_first_line(exc)})",
            fix="open it in Excel or WPS and save it again as .xlsx",
        ) from None
    ledger = _ledger(cells)
    if not has_formulas:
        return ledger
    notes = _uncached_formulas(path, name, cells, ledger)
    return Ledger(ledger.table, ledger.rows, None, ledger.duplicate_columns, notes)


def _sheet_name(path: Path, names: list[str], sheet: str | int | None) -> str:
    """The sheet asked for (name or 0-based index; the first when ``None``)."""
    if sheet is None:
        sheet = 0
    if isinstance(sheet, int) and 0 <= sheet < len(names):
        return names[sheet]
    if isinstance(sheet, str) and sheet in names:
        return sheet
    raise PlannerError(
        f"{path}: sheet {sheet!r} not found; the workbook has: {', '.join(names)}",
        fix="set sheet to one of these names (or a 0-based index)",
    )


def _scan_workbook(path: Path) -> bool:
    """Check an .xlsx container before any XML parser sees it.

    Refuses a file that is not a zip archive, parts larger than :data:`MAX_XLSX_BYTES` in
    total (a zip bomb), and any XML part carrying a DTD (entity expansion). Returns
    whether any worksheet holds a formula.
    """
    if not zipfile.is_zipfile(path):
        raise PlannerError(
            f"{path}: not an Excel workbook (an .xlsx file is a zip archive; this one is not, "
            "or it is truncated)",
            fix="open it in Excel or WPS and save it again as .xlsx",
        )
    try:
        with zipfile.ZipFile(path) as book:
            parts = [m for m in book.infolist() if not m.is_dir()]
            total = sum(m.file_size for m in parts)
            if total > MAX_XLSX_BYTES:
                raise PlannerError(
                    f"{path}: the workbook unpacks to {total / 2**20:,.0f} MB, more than the "
                    f"{MAX_XLSX_BYTES / 2**20:,.0f} MB allowed",
                    fix="split the workbook, or save the sheet as CSV",
                )
            xml = [m for m in parts if m.filename.lower().endswith((".xml", ".rels", ".vml"))]
            found = [_scan_part(book, m) for m in xml]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error) as exc:
        raise PlannerError(
            f"{path}: damaged workbook ({_first_line(exc)})",
            fix="open it in Excel or WPS and save it again as .xlsx",
        ) from None
    except NotImplementedError as exc:  # an unsupported compression method
        raise PlannerError(f"{path}: cannot unpack the workbook ({exc})") from None
    return any(found)


def _scan_part(book: zipfile.ZipFile, part: zipfile.ZipInfo) -> bool:
    """Stream one XML part: refuse a DTD; return whether it is a worksheet with formulas."""
    sheet = part.filename.startswith("xl/worksheets/")
    formulas, tail = False, b""
    with book.open(part) as stream:
        while chunk := stream.read(_SCAN_CHUNK):
            window = tail + chunk
            if any(word in window for word in _XML_DTD):
                raise PlannerError(
                    f"{book.filename}: the workbook part {part.filename} declares a DTD or "
                    "entities (<!DOCTYPE/<!ENTITY>), which Excel never writes; refused as unsafe",
                    fix="open it in Excel or WPS and save it again as .xlsx",
                )
            formulas = formulas or (sheet and _FORMULA.search(window) is not None)
            tail = window[-32:]
    return formulas


def _uncached_formulas(
    path: Path, sheet: str, cells: pd.DataFrame, ledger: Ledger
) -> tuple[Note, ...]:
    """Formula cells of the ledger that have no saved result (read as empty)."""
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        found = [
            (c.row, c.column, getattr(c.value, "text", c.value))
            for row in book[sheet].iter_rows()
            for c in row
            if c.data_type == "f"
        ]
    finally:
        book.close()
    wanted = set(ledger.rows.tolist())
    columns = dict(enumerate(ledger.table.columns))
    notes = []
    for row, col, formula in found:
        if (
            row not in wanted
            or col - 1 >= cells.shape[1]
            or not _blank(cells.iat[row - 1, col - 1])
        ):
            continue
        notes.append(
            Note(
                row,
                str(columns.get(col - 1, "")),
                f"formula {formula} has no saved result (read as empty)",
                "open the workbook in Excel or WPS and save it, so the results are stored",
            )
        )
    return tuple(notes)


def _blank(value: object) -> bool:
    """An empty cell: missing, NaN/NaT, or only spaces."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _header_text(value: object, position: int) -> str:
    if _blank(value):
        return f"Unnamed: {position}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _ledger(cells: pd.DataFrame, *, encoding: str | None = None) -> Ledger:
    """Split raw cells (read without a header) into header and rows, dropping blank rows."""
    blank = cells.map(_blank).to_numpy(dtype=bool) if cells.size else np.ones(cells.shape, bool)
    filled = np.flatnonzero(~blank.all(axis=1))
    if not filled.size:
        return Ledger(pd.DataFrame(), np.zeros(0, dtype=np.int64), encoding)
    head = int(filled[0])
    names = [_header_text(v, j) for j, v in enumerate(cells.iloc[head])]
    keep_col = ~(blank[head + 1 :].all(axis=0) & blank[head])
    body = blank[head + 1 :][:, keep_col]
    keep_row = ~body.all(axis=1) if keep_col.any() else np.zeros(len(body), bool)
    table = cells.iloc[head + 1 :, keep_col].iloc[keep_row]
    names = [n for n, k in zip(names, keep_col, strict=True) if k]
    unique, duplicates = _unique_names(names)
    table = table.set_axis(unique, axis=1).reset_index(drop=True)
    rows = np.flatnonzero(keep_row) + head + 2  # sheet/record rows are 1-based
    return Ledger(table, rows, encoding, duplicates)


def _unique_names(names: list[str]) -> tuple[list[str], tuple[str, ...]]:
    """Names made unique (``a``, ``a.1``, ``a.2``) and the names that were repeated."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        unique.append(name if not count else f"{name}.{count}")
    return unique, tuple(n for n, c in seen.items() if c > 1)


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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
