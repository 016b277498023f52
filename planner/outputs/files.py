"""Writers for every output file, all atomic.

Every writer first writes into a private temporary directory created next to the
target (same filesystem, same file name, so drivers pick the format and the layer name
from it) and only then moves the result over the target with :func:`os.replace`. A
failure while writing leaves any previous file untouched and no temporary file behind.

Vector formats (:data:`FORMATS`): GeoPackage, GeoJSON, ESRI Shapefile, KML, FlatGeobuf
and GeoParquet. Notes per format:

* **GeoJSON** and **KML** are always written in WGS84 (EPSG:4326), as their
  specifications demand (RFC 7946; OGC KML 2.2), whatever ``crs`` asks for. GeoJSON is
  written with ``RFC7946=YES`` (7 decimals, about 1 cm).
* **KML** is written with the LIBKML driver: the ``id`` column becomes the placemark id,
  ``name`` the placemark name (read back as ``Name``); 64-bit integer columns whose values
  fit are stored as 32-bit ``int`` (KML schemas have no 64-bit integer type).
* **Shapefile**: text encoding ``"utf-8"`` (default) or ``"gbk"`` (code page 936, what
  most Chinese desktop GIS installs expect), declared in a ``.cpg`` file. DBF field names
  hold at most 10 bytes, so every name that is not a plain ASCII identifier of at most
  10 characters is replaced by a safe unique ASCII name; the mapping is written beside
  the file as ``<name>.fields.csv`` (columns ``original``, ``short``). Text values longer
  than the DBF limit of 254 bytes are cut at a character boundary, with a warning.
  A Shapefile is several files: each is moved into place atomically, and the old set is
  restored if a move fails, but a reader opening the files during the few microseconds
  of the moves may see a mix of old and new parts.
* **FlatGeobuf** is written without a spatial index so the row order is kept.
* **GeoParquet** is written by geopandas (GDAL here has no Parquet driver).

Tabular writers: :func:`write_csv` writes UTF-8 *with* a byte-order mark so that Excel
opens Chinese text correctly (without it Excel assumes the local ANSI code page), and
puts a ``'`` before every text cell and header that a spreadsheet would run as a formula
(:func:`defuse_formula`, the OWASP rule against CSV injection);
:func:`write_xlsx` writes one sheet per table with a bold, frozen header row, every text
as a string cell (never a formula), so it needs no such prefix.
"""

from __future__ import annotations

import codecs
import contextlib
import datetime
import json
import math
import os
import re
import shutil
import tempfile
import unicodedata
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from planner.errors import PlannerError

__all__ = [
    "FORMATS",
    "VectorFormat",
    "atomic_path",
    "defuse_formula",
    "defuse_formulas",
    "shapefile_field_names",
    "write_csv",
    "write_gpkg",
    "write_json",
    "write_png",
    "write_vector",
    "write_xlsx",
]


@dataclass(frozen=True)
class VectorFormat:
    """A vector output format.

    Attributes
    ----------
    suffix
        File name suffix, with the dot.
    driver
        GDAL driver name, or ``None`` when geopandas writes it (GeoParquet).
    crs
        CRS the specification of the format imposes, or ``None`` when any CRS is allowed.
    """

    suffix: str
    driver: str | None
    crs: str | None = None


FORMATS: dict[str, VectorFormat] = {
    "gpkg": VectorFormat(".gpkg", "GPKG"),
    "geojson": VectorFormat(".geojson", "GeoJSON", "EPSG:4326"),
    "shp": VectorFormat(".shp", "ESRI Shapefile"),
    "kml": VectorFormat(".kml", "LIBKML", "EPSG:4326"),
    "fgb": VectorFormat(".fgb", "FlatGeobuf"),
    "parquet": VectorFormat(".parquet", None),
}

