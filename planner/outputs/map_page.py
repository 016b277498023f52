"""The page machinery of :mod:`planner.outputs.maps`: inlined assets, labels, safe JSON,
data frames turned into page values, and the folium elements that carry layer specs into
the page script.

Nothing here reads a plan; :mod:`planner.outputs.maps` decides what goes on the map.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
import tomllib
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, Figure, MacroElement
from folium.map import Layer
from jinja2 import Template

#: Bundled Leaflet, plugins (see ``assets/README.md``) and our own runtime and labels.
ASSETS = Path(__file__).resolve().parent.parent / "assets"
_CSS = (
    "leaflet/dist/leaflet.css",
    "leaflet-search/dist/leaflet-search.min.css",
    "leaflet.fullscreen/dist/Control.FullScreen.css",
    "planner/planner-map.css",
)
_JS = (
    "leaflet/dist/leaflet.js",
    "leaflet.heat/dist/leaflet-heat.js",
    "leaflet-search/dist/leaflet-search.min.js",
    "leaflet.fullscreen/dist/Control.FullScreen.umd.js",
    "planner/planner-map.js",
)
_LICENCES = (
    "leaflet/LICENSE",
    "leaflet.heat/LICENSE",
    "leaflet-search/license.txt",
    "leaflet.fullscreen/LICENSE.md",
)
_MIME = {".png": "image/png", ".gif": "image/gif", ".svg": "image/svg+xml"}
_CSS_URL = re.compile(r"""url\(\s*(?!['"]?(?:data:|#))(['"]?)([^'")]+)\1\s*\)""")
_JSON_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)
#: an element that would fetch something when the page loads
_FETCH = re.compile(
    r"<(?:script|link|img|iframe|embed|object|source)\b[^>]*\b(?:src|href|data)\s*=", re.I
)
_BLOCK = re.compile(r"(<(script|style)\b[^>]*>).*?</\2\s*>", re.I | re.S)

_TEXT_CLIP = 300  # characters of a text value shown in a popup
_TITLE_CLIP = 120  # characters of a name in titles, tooltips and search entries

_LABELS = tomllib.loads((ASSETS / "planner" / "labels.toml").read_text("utf-8"))
#: Labels by language (``zh``, ``en``): page texts (with ``lang``), level names, center
#: names per level, popup field names.
TEXT: dict[str, dict[str, str]] = {k: {**v["text"], "lang": k} for k, v in _LABELS.items()}
LEVEL_NAMES: dict[str, dict[str, str]] = {k: v["levels"] for k, v in _LABELS.items()}
CENTER_NAMES: dict[str, dict[str, str]] = {k: v["centers"] for k, v in _LABELS.items()}
FIELDS: dict[str, dict[str, str]] = {k: v["fields"] for k, v in _LABELS.items()}


def _data_uri(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:{_MIME[path.suffix.lower()]};base64,{data}"


def _inline_css(path: Path) -> str:
    """CSS text with every relative ``url()`` replaced by a ``data:`` URI."""
    text = _CSS_URL.sub(
        lambda m: f'url("{_data_uri(path.parent / m.group(2))}")', path.read_text("utf-8")
    )
    if re.search(r"</style", text, re.I):
        raise RuntimeError(f"{path} cannot be inlined: it contains </style")
    return text


def _inline_js(path: Path) -> str:
    """Script text that can neither end nor comment out its ``<script>`` element."""
    text = path.read_text("utf-8")
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.I).replace("<!--", "<\\!--")


@functools.cache
def asset_html() -> str:
    """The ``<style>`` and ``<script>`` elements holding every bundled asset."""
    licences = "\n\n".join(f"{p}:\n{(ASSETS / p).read_text('utf-8')}" for p in _LICENCES)
    licences = licences.replace("*/", "* /")  # stays inside the comment
    parts = [f"<script>/*! Bundled third-party code and its licences.\n\n{licences}\n*/</script>"]
    parts += [f"<style>\n{_inline_css(ASSETS / p)}\n</style>" for p in _CSS]
    parts += [f"<script>/* {p} */\n{_inline_js(ASSETS / p)}\n</script>" for p in _JS]
    return "\n".join(parts)


def js_json(obj: Any) -> str:
    """JSON that is also a safe JavaScript literal inside an HTML ``<script>``: ``<``,
    ``>`` and ``&`` are written as ``\\u`` escapes, so data cannot close the script."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escape in _JSON_ESCAPES:
        text = text.replace(char, escape)  # a few passes: far faster than str.translate
    return text


