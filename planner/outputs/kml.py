"""KML written feature by feature, in chunks, with memory constant in the number of rows.

GDAL's LIBKML driver builds the whole document in memory before it writes it (about
5 KB per placemark: 3 GB for half a million grids). :func:`write_kml` writes the same
document — the layout, schema, placemark ids and names, numbers with 15 significant
digits (``%.15g``) and coordinates ``lon,lat,0`` that LIBKML writes — straight to the
file, :data:`CHUNK_ROWS` features at a time, every coordinate of a chunk formatted by one
``%`` operation. Unlike LIBKML it escapes every text (ids, names, values, field names)
as XML, so ``<``, ``&``, ``]]>`` or quotes never make the file unreadable; characters
XML 1.0 cannot hold (control characters other than tab, line feed and carriage return)
are replaced by U+FFFD, with a warning.

:func:`streamable` tells which frames it writes: the columns and geometry types of the
planner's layers. Other frames (date-times, 32-bit floats, columns LIBKML maps onto KML
elements such as ``description``) are left to GDAL.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.errors import warn

__all__ = ["CHUNK_ROWS", "streamable", "write_kml"]

#: Features formatted at a time.
CHUNK_ROWS = 10_000
#: Fields GDAL's LIBKML driver maps onto KML elements rather than ExtendedData.
_SPECIAL_FIELDS = frozenset(
    {"description", "timestamp", "begin", "end", "altitudemode", "tessellate", "extrude",
     "visibility", "draworder", "icon", "snippet", "heading", "tilt", "roll", "model"}
)  # fmt: skip
#: Column kind (:func:`_kind`) → KML schema type, as LIBKML declares them.
_KML_TYPES = {
    "string": "string",
    "int": "int",
    "int64": "string",
    "double": "double",
    "bool": "bool",
}
_POINT, _LINE, _POLYGON, _COLLECTION = 0, 1, 3, 7
_MULTI = frozenset({4, 5, 6, _COLLECTION})
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_SPECIAL_XML = re.compile('[<>&"\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]')
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;"})
_ATTRIBUTE_ESCAPES = str.maketrans({"\t": "&#9;", "\n": "&#10;"})
_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2">\n'


class _Text:
    """XML escaping that counts the values whose characters XML cannot hold."""

    def __init__(self) -> None:
        self.replaced = 0

    def __call__(self, value: str, *, attribute: bool = False) -> str:
        if not _SPECIAL_XML.search(value):
            return value
        if _INVALID_XML.search(value):
            self.replaced += 1
            value = _INVALID_XML.sub("\ufffd", value)
        value = value.translate(_ESCAPES)
        return value.translate(_ATTRIBUTE_ESCAPES) if attribute else value


def streamable(gdf: gpd.GeoDataFrame) -> bool:
    """Whether :func:`write_kml` writes ``gdf`` as LIBKML would: text ``id`` and
    ``name``, other columns text, booleans, integers or 64-bit floats and named unlike
    the fields LIBKML maps onto KML elements; points, lines, polygons, their multi
    forms and collections."""
    geom = gdf.geometry.name
    for col in gdf.columns:
        if col == geom:
            continue
        kind = _kind(gdf[col])
        if kind is None or str(col).lower() in _SPECIAL_FIELDS:
            return False
        if col in ("id", "name") and kind != "string":
            return False
    return not np.isin(shapely.get_type_id(gdf.geometry.values), [2]).any()


def _kind(values: pd.Series) -> str | None:
    """``"string"``, ``"int"`` (KML ``int``), ``"int64"`` (KML ``string``), ``"double"``
    or ``"bool"``; ``None`` for any other column."""
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype):
        return "string"
    if dtype.kind == "O":
        inferred = pd.api.types.infer_dtype(values, skipna=True)
        return "string" if inferred in ("string", "empty") else None
    if dtype.kind == "b":
        return "bool"
    numpy_dtype: Any = getattr(dtype, "numpy_dtype", dtype)
    if dtype.kind in "iu":
        return "int" if numpy_dtype.itemsize < 4 or numpy_dtype == np.int32 else "int64"
    if numpy_dtype == np.float64:
        return "double"
    return None


def write_kml(gdf: gpd.GeoDataFrame, path: Path, *, layer: str | None = None) -> None:
    """Write ``gdf`` (already in WGS84, :func:`streamable`) as a KML document.

    Parameters
    ----------
    gdf
        The features; a column ``id`` gives the placemark ids (missing or empty:
        ``<layer>.<row number>``), ``name`` the placemark names, the others the
        ExtendedData of a schema ``<layer>.schema`` (``<layer>`` made an XML name as
        LIBKML makes it).
    path
        The file to write (the caller makes it atomic).
    layer
        Layer (inner Document) name; default: the file name without suffix.
    """
    name = path.stem if layer is None else layer
    layer = _nc_name(name)
    text = _Text()
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write(_HEAD + '  <Document id="root_doc">\n')
        fields = _fields(gdf)
        if fields:
            out.write(_schema(layer, fields, text))
        out.write(f'    <Document id="{text(layer, attribute=True)}">\n')
        out.write(f"      <name>{text(name)}</name>\n")
        for start in range(0, len(gdf), CHUNK_ROWS):
            _write_chunk(out, gdf.iloc[start : start + CHUNK_ROWS], start, layer, fields, text)
        out.write("    </Document>\n  </Document>\n</kml>\n")
    if text.replaced:
        warn(
            f"{path.name}: {text.replaced} text value(s) held characters XML cannot "
            "represent (control characters); they were replaced by U+FFFD"
        )


def _nc_name(name: str) -> str:
    """The XML name LIBKML makes of a layer name for the document and schema ids: every
    UTF-8 byte but ASCII letters, digits, ``_``, ``.`` and ``-`` replaced by ``_``, and
    ``_`` in front when it does not begin with a letter or ``_``."""
    ident = "".join(
        chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "_.-") else "_"
        for b in name.encode("utf-8")
    )
    return ident if ident[:1].isalpha() or ident[:1] == "_" else "_" + ident


def _fields(gdf: gpd.GeoDataFrame) -> dict[str, str]:
    """ExtendedData column → KML schema type."""
    geom = gdf.geometry.name
    return {
        str(col): _kind(gdf[col]) or "string"
        for col in gdf.columns
        if col not in (geom, "id", "name")
    }


def _schema(layer: str, fields: dict[str, str], text: _Text) -> str:
    lines = [f'    <Schema id="{text(layer, attribute=True)}.schema">\n']
    for name, kind in fields.items():
        kml_type = _KML_TYPES[kind]
        lines.append(
            f'      <SimpleField name="{text(name, attribute=True)}" type="{kml_type}"/>\n'
        )
    return "".join(lines) + "    </Schema>\n"


def _write_chunk(
    out: IO[str],
    chunk: gpd.GeoDataFrame,
    start: int,
    layer: str,
    fields: dict[str, str],
    text: _Text,
) -> None:
    """Write the placemarks of the rows ``start, start + 1, …`` of a layer."""
    n = len(chunk)
    ids = _column_text(chunk, "id", text, attribute=True)
    ids = [v or f"{layer}.{start + i + 1}" for i, v in enumerate(ids or [""] * n)]
    names = _column_text(chunk, "name", text) or [""] * n
    data = _extended_data(chunk, layer, fields, text)
    geometries = _geometry_texts(chunk.geometry.values, 0)
    out.write(
        "".join(
            f'      <Placemark id="{pid}">\n'
            + (f"        <name>{name}</name>\n" if name else "")
            + extended
            + geometry
            + "      </Placemark>\n"
            for pid, name, extended, geometry in zip(ids, names, data, geometries, strict=True)
        )
    )


def _column_text(
    chunk: gpd.GeoDataFrame, col: str, text: _Text, *, attribute: bool = False
) -> list[str] | None:
    """Escaped text of a text column, ``""`` for missing values; ``None`` without it."""
    if col not in chunk.columns:
        return None
    values = chunk[col].to_numpy(dtype=object, na_value=None)
    return [text(v, attribute=attribute) if isinstance(v, str) else "" for v in values]


def _extended_data(
    chunk: gpd.GeoDataFrame, layer: str, fields: dict[str, str], text: _Text
) -> list[str]:
    """The ExtendedData element of every row (``""`` when every value is missing)."""
    if not fields:
        return [""] * len(chunk)
    columns = [_simple_data(chunk[name], name, kind, text) for name, kind in fields.items()]
    head = (
        "        <ExtendedData>\n"
        f'          <SchemaData schemaUrl="#{text(layer, attribute=True)}.schema">\n'
    )
    tail = "          </SchemaData>\n        </ExtendedData>\n"
    rows = map("".join, zip(*columns, strict=True))
    return [head + row + tail if row else "" for row in rows]


def _simple_data(values: pd.Series, name: str, kind: str, text: _Text) -> list[str]:
    """One SimpleData line per row, ``""`` for a missing (or empty text) value."""
    line = f'            <SimpleData name="{text(name, attribute=True)}">%s</SimpleData>\n'
    missing = values.isna().to_numpy()
    if kind == "double":
        raw = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return [line % f"{v:.15g}" if not m else "" for v, m in zip(raw, missing, strict=True)]
    pairs = zip(values.to_numpy(dtype=object), missing, strict=True)
    if kind == "bool":
        cells = ["" if m else "true" if v else "false" for v, m in pairs]
    elif kind == "string":
        cells = [text(v) if isinstance(v, str) and not m else "" for v, m in pairs]
    else:
        cells = ["" if m else str(v) for v, m in pairs]
    return [line % c if c else "" for c in cells]


def _geometry_texts(geoms: np.ndarray, depth: int) -> list[str]:
    """The KML geometry element of each geometry (``""`` for missing or empty ones),
    indented for ``depth`` levels of MultiGeometry."""
    types = shapely.get_type_id(geoms)
    types[shapely.is_empty(geoms)] = -1
    texts = [""] * len(geoms)
    for kind, positions in _groups(types):
        if kind in _MULTI and (shapely.get_num_geometries(geoms[positions]) == 1).any():
            texts = _single_parts(geoms, positions, texts, depth)
            continue
        if kind in _MULTI:
            pieces = _multi_texts(geoms[positions], depth)
        elif kind == _POLYGON:
            pieces = _polygon_texts(geoms[positions], depth)
        else:
            tag = "Point" if kind == _POINT else "LineString"
            pieces = _simple_texts(geoms[positions], depth, tag)
        for pos, piece in zip(positions, pieces, strict=True):
            texts[pos] = piece
    return texts


def _single_parts(
    geoms: np.ndarray, positions: np.ndarray, texts: list[str], depth: int
) -> list[str]:
    """Fill ``texts`` at ``positions`` (multi-part geometries or collections): one of a
    single part is written as that part (as LIBKML does), the others as MultiGeometry."""
    single = shapely.get_num_geometries(geoms[positions]) == 1
    one, many = positions[single], positions[~single]
    pieces = _geometry_texts(shapely.get_geometry(geoms[one], 0), depth)
    pieces += _multi_texts(geoms[many], depth) if len(many) else []
    for pos, piece in zip(np.concatenate([one, many]), pieces, strict=True):
        texts[pos] = piece
    return texts


def _groups(types: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Geometry type id → positions, skipping missing and empty geometries."""
    for kind in np.unique(types):
        if kind >= 0:
            yield int(kind), np.flatnonzero(types == kind)