_LAYER_OPTIONS: dict[str, dict[str, str]] = {
    "geojson": {"RFC7946": "YES"},
    "fgb": {"SPATIAL_INDEX": "NO"},
}
# Sidecar files of a Shapefile that a new write must not leave stale.
_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".fields.csv")
# Shapefile encodings offered, with the code page name GDAL writes to ``.cpg``.
_SHAPEFILE_ENCODINGS = {"utf-8": "UTF-8", "gbk": "CP936"}
_DBF_NAME_BYTES = 10
_DBF_TEXT_BYTES = 254
_XLSX_SHEET_CHARS = 31
_XLSX_CELL_CHARS = 32_767


# ---------------------------------------------------------------------------- atomic writes


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write to; move it over ``path`` on success.

    The temporary path has the same file name as ``path`` and lives in a fresh hidden
    directory beside it (same filesystem, so the final :func:`os.replace` is atomic).
    Every file the writer creates in that directory is moved next to ``path``: a
    multi-file format (Shapefile) may be written to the yielded ``.shp`` path and its
    sidecar files follow. For a ``.shp`` target, stale sidecars of an older Shapefile
    (such as a spatial index ``.qix``) are removed.

    Parameters
    ----------
    path
        The final file path. Its directory must exist.

    Yields
    ------
    Path
        Where to write.

    Raises
    ------
    PlannerError
        When the directory of ``path`` does not exist.
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise PlannerError(f"cannot write {target}: folder {target.parent} does not exist")
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp_dir / target.name
        _move_into_place(tmp_dir, target)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def _move_into_place(tmp_dir: Path, target: Path) -> None:
    """Move every file of ``tmp_dir`` beside ``target``; all or nothing on failure."""
    produced = sorted(p for p in tmp_dir.iterdir() if p.is_file())
    if not produced:
        raise PlannerError(f"writing {target} produced no file")
    if len(produced) == 1 and target.suffix.lower() != ".shp":
        os.replace(produced[0], target.parent / produced[0].name)
        return
    backup = tmp_dir / ".old"
    backup.mkdir()
    new_names = {p.name for p in produced}
    stale = [
        target.with_name(target.stem + part)
        for part in _SHAPEFILE_PARTS
        if target.suffix.lower() == ".shp" and target.stem + part not in new_names
    ]
    # The main file moves last, so a reader never sees a new .shp with old sidecars.
    produced.sort(key=lambda p: p.name == target.name)
    saved: list[Path] = []
    placed: list[Path] = []
    try:
        for old in [target.parent / p.name for p in produced] + stale:
            if old.exists():
                _link_or_copy(old, backup / old.name)
                saved.append(old)
        for old in stale:
            if old.exists():
                old.unlink()
        for new in produced:
            os.replace(new, target.parent / new.name)
            placed.append(target.parent / new.name)
    except BaseException:
        for dest in placed:
            dest.unlink(missing_ok=True)
        for old in saved:
            os.replace(backup / old.name, old)
        raise


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


# ---------------------------------------------------------------------------- vector


def write_gpkg(
    path: str | os.PathLike[str],
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    crs: Any = None,
) -> Path:
    """Write several layers into one GeoPackage, atomically.

    Parameters
    ----------
    path
        Target ``.gpkg`` file; replaced as a whole.
    layers
        Layer name → GeoDataFrame (at least one).
    crs
        Output CRS for every layer; ``None`` keeps each layer's own CRS.

    Returns
    -------
    Path
        ``path``.
    """
    if not layers:
        raise PlannerError(f"cannot write {path}: no layers given")
    target = Path(path)
    with atomic_path(target) as tmp:
        for name, gdf in layers.items():
            out = _prepare(gdf, crs=crs)
            pyogrio.write_dataframe(out, tmp, layer=name, driver="GPKG")
    return target