def check_offline(page: str) -> str:
    """Return ``page``; raise RuntimeError if it would load anything from elsewhere."""
    found = _FETCH.search(_BLOCK.sub(r"\1", page))
    if found:
        raise RuntimeError(f"map page links an external resource: {found.group(0)!r}")
    return page


# ------------------------------------------------------------------- data to page values


def nonempty(frame: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """Rows with a non-empty geometry; None when there are none."""
    if frame is None or frame.empty:
        return None
    geoms = frame.geometry.values
    keep = frame[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    return keep if len(keep) else None


def to_wgs84(
    frame: gpd.GeoDataFrame, *, simplify_m: float = 0.0, preserve_topology: bool = True
) -> gpd.GeoSeries:
    """Geometries in WGS84, simplified first (in metres) when the CRS is projected.

    ``preserve_topology=False`` simplifies by plain Douglas-Peucker, more than ten times
    faster on large polygons, whose rings may then touch or cross where they come within
    the tolerance (invisible on a map, where it serves shapes of hundreds of thousands of
    vertices such as road-network service areas).
    """
    geoms = frame.geometry
    if simplify_m > 0 and geoms.crs is not None and geoms.crs.is_projected:
        geoms = geoms.simplify(simplify_m, preserve_topology=preserve_topology)
    return geoms.to_crs(4326) if geoms.crs is not None else geoms


def to_latlon(geoms: gpd.GeoSeries) -> list[list[float]]:
    """``[lat, lon]`` of points (of other geometries: a point inside them)."""
    if not (geoms.geom_type == "Point").all():
        geoms = geoms.representative_point()
    return np.column_stack([geoms.y.to_numpy(), geoms.x.to_numpy()]).round(6).tolist()


def to_geojson(geoms: gpd.GeoSeries) -> list[dict[str, Any]]:
    """GeoJSON geometry objects, coordinates rounded to 6 decimals.

    Polygons and multi-polygons (the bulk of a map) are assembled straight from their
    coordinate arrays; other geometries go through GEOS's GeoJSON text.
    """
    values = geoms.to_numpy()
    kind = shapely.get_type_id(values)
    polygonal = np.isin(kind, [shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON])
    out: list[Any] = [None] * len(values)
    for i, shape in zip(np.flatnonzero(polygonal), _polygon_json(values[polygonal]), strict=True):
        out[i] = shape
    other = np.flatnonzero(~polygonal)
    if len(other):
        rounded = shapely.transform(values[other], lambda xy: np.round(xy, 6))
        texts = shapely.to_geojson(rounded)
        for i, shape in zip(other, json.loads("[" + ",".join(texts) + "]"), strict=True):
            out[i] = shape
    return out


#: Coordinates on the map are rounded to this many decimals of a degree (about 0.1 m).
MAP_DIGITS = 6


def varints(values: np.ndarray) -> str:
    """Non-negative integers as unsigned LEB128 varints (7 bits a byte, low bits first),
    base64 text: what the page runtime decodes (``varints`` in ``planner-map.js``)."""
    v = np.asarray(values, dtype=np.uint64)
    size = np.ones(len(v), dtype=np.int64)
    for k in range(1, 10):
        size += v >= np.uint64(1 << (7 * k))
    owner = np.repeat(np.arange(len(v)), size)
    pos = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
    low = (v[owner] >> (7 * pos).astype(np.uint64)) & np.uint64(0x7F)
    more = (pos < size[owner] - 1).astype(np.uint64) << np.uint64(7)
    return base64.b64encode((low | more).astype(np.uint8).tobytes()).decode("ascii")


def _zigzag(values: np.ndarray) -> np.ndarray:
    """Signed integers mapped to non-negative ones (0, -1, 1, -2 → 0, 1, 2, 3)."""
    v = np.asarray(values, dtype=np.int64)
    return (v << 1) ^ (v >> 63)


def encode_polygons(geoms: gpd.GeoSeries) -> dict[str, str] | None:
    """Polygons and multi-polygons in the compact form the page runtime draws (``None``
    when there are other geometries): per feature its number of polygons (``parts``),
    per polygon its number of rings (``rings``), per ring its number of vertices without
    the closing one (``verts``), and the vertices as differences of longitude and latitude
    from the previous vertex, in units of 1e-6 degree (``xy``); each a :func:`varints`
    text. About a fifth of the GeoJSON text, and read without a JavaScript parser."""
    values = geoms.to_numpy()
    kinds = shapely.get_type_id(values)
    polygonal = (kinds == shapely.GeometryType.POLYGON) | (
        kinds == shapely.GeometryType.MULTIPOLYGON
    )
    if not polygonal.all():
        return None
    parts, owner = shapely.get_parts(values, return_index=True)
    rings, _ = shapely.get_rings(parts, return_index=True)
    rings = rings[~shapely.is_empty(rings)]
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    counts = np.bincount(ring_of, minlength=len(rings))
    closing = np.cumsum(counts) - 1
    keep = np.ones(len(xy), dtype=bool)
    keep[closing[counts > 0]] = False
    grid = np.round(xy[keep] * 10**MAP_DIGITS).astype(np.int64)
    steps = np.diff(grid, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    ring_parts = shapely.get_num_interior_rings(parts) + ~shapely.is_empty(parts)
    return {
        "parts": varints(np.bincount(owner, minlength=len(values))),
        "rings": varints(ring_parts),
        "verts": varints(np.maximum(counts - 1, 0)),
        "xy": varints(_zigzag(steps.ravel())),
    }


def _polygon_json(polygons: np.ndarray) -> list[dict[str, Any]]:
    """GeoJSON objects of polygons and multi-polygons as GEOS writes them (exterior ring
    first; an empty polygon as ``[[]]``), coordinates rounded to 6 decimals."""
    parts, owner = shapely.get_parts(polygons, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    points = np.round(xy, 6).tolist()
    bounds = np.r_[0, np.cumsum(np.bincount(ring_of, minlength=len(rings)))]
    ring_lists = [points[a:b] for a, b in pairwise(bounds.tolist())]
    by_part: list[list[Any]] = [[] for _ in range(len(parts))]
    for ring, part in zip(ring_lists, ring_part.tolist(), strict=True):
        by_part[part].append(ring)
    by_owner: list[list[Any]] = [[] for _ in range(len(polygons))]
    for rings_of_part, who in zip(by_part, owner.tolist(), strict=True):
        by_owner[who].append(rings_of_part)
    multi = shapely.get_type_id(polygons) == shapely.GeometryType.MULTIPOLYGON
    return [
        {"type": "MultiPolygon", "coordinates": shape}
        if is_multi
        else {"type": "Polygon", "coordinates": (shape[0] if shape else []) or [[]]}
        for shape, is_multi in zip(by_owner, multi.tolist(), strict=True)
    ]


def _clip(text: pd.Series, limit: int) -> pd.Series:
    """Text cut to ``limit`` characters, marked with an ellipsis."""
    text = text.astype("string")
    long = text.str.len() > limit
    return text.where(~long, text.str.slice(0, limit) + "…") if long.any() else text


def _values(series: pd.Series, t: dict[str, str]) -> list[Any]:
    """Display values of a column: numbers rounded, booleans as words, text clipped;
    missing values as None (popups leave them out)."""
    if pd.api.types.is_bool_dtype(series):
        words = pd.Series(np.where(series.fillna(False), t["yes"], t["no"]), index=series.index)
    elif pd.api.types.is_numeric_dtype(series):
        words = series.astype(float).round(1)
        return words.astype(object).where(np.isfinite(words), None).tolist()
    else:
        words = _clip(series, _TEXT_CLIP)
    return words.astype(object).where(series.notna(), None).tolist()


def popup_rows(frame: pd.DataFrame, columns: Sequence[str], t: dict[str, str]) -> tuple[list, list]:
    """Popup labels and value rows for those of ``columns`` that ``frame`` has."""
    present = [c for c in columns if c in frame.columns]
    cols = [_values(frame[c], t) for c in present]
    rows = (
        [list(row) for row in zip(*cols, strict=True)] if cols else [[] for _ in range(len(frame))]
    )
    return [FIELDS[t["lang"]].get(c, c) for c in present], rows


def display_names(frame: pd.DataFrame, id_column: str = "id") -> pd.Series:
    """Display names: ``name``, else the id; clipped."""
    ids = frame[id_column].astype("string") if id_column in frame else None
    names = frame["name"].astype("string") if "name" in frame else ids
    if names is None:
        return pd.Series("", index=frame.index, dtype="string")
    return _clip(names if ids is None else names.fillna(ids), _TITLE_CLIP).fillna("")


def search_keys(names: pd.Series, kind: str, ids: pd.Series) -> list[str]:
    """Unique search entries ``name · kind id``."""
    keys = names + " · " + kind + " " + ids.astype("string").fillna("")
    dup = keys.groupby(keys).cumcount()
    return keys.where(dup == 0, keys + " #" + (dup + 1).astype("string")).tolist()


# ---------------------------------------------------------------------- folium elements


class _Raw(Element):
    """Trusted page text (our inlined assets), written as is."""

    _template = Template("{{ this.text }}")

    def __init__(self, text: str):
        super().__init__()
        self.text = text


class _Page(Figure):
    """The HTML page, with its language and an escaped title."""

    _template = Template(
        '<!DOCTYPE html>\n<html lang="{{ this.lang }}">\n<head>\n'
        "<title>{{ this.title|e }}</title>\n{{ this.header.render(**kwargs) }}\n</head>\n"
        "<body>\n{{ this.html.render(**kwargs) }}\n<script>\n"
        "{{ this.script.render(**kwargs) }}\n</script>\n</body>\n</html>\n"
    )

    def __init__(self, *, title: str, lang: str):
        super().__init__(title=title)
        self.lang = "zh-CN" if lang == "zh" else "en"


class _TextScript(MacroElement):
    """An element whose script reaches the page as plain text.

    branca wraps every rendered script in a new Jinja template and renders it once more,
    so data holding ``{{``, ``{%`` or ``{#`` would be evaluated as Jinja or break the
    page. These elements hand their script over as a value instead (which also saves
    parsing megabytes of data as templates).
    """

    def render(self, **kwargs: Any) -> None:  # type: ignore[override]  # None, like MacroElement
        figure = self.get_root()
        assert isinstance(figure, Figure)  # rendered from the page, as MacroElement asserts
        script = self._template.module.__dict__["script"](self, kwargs)
        figure.script.add_child(_Raw(script), name=self.get_name())


class Call(_TextScript):
    """``function(map, spec)`` in the page script: a control of the map."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "{{ this.function }}({{ this._parent.get_name() }}, {{ this.payload }});"
        "{% endmacro %}"
    )

    def __init__(self, function: str, spec: dict[str, Any]):
        super().__init__()
        self.function = function
        self.spec = spec

    @property
    def payload(self) -> str:
        return js_json(self.spec)


class Data(_TextScript):
    """Data shared by several layers: one variable in the page script."""

    _template = Template(
        "{% macro script(this, kwargs) %}var {{ this.get_name() }} = {{ this.payload }};"
        "{% endmacro %}"
    )

    def __init__(self, spec: dict[str, Any]):
        super().__init__()
        self.spec = spec

    @property
    def payload(self) -> str:
        return js_json(self.spec)


class DataLayer(_TextScript, Layer):
    """An overlay built in the page by ``function(spec[, base])``.

    ``title`` is its name in the layer control, ``size`` its number of features.
    """

    _template = Template(
        "{% macro script(this, kwargs) %}var {{ this.get_name() }} = {{ this.function }}("
        "{{ this.payload }}{% if this.base %}, {{ this.base.get_name() }}{% endif %});"
        "{% if this.show %}{{ this.get_name() }}.addTo({{ this._parent.get_name() }});{% endif %}"
        "{% endmacro %}"
    )

    def __init__(
        self,
        title: str,
        spec: dict[str, Any],
        *,
        size: int,
        show: bool,
        function: str = "plannerMap.layer",
        base: Data | None = None,
    ):
        # Leaflet's layer control shows names as HTML: escape them
        super().__init__(name=html.escape(title), overlay=True, control=True, show=show)
        self.title = title
        self.spec = spec
        self.size = size
        self.function = function
        self.base = base

    @property
    def payload(self) -> str:
        return js_json(self.spec)


class OfflineMap(folium.Map):
    """A folium map that links no CDN: its page inlines the bundled assets."""

    def __init__(self, *, title: str, lang: str, **kwargs: Any):
        super().__init__(tiles=None, control_scale=False, font_size="0.8125rem", **kwargs)
        self.default_js, self.default_css = [], []  # no CDN links: the page inlines assets
        self.lang = lang
        #: what the map does not show, and why (also listed in its legend)
        self.notes: list[str] = []
        page = _Page(title=title, lang=lang)
        page.add_child(self)
        page.header.add_child(_Raw(asset_html()), name="planner_assets")

    def data_layers(self) -> dict[str, DataLayer]:
        """The overlays by display name, in layer-control order."""
        return {c.title: c for c in self._children.values() if isinstance(c, DataLayer)}
