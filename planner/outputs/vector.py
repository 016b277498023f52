"""Vector outputs, all atomic: GeoPackage, GeoJSON, ESRI Shapefile, KML, FlatGeobuf and
GeoParquet (:data:`FORMATS`). Notes per format:

* **GeoJSON** and **KML** are always written in WGS84 (EPSG:4326), as their
  specifications demand (RFC 7946; OGC KML 2.2), whatever ``crs`` asks for. GeoJSON is
  written with ``RFC7946=YES`` (7 decimals, about 1 cm).
* **KML** is written as GDAL's LIBKML driver writes it, but streamed feature by feature
  by :func:`~planner.outputs.kml.write_kml` (LIBKML itself only for the columns that
  writer leaves to it): the ``id`` column becomes the placemark id, ``name`` the placemark
  name (read back as ``Name``); 64-bit integer columns whose values fit are stored as
  32-bit ``int`` (KML schemas have no 64-bit integer type).
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
"""

from __future__ import annotations

import codecs
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyogrio
import pyproj
import shapely

from planner.errors import PlannerError, warn
from planner.outputs.atomic import atomic_path
from planner.outputs.kml import streamable, write_kml
from planner.outputs.tables import defuse_formulas, unique_name

__all__ = [
    "FORMATS",
    "GpkgLayer",
    "VectorFormat",
    "arrow_safe",
    "gpkg_layer",
    "shapefile_field_names",
    "write_gpkg",
    "write_vector",
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
# Formats written through GDAL's Arrow interface (:func:`arrow_safe` layers): the same
# file, in half to two thirds of the time.
_ARROW = frozenset({"gpkg", "fgb", "geojson", "kml", "shp"})
# Shapefile encodings offered, with the code page name GDAL writes to ``.cpg``.
_SHAPEFILE_ENCODINGS = {"utf-8": "UTF-8", "gbk": "CP936"}
#: Rows per write of a long GeoPackage layer (:func:`_write_gpkg_layer`).
CHUNK_ROWS = 100_000
_DBF_NAME_BYTES = 10
_DBF_TEXT_BYTES = 254


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
            _write_gpkg_layer(gdf, tmp, name, crs=crs)
    return target


def _write_gpkg_layer(gdf: gpd.GeoDataFrame, tmp: Path, name: str, *, crs: Any) -> None:
    """One layer of :func:`write_gpkg` (see :func:`gpkg_layer`)."""
    gpkg_layer(gdf, name, crs=crs).write(tmp)


@dataclass
class GpkgLayer:
    """One layer of a GeoPackage made ready for GDAL by :func:`gpkg_layer`: a whole
    ``frame`` (reprojected) or a ``stream`` of Arrow batches with the ``options`` of
    ``pyogrio.write_arrow``."""

    name: str
    frame: gpd.GeoDataFrame | None = None
    use_arrow: bool = False
    stream: pa.RecordBatchReader | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def write(self, path: Path) -> None:
        """Add the layer to the GeoPackage at ``path``."""
        if self.stream is None:
            pyogrio.write_dataframe(
                self.frame, path, layer=self.name, driver="GPKG", use_arrow=self.use_arrow
            )
        else:
            pyogrio.write_arrow(self.stream, path, layer=self.name, driver="GPKG", **self.options)


def gpkg_layer(gdf: gpd.GeoDataFrame, name: str, *, crs: Any) -> GpkgLayer:
    """A layer of :func:`write_gpkg` made ready for GDAL. A long layer of one geometry
    type and typed columns becomes one stream of Arrow batches of :data:`CHUNK_ROWS`
    rows, each reprojected and encoded only when GDAL asks for it (one layer, one
    transaction, the same rows as one write of the whole frame), so it is never held
    twice; any other layer is reprojected whole."""
    out = _prepare(gdf, crs=None)
    if crs is not None and out.crs is None:
        raise PlannerError("cannot reproject a layer without a CRS; set its CRS first")
    arrow = arrow_safe(out)
    geometry_type = _chunkable(out) if arrow else None
    if geometry_type is None:
        return GpkgLayer(name, out if crs is None else out.to_crs(crs), use_arrow=arrow)
    target = out.crs if crs is None else pyproj.CRS.from_user_input(crs)
    epsg = target.to_epsg()
    options = {
        "geometry_name": out.geometry.name,
        "geometry_type": geometry_type,
        "crs": f"EPSG:{epsg}" if epsg else target.to_wkt("WKT1_GDAL"),
    }
    return GpkgLayer(name, stream=_arrow_stream(out, crs), options=options)


def _arrow_stream(gdf: gpd.GeoDataFrame, crs: Any) -> pa.RecordBatchReader:
    """``gdf`` as Arrow batches of :data:`CHUNK_ROWS` rows, geometry as WKB, each
    reprojected to ``crs`` (``None``: kept) when it is read."""
    geom = gdf.geometry.name

    def batches(start: int) -> list[pa.RecordBatch]:
        piece = gdf.iloc[start : start + CHUNK_ROWS]
        if crs is not None:
            piece = piece.to_crs(crs)
        frame = pd.DataFrame(piece, copy=False)
        frame[geom] = gpd.array.to_wkb(piece.geometry.values)
        return pa.Table.from_pandas(frame, schema=schema, preserve_index=False).to_batches()

    first = pd.DataFrame(gdf.iloc[:1], copy=False)
    first[geom] = gpd.array.to_wkb(gdf.geometry.values[:1])
    schema = pa.Schema.from_pandas(first, preserve_index=False)
    for pos, name in enumerate(schema.names):
        if name != geom and gdf[name].dtype == object:  # text (:func:`arrow_safe`)
            schema = schema.set(pos, pa.field(name, pa.string()))
    stream = (b for start in range(0, len(gdf), CHUNK_ROWS) for b in batches(start))
    return pa.RecordBatchReader.from_batches(schema, stream)


def _chunkable(gdf: gpd.GeoDataFrame) -> str | None:
    """The geometry type of a layer :func:`_write_gpkg_layer` may write in chunks (the
    type GDAL infers for every chunk as for the whole: longer than :data:`CHUNK_ROWS`,
    one 2D geometry type, no missing geometry), else ``None``. Its object columns hold
    only text and missing values (:func:`arrow_safe`): text in every chunk."""
    if len(gdf) <= CHUNK_ROWS:
        return None
    values = gdf.geometry.values
    types = np.unique(shapely.get_type_id(values))
    if len(types) != 1 or types[0] < 0 or shapely.has_z(values).any():
        return None
    return str(gdf.geometry.iloc[:1].geom_type.iloc[0])


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
        _write_layer(out, tmp, name, encoding=encoding)
        sidecars = sorted(p.name for p in tmp.parent.iterdir() if p.is_file() and p != tmp)
    return [target] + [target.parent / n for n in sidecars]


def _write_layer(out: gpd.GeoDataFrame, tmp: Path, name: str, *, encoding: str) -> None:
    """Write a prepared layer to ``tmp`` in the format ``name`` of :data:`FORMATS`."""
    if name == "parquet":
        out.to_parquet(tmp, index=False)
    elif name == "shp":
        _write_shapefile(out, tmp, encoding=encoding)
    else:
        driver = FORMATS[name].driver
        if name == "kml":
            out = _kml_columns(out)
            if streamable(out):
                write_kml(out, tmp)
                return
            driver = "LIBKML" if "LIBKML" in pyogrio.list_drivers(write=True) else "KML"
        pyogrio.write_dataframe(
            out,
            tmp,
            driver=driver,
            layer_options=_LAYER_OPTIONS.get(name),
            use_arrow=name in _ARROW and arrow_safe(out),
        )


def arrow_safe(gdf: gpd.GeoDataFrame) -> bool:
    """Whether the Arrow write path gives the same file as the row-by-row one: not for
    date-times, nor for object columns holding anything but text and missing values
    (written as text row by row, as numbers through Arrow)."""
    for col in gdf.columns:
        if col == gdf.geometry.name:
            continue
        dtype = gdf[col].dtype
        if dtype.kind in "mM" or isinstance(dtype, pd.DatetimeTZDtype):
            return False
        if isinstance(dtype, pd.StringDtype):
            continue
        if dtype.kind == "O" and pd.api.types.infer_dtype(gdf[col], skipna=True) not in (
            "string",
            "empty",
        ):
            return False
    return True


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
            short = unique_name(base, _DBF_NAME_BYTES, used, tail="_{n}", first=1)
        used.add(short.lower())
        mapping[text] = short
    return mapping


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
    pyogrio.write_dataframe(
        out,
        tmp,
        driver="ESRI Shapefile",
        encoding=_SHAPEFILE_ENCODINGS[codec],
        use_arrow=arrow_safe(out),
    )
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
    for pos in _dbf_rows_to_check(out, codec=codec):
        value = out.iat[pos]
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
        warn(
            f"column {column!r}: {cut} text value(s) longer than {_DBF_TEXT_BYTES} bytes "
            "were cut to fit the Shapefile (DBF) limit"
        )
    return out


def _dbf_rows_to_check(values: pd.Series, *, codec: str) -> np.ndarray:
    """Positions of the values :func:`_dbf_text` must look at one by one: for UTF-8 text,
    only those over the DBF limit (byte lengths measured by Arrow, without a Python
    loop); every row for GBK, or for a column holding other objects than text."""
    everything = np.arange(len(values))
    if codec != "utf-8":
        return everything
    try:
        text = pa.array(values.to_numpy(), type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all text, or not valid UTF-8
        return everything
    lengths = pc.binary_length(text).fill_null(0).to_numpy()
    return np.flatnonzero(lengths > _DBF_TEXT_BYTES)