def write_vector(
    gdf: gpd.GeoDataFrame,
    path: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    crs: Any = "EPSG:4490",
    encoding: str = "utf-8",
) -> list[Path]:
    """Write one layer in a vector format, atomically.

    Parameters
    ----------
    gdf
        The layer.
    path
        Target file. When ``fmt`` is given, the suffix of the format replaces the one
        of ``path``.
    fmt
        One of :data:`FORMATS` (``"gpkg"``, ``"geojson"``, ``"shp"``, ``"kml"``,
        ``"fgb"``, ``"parquet"``); inferred from the suffix of ``path`` when ``None``.
    crs
        Output CRS (default CGCS2000 geographic, EPSG:4490); ``None`` keeps the layer's.
        Ignored for GeoJSON and KML, which are always WGS84 (EPSG:4326).
    encoding
        Shapefile text encoding: ``"utf-8"`` (default) or ``"gbk"``. Other formats are
        always UTF-8.

    Returns
    -------
    list of Path
        Every file written, the main one first (a Shapefile adds ``.cpg``, ``.dbf``,
        ``.fields.csv``, ``.prj`` and ``.shx``).

    Raises
    ------
    PlannerError
        For an unknown format or encoding, or text a GBK Shapefile cannot hold.
    """
    name = _format_name(path, fmt)
    spec = FORMATS[name]
    target = Path(path) if fmt is None else Path(path).with_suffix(spec.suffix)
    out = _prepare(gdf, crs=spec.crs or crs)
    with atomic_path(target) as tmp:
        if name == "parquet":
            out.to_parquet(tmp, index=False)
        elif name == "shp":
            _write_shapefile(out, tmp, encoding=encoding)
        else:
            driver = spec.driver
            if name == "kml":
                out = _kml_columns(out)
                driver = "LIBKML" if "LIBKML" in pyogrio.list_drivers(write=True) else "KML"
            pyogrio.write_dataframe(out, tmp, driver=driver, layer_options=_LAYER_OPTIONS.get(name))
        sidecars = sorted(p.name for p in tmp.parent.iterdir() if p.is_file() and p != tmp)
    return [target] + [target.parent / n for n in sidecars]


def _format_name(path: str | os.PathLike[str], fmt: str | None) -> str:
    if fmt is None:
        suffix = Path(path).suffix.lower()
        by_suffix = {f.suffix: n for n, f in FORMATS.items()} | {".json": "geojson"}
        if suffix not in by_suffix:
            raise PlannerError(
                f"cannot tell the format of {path} from its suffix {suffix!r}; "
                f"use one of {sorted(by_suffix)} or pass fmt= one of {sorted(FORMATS)}"
            )
        return by_suffix[suffix]
    name = fmt.lower().lstrip(".")
    if name not in FORMATS:
        raise PlannerError(f"unknown vector format {fmt!r}; choose one of {sorted(FORMATS)}")
    return name


def _prepare(gdf: gpd.GeoDataFrame, *, crs: Any) -> gpd.GeoDataFrame:
    """Drop the index, type yes/no columns as booleans, reproject when asked."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise PlannerError(f"expected a GeoDataFrame, got {type(gdf).__name__}")
    out = gdf.reset_index(drop=True)
    for col in out.columns:
        if out[col].dtype == object and col != out.geometry.name:
            present = out[col].dropna()
            if len(present) and all(isinstance(v, bool | np.bool_) for v in present):
                out[col] = out[col].astype("boolean")
    if crs is not None:
        if out.crs is None:
            raise PlannerError("cannot reproject a layer without a CRS; set its CRS first")
        out = out.to_crs(crs)
    return out


def _kml_columns(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Store 64-bit integers that fit as 32-bit, since KML schemas have no int64."""
    out = gdf.copy()
    lo, hi = np.iinfo(np.int32).min, np.iinfo(np.int32).max
    for col in out.columns:
        if col != out.geometry.name and out[col].dtype == np.int64:
            values = out[col].to_numpy()
            if values.size == 0 or (values.min() >= lo and values.max() <= hi):
                out[col] = values.astype(np.int32)
    return out


def shapefile_field_names(columns: list[str]) -> dict[str, str]:
    """Map column names to unique DBF field names of at most 10 ASCII bytes.

    A name that is already an ASCII identifier of at most 10 characters is kept. Any
    other name keeps its ASCII letters, digits and underscores (``"field"`` when none are
    left), is cut to 10 characters and, when that clashes with an earlier name (compared
    without case, as DBF readers do), gets a suffix ``_1``, ``_2``, …

    Parameters
    ----------
    columns
        Attribute column names, in order.

    Returns
    -------
    dict
        Original name → short name, in the order given.
    """
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for col in columns:
        text = str(col)
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,9}", text) and text.lower() not in used:
            short = text
        else:
            ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
            base = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", ascii_text)).strip("_")
            if not base or base[0].isdigit():
                base = f"f_{base}" if base else "field"
            short = _unique_name(base, _DBF_NAME_BYTES, used, tail="_{n}", first=1)
        used.add(short.lower())
        mapping[text] = short
    return mapping