def _multi_texts(geoms: np.ndarray, depth: int) -> list[str]:
    pad = " " * (8 + 2 * depth)
    parts, owner = shapely.get_parts(geoms, return_index=True)
    part_texts = _geometry_texts(parts, depth + 1)
    bounds = np.searchsorted(owner, np.arange(len(geoms) + 1))
    return [
        f"{pad}<MultiGeometry>\n" + "".join(part_texts[a:b]) + f"{pad}</MultiGeometry>\n"
        for a, b in itertools.pairwise(bounds)
    ]


def _simple_texts(geoms: np.ndarray, depth: int, tag: str) -> list[str]:
    pad = " " * (8 + 2 * depth)
    blocks = _coordinate_blocks(geoms, pad + "    ")
    head = f"{pad}<{tag}>\n{pad}  <coordinates>\n"
    tail = f"{pad}  </coordinates>\n{pad}</{tag}>\n"
    return [head + block + tail for block in blocks]


def _polygon_texts(geoms: np.ndarray, depth: int) -> list[str]:
    pad = " " * (8 + 2 * depth)
    rings, owner = shapely.get_rings(geoms, return_index=True)
    blocks = _coordinate_blocks(rings, pad + "        ")
    bounds = np.searchsorted(owner, np.arange(len(geoms) + 1))
    open_ring = f"{pad}    <LinearRing>\n{pad}      <coordinates>\n"
    close_ring = f"{pad}      </coordinates>\n{pad}    </LinearRing>\n"
    outer = (
        f"{pad}<Polygon>\n{pad}  <outerBoundaryIs>\n{open_ring}",
        f"{close_ring}{pad}  </outerBoundaryIs>\n",
    )
    inner = (f"{pad}  <innerBoundaryIs>\n{open_ring}", f"{close_ring}{pad}  </innerBoundaryIs>\n")
    texts = []
    for a, b in itertools.pairwise(bounds):
        holes = "".join(inner[0] + block + inner[1] for block in blocks[a + 1 : b])
        texts.append(outer[0] + blocks[a] + outer[1] + holes + f"{pad}</Polygon>\n")
    return texts


def _coordinate_blocks(seqs: np.ndarray, pad: str) -> list[str]:
    """The ``lon,lat,z`` lines of each point, line or ring (``z`` 0 in 2D), indented by
    ``pad``: every coordinate formatted by one ``%`` operation."""
    has_z = bool(shapely.has_z(seqs).any())
    coords = shapely.get_coordinates(seqs, include_z=has_z)
    if has_z:
        coords[np.isnan(coords[:, 2]), 2] = 0.0
        line = "%.15g,%.15g,%.15g\n"
    else:
        line = "%.15g,%.15g,0\n"
    lines = ((line * len(coords)) % tuple(coords.ravel().tolist())).split("\n")
    bounds = np.concatenate([[0], np.cumsum(shapely.get_num_coordinates(seqs))]).tolist()
    glue = "\n" + pad
    return [pad + glue.join(lines[a:b]) + "\n" for a, b in itertools.pairwise(bounds)]