def _unique_name(base: str, limit: int, used: set[str], *, tail: str, first: int) -> str:
    """``base`` cut to ``limit`` characters; while that is taken (``used`` holds lower-case
    names), ``tail.format(n=first)``, ``tail.format(n=first + 1)``, … replaces its end."""
    name, n = base[:limit], first
    while name.lower() in used:
        suffix = tail.format(n=n)
        name = base[: limit - len(suffix)] + suffix
        n += 1
    return name


def _write_shapefile(gdf: gpd.GeoDataFrame, tmp: Path, *, encoding: str) -> None:
    key = codecs.lookup(encoding).name.replace("_", "-")
    aliases = {"utf-8": "utf-8", "gbk": "gbk", "cp936": "gbk"}
    if key not in aliases:
        raise PlannerError(
            f"unsupported Shapefile encoding {encoding!r}; use one of "
            f"{sorted(_SHAPEFILE_ENCODINGS)}"
        )
    codec = aliases[key]
    geom = gdf.geometry.name
    columns = [c for c in gdf.columns if c != geom]
    mapping = shapefile_field_names(columns)
    out = gdf.copy()
    for col in columns:
        if pd.api.types.is_string_dtype(out[col]) or out[col].dtype == object:
            out[col] = _dbf_text(out[col], codec=codec, column=str(col))
    out = out.rename(columns={col: mapping[str(col)] for col in columns})
    pyogrio.write_dataframe(out, tmp, driver="ESRI Shapefile", encoding=_SHAPEFILE_ENCODINGS[codec])
    if codec == "gbk":
        # ArcGIS and QGIS both read a bare code page number; GDAL writes "CP936".
        tmp.with_suffix(".cpg").write_text("936", encoding="ascii")
    table = pd.DataFrame({"original": list(mapping), "short": list(mapping.values())})
    defuse_formulas(table).to_csv(
        tmp.with_name(tmp.stem + ".fields.csv"),
        index=False,
        encoding="utf-8-sig",
        lineterminator="\r\n",
    )


def _dbf_text(values: pd.Series, *, codec: str, column: str) -> pd.Series:
    """Check that text encodes in ``codec``; cut values over 254 bytes at a character."""
    out = values.astype(object)
    cut = 0
    for pos, value in enumerate(out.to_numpy()):
        if not isinstance(value, str):
            continue
        try:
            data = value.encode(codec)
        except UnicodeEncodeError as exc:
            raise PlannerError(
                f"column {column!r}, row {pos + 1}: {value!r} has a character "
                f"({value[exc.start : exc.end]!r}) that {codec.upper()} cannot encode; "
                "write the Shapefile as UTF-8 (encoding='utf-8') or use another format"
            ) from None
        if len(data) > _DBF_TEXT_BYTES:
            out.iat[pos] = data[:_DBF_TEXT_BYTES].decode(codec, errors="ignore")
            cut += 1
    if cut:
        warnings.warn(
            f"column {column!r}: {cut} text value(s) longer than {_DBF_TEXT_BYTES} bytes "
            "were cut to fit the Shapefile (DBF) limit",
            UserWarning,
            stacklevel=4,
        )
    return out


# ---------------------------------------------------------------------------- tables


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as UTF-8 JSON (Chinese kept as is), atomically.

    numpy and pandas scalars and arrays become plain numbers and lists; NaN, infinity,
    ``pd.NA`` and ``NaT`` become ``null``; timestamps become ISO 8601 text; paths text.
    """
    target = Path(path)
    text = json.dumps(_jsonable(obj), ensure_ascii=False, indent=2, allow_nan=False)
    with atomic_path(target) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return target


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset | np.ndarray | pd.Series | pd.Index):
        return [_jsonable(v) for v in (obj.tolist() if hasattr(obj, "tolist") else obj)]
    if isinstance(obj, pd.DataFrame):
        return [_jsonable(r) for r in obj.to_dict("records")]
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, str | bool | int):
        return obj
    if isinstance(obj, pd.Timestamp | pd.Timedelta) or hasattr(obj, "isoformat"):
        return None if pd.isna(obj) else obj.isoformat()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if pd.isna(obj):
        return None
    raise PlannerError(f"cannot write a {type(obj).__name__} to JSON: {obj!r}")


def write_csv(path: str | os.PathLike[str], df: pd.DataFrame) -> Path:
    """Write a table as CSV in UTF-8 with a byte-order mark, atomically.

    The byte-order mark makes Excel read the file as UTF-8 (it otherwise assumes the
    ANSI code page and garbles Chinese); pandas, Python's ``csv`` with ``utf-8-sig`` and
    GDAL skip it. Geometry columns are written as WKT; the index is not written. Text
    cells and headers starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
    get a leading ``'`` (:func:`defuse_formulas`), so Excel and WPS show them as text
    instead of running them; number columns and negative numbers written as text
    (``-5``) are written as they are. Rows end with CRLF (RFC 4180), so a cell holding
    a line break or a lone carriage return is quoted and cannot start a row of its own.
    """
    target = Path(path)
    with atomic_path(target) as tmp:
        defuse_formulas(_plain_table(df)).to_csv(
            tmp, index=False, encoding="utf-8-sig", lineterminator="\r\n"
        )
    return target


#: Text a spreadsheet reads as a formula when it starts a cell (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# a negative decimal number, which a spreadsheet reads as that number (nothing runs)
_NEGATIVE_NUMBER = re.compile(r"-(?:\d+\.?\d*|\.\d+)")


def defuse_formula(value: Any) -> Any:
    """``value`` with a ``'`` before it when it is text a spreadsheet would run as a
    formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return);
    anything else unchanged, a negative number written as text (``-5``, ``-0.25``)
    included: a spreadsheet reads it as that number and nothing runs (as ``defusedcsv``
    does). ``+1`` is prefixed: data does not write numbers so, formulas do."""
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_STARTS)
        and not _NEGATIVE_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def defuse_formulas(table: pd.DataFrame) -> pd.DataFrame:
    """A table safe to open in Excel or WPS: :func:`defuse_formula` on the header and on
    every text cell. Number, boolean and date columns are not text and stay as they are,
    negative numbers included."""
    out = table.rename(columns=defuse_formula)
    for pos in range(out.shape[1]):
        column = out.iloc[:, pos]
        if column.dtype != object and not isinstance(
            column.dtype, pd.StringDtype | pd.CategoricalDtype
        ):
            continue
        cells = column.to_numpy(object)
        risky = [i for i, v in enumerate(cells) if defuse_formula(v) is not v]
        if risky:
            categorical = isinstance(column.dtype, pd.CategoricalDtype)
            fixed = column.astype(object) if categorical else column.copy()
            fixed.iloc[risky] = ["'" + cells[i] for i in risky]
            out.isetitem(pos, fixed)
    return out


def write_xlsx(path: str | os.PathLike[str], sheets: Mapping[str, pd.DataFrame]) -> Path:
    """Write tables to an Excel workbook, one sheet each, atomically.

    Sheet names are cleaned of the characters Excel forbids (``[]:*?/\\``), cut to 31
    characters and made unique. Header cells are bold, the header row is frozen and
    column widths follow the content (a CJK character counts as two), between 6 and 60.
    Geometry columns are written as WKT; text longer than an Excel cell holds (32,767
    characters, e.g. the WKT of a detailed polygon) is cut and ends with "…"; time zones
    are dropped from timestamps; characters XML cannot hold (control characters other
    than tab and line breaks) are left out. Missing values and NaN are empty cells,
    infinities the text ``inf``/``-inf``.

    The workbook (Office Open XML: shared strings, one style for the header and one for
    date-times) is written directly, about ten times faster than through openpyxl.
    """
    if not sheets:
        raise PlannerError(f"cannot write {path}: no sheets given")
    target = Path(path)
    titles = _sheet_names(list(sheets))
    strings: dict[str, int] = {}
    parts = {
        f"xl/worksheets/sheet{i}.xml": _sheet_xml(_fit_excel_cells(_plain_table(df)), strings)
        for i, df in enumerate(sheets.values(), start=1)
    }
    with atomic_path(target) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as book:
            for name, text in _package_parts(titles, strings).items():
                book.writestr(name, text)
            for name, text in parts.items():
                book.writestr(name, text)
    return target


_XLSX_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_XLSX_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_XLSX_TYPES = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# cell styles: 0 plain, 1 bold (header), 2 date and time (built-in number format 22)
_XLSX_STYLES = (
    f'{_XML_HEAD}<styleSheet xmlns="{_XLSX_MAIN}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="22" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
    "</cellStyles></styleSheet>"
)
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


def _xml_text(text: str) -> str:
    text = _XML_ILLEGAL.sub("", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _package_parts(titles: list[str], strings: dict[str, int]) -> dict[str, str]:
    """Every part of the workbook but the sheets: content types, relations, workbook,
    styles and shared strings."""
    n = len(titles)
    sheet = f"{_XLSX_TYPES}.worksheet+xml"
    types = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{sheet}"/>'
        for i in range(1, n + 1)
    )
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="{_XLSX_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, n + 1)
    )
    names = "".join(
        f'<sheet name="{_xml_text(t).replace(chr(34), "&quot;")}" sheetId="{i}" r:id="rId{i}"/>'
        for i, t in enumerate(titles, start=1)
    )
    shared = "".join(f'<si><t xml:space="preserve">{_xml_text(t)}</t></si>' for t in strings)
    package = "http://schemas.openxmlformats.org/package/2006"
    return {
        "[Content_Types].xml": f'{_XML_HEAD}<Types xmlns="{package}/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_XLSX_TYPES}.sheet.main+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{_XLSX_TYPES}.styles+xml"/>'
        f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_XLSX_TYPES}.sharedStrings'
        f'+xml"/>{types}</Types>',
        "_rels/.rels": f'{_XML_HEAD}<Relationships xmlns="{package}/relationships">'
        f'<Relationship Id="rId1" Type="{_XLSX_REL}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>",
        "xl/workbook.xml": f'{_XML_HEAD}<workbook xmlns="{_XLSX_MAIN}" xmlns:r="{_XLSX_REL}">'
        f"<sheets>{names}</sheets></workbook>",
        "xl/_rels/workbook.xml.rels": f'{_XML_HEAD}<Relationships xmlns="{package}/'
        f'relationships">{rels}<Relationship Id="rId{n + 1}" Type="{_XLSX_REL}/styles" '
        f'Target="styles.xml"/><Relationship Id="rId{n + 2}" Type="{_XLSX_REL}/'
        'sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        "xl/styles.xml": _XLSX_STYLES,
        "xl/sharedStrings.xml": f'{_XML_HEAD}<sst xmlns="{_XLSX_MAIN}" count="{len(strings)}" '
        f'uniqueCount="{len(strings)}">{shared}</sst>',
    }


def _column_letters(i: int) -> str:
    """Excel column name of the 0-based column ``i``: A … Z, AA, …"""
    name = ""
    i += 1
    while i:
        i, rest = divmod(i - 1, 26)
        name = chr(65 + rest) + name
    return name


def _sheet_xml(table: pd.DataFrame, strings: dict[str, int]) -> str:
    """One worksheet: bold frozen header row, column widths, one row per table row."""
    letters = [_column_letters(i) for i in range(len(table.columns))]
    header = "".join(
        _cell(f"{c}1", str(name), strings, style=1)
        for c, name in zip(letters, table.columns, strict=True)
    )
    columns = [
        [_cell(f"{c}{r}", v, strings) for r, v in enumerate(table[name].to_numpy(object), 2)]
        for c, name in zip(letters, table.columns, strict=True)
    ]
    rows = "".join(
        f'<row r="{r}">{"".join(cells)}</row>'
        for r, cells in enumerate(zip(*columns, strict=True), 2)
    )
    widths = "".join(
        f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
        for i, w in enumerate(_column_widths(table), start=1)
    )
    view = (
        '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
        'activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft"/>'
        "</sheetView></sheetViews>"
    )
    return (
        f'{_XML_HEAD}<worksheet xmlns="{_XLSX_MAIN}">{view}'
        + (f"<cols>{widths}</cols>" if widths else "")
        + f'<sheetData><row r="1">{header}</row>{rows}</sheetData></worksheet>'
    )


def _cell(ref: str, value: Any, strings: dict[str, int], *, style: int = 0) -> str:
    """The ``<c>`` element of one value ('' for a missing value: an empty cell)."""
    s = f' s="{style}"' if style else ""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool | np.bool_):
        return f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | np.integer):
        return f'<c r="{ref}"{s}><v>{int(value)}</v></c>'
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return ""
        if math.isfinite(value):
            return f'<c r="{ref}"{s}><v>{float(value)!r}</v></c>'
        value = "inf" if value > 0 else "-inf"
    elif isinstance(value, datetime.datetime | datetime.date | np.datetime64):
        stamp = pd.Timestamp(value).tz_localize(None)
        days = (stamp - _EXCEL_EPOCH) / pd.Timedelta(days=1)
        return f'<c r="{ref}" s="2"><v>{days!r}</v></c>'
    text = value if isinstance(value, str) else str(value)
    index = strings.setdefault(text, len(strings))
    return f'<c r="{ref}"{s} t="s"><v>{index}</v></c>'


def _sheet_names(names: list[str]) -> list[str]:
    out: list[str] = []
    used: set[str] = set()
    for raw in names:
        base = re.sub(r"[\[\]:*?/\\]", "_", str(raw)).strip("'") or "Sheet"
        title = _unique_name(base, _XLSX_SHEET_CHARS, used, tail=" ({n})", first=2)
        used.add(title.lower())
        out.append(title)
    return out


def _plain_table(df: pd.DataFrame) -> pd.DataFrame:
    """Geometry → WKT, time-zone-aware timestamps → naive local time."""
    out = pd.DataFrame(df).copy()
    for col in out.columns:
        series = out[col]
        if isinstance(series.dtype, gpd.array.GeometryDtype):
            out[col] = gpd.GeoSeries(series).to_wkt()
        elif isinstance(series.dtype, pd.DatetimeTZDtype):
            out[col] = series.dt.tz_localize(None)
    return out


def _fit_excel_cells(table: pd.DataFrame) -> pd.DataFrame:
    """Cut text longer than an Excel cell holds (32,767 characters), ending it with "…"."""
    for col in table.columns:
        if pd.api.types.is_string_dtype(table[col]) or table[col].dtype == object:
            text = table[col]
            # a plain bool mask: ``map`` keeps a string dtype on empty columns
            long = pd.Series(
                [isinstance(v, str) and len(v) > _XLSX_CELL_CHARS for v in text],
                index=text.index,
                dtype=bool,
            )
            if long.any():
                table[col] = text.where(~long, text[long].str.slice(0, _XLSX_CELL_CHARS - 1) + "…")
    return table


def _display_width(value: Any) -> int:
    text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _column_widths(table: pd.DataFrame) -> list[int]:
    """Column widths from the header and the first 1,000 values, between 6 and 60."""
    widths = []
    for col in table.columns:
        sample = table[col].head(1000).tolist()
        width = max([_display_width(col)] + [_display_width(v) for v in sample])
        widths.append(min(max(width + 2, 6), 60))
    return widths


def write_png(path: str | os.PathLike[str], fig: Any, *, dpi: int = 150) -> Path:
    """Save a matplotlib figure as PNG, atomically.

    A figure without a layout engine is cropped to its content (``bbox_inches="tight"``);
    one with a layout engine (constrained or tight layout) already fits its content and
    is saved as laid out, which spares a second drawing pass.
    """
    target = Path(path)
    crop = "tight" if fig.get_layout_engine() is None else None
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches=crop)
    return target
