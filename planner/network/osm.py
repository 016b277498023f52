"""Private readers for road data: OSM extracts, OSMnx GraphML and Geofabrik shapefiles.

Every reader returns a GeoDataFrame of LineStrings in the file's own CRS with the canonical
road columns ``highway`` (str), ``maxspeed`` (float km/h, NaN when unknown), ``oneway`` (bool),
``name`` and, for OSM and GraphML, ``layer`` (int: the OSM ``layer`` tag, else 1 on bridges,
-1 in tunnels, 0 otherwise; lines on different layers are not joined where they cross).
Ways that are one-way against their digitising direction are reversed, so ``oneway`` always
means "only in the direction of the geometry".
"""

from __future__ import annotations

import bz2
import gzip
import tempfile
import zlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from planner.errors import PlannerError
from planner.layers.readers import require_regular_file

#: ``highway`` values that are not travelable roads (planned, indoor or platform features).
NOT_ROADS = frozenset(
    {
        "abandoned",
        "bus_guideway",
        "bus_stop",
        "construction",
        "corridor",
        "disused",
        "elevator",
        "escape",
        "planned",
        "platform",
        "proposed",
        "raceway",
        "razed",
        "rest_area",
        "services",
    }
)
_MPH = 1.609344
_OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".osm.gz")
#: Largest decompressed size of an ``.osm.bz2``/``.osm.gz`` extract, in bytes; the file is
#: streamed to a temporary ``.osm`` and refused as soon as it grows past this.
MAX_DECOMPRESSED_BYTES = 2 << 30
_CHUNK = 1 << 20


def read_road_lines(path: str | Path) -> gpd.GeoDataFrame:
    """Read road lines from an OSM extract, an OSMnx GraphML file or a vector file.

    Parameters
    ----------
    path
        ``.osm.pbf``, ``.osm``, ``.osm.bz2`` or ``.osm.gz`` (OSM, ways with a ``highway``
        tag), ``.graphml`` (OSMnx), or any vector file GDAL reads; a Geofabrik shapefile
        (``fclass`` column) is mapped to the canonical columns.

    Returns
    -------
    geopandas.GeoDataFrame
        Lines in the file's CRS with ``highway``, ``maxspeed``, ``oneway``, ``name``.
    """
    path = Path(path)
    require_regular_file(path)
    name = path.name.lower()
    try:
        if name.endswith(_OSM_SUFFIXES):
            return _read_osm(path)
        if name.endswith(".graphml"):
            return _read_graphml(path)
        frame = pyogrio.read_dataframe(path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise PlannerError(f"{path}: cannot read roads ({exc})") from exc
    if "fclass" in frame.columns:
        return _geofabrik(frame)
    return frame


def _read_osm(path: Path) -> gpd.GeoDataFrame:
    """Ways with a ``highway`` tag from the GDAL OSM driver's ``lines`` layer."""
    name = path.name.lower()
    if name.endswith((".bz2", ".gz")):
        with tempfile.TemporaryDirectory(prefix="planner-osm-") as folder:
            plain = Path(folder) / "extract.osm"
            _decompress(path, plain)
            return _read_osm_lines(plain)
    return _read_osm_lines(path)


def _decompress(path: Path, target: Path) -> None:
    """Stream a ``.bz2``/``.gz`` file into ``target``, at most :data:`MAX_DECOMPRESSED_BYTES`.

    Raises
    ------
    PlannerError
        When the file is damaged or unpacks to more than the limit (a decompression bomb).
    """
    opener = bz2.open if path.name.lower().endswith(".bz2") else gzip.open
    written = 0
    try:
        with opener(path, "rb") as source, target.open("wb") as sink:
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                if written > MAX_DECOMPRESSED_BYTES:
                    raise PlannerError(
                        f"{path}: unpacks to more than {MAX_DECOMPRESSED_BYTES / 2**20:,.0f} MB; "
                        "refused (a damaged file or a decompression bomb)",
                        fix="give the .osm.pbf extract of the region instead",
                    )
                sink.write(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, gzip.BadGzipFile) and exc.errno:
            raise  # a disk error while writing the temporary file, not bad input
        raise PlannerError(f"{path}: cannot unpack ({exc})") from None


def _read_osm_lines(source: Path) -> gpd.GeoDataFrame:
    frame = pyogrio.read_dataframe(
        source,
        layer="lines",
        columns=["osm_id", "name", "highway", "other_tags"],
        where="highway IS NOT NULL",
    )
    frame = frame[~frame["highway"].isin(NOT_ROADS)]
    tags = frame["other_tags"].fillna("")
    tag = {
        key: tags.str.extract(rf'"{key}"=>"([^"]*)"', expand=False)
        for key in ("maxspeed", "oneway", "layer", "bridge", "tunnel")
    }
    oneway = tag["oneway"]
    roundabout = tags.str.contains('"junction"=>"roundabout"', regex=False)
    oneway = oneway.where(oneway.notna() | ~roundabout, "yes")
    out = gpd.GeoDataFrame(
        {
            "osm_id": frame["osm_id"],
            "name": frame["name"],
            "highway": frame["highway"],
            "maxspeed": parse_maxspeed(tag["maxspeed"]),
            "layer": _layer(tag["layer"], tag["bridge"], tag["tunnel"]),
        },
        geometry=frame.geometry,
        crs=frame.crs,
    )
    return _apply_oneway(out, oneway)


def _geofabrik(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Map the Geofabrik free shapefile schema (fclass, maxspeed 0 = unknown, oneway F/T/B)."""
    out = frame.rename(columns={"fclass": "highway"})
    if "maxspeed" in out.columns:
        speed = pd.to_numeric(out["maxspeed"], errors="coerce").astype(float)
        out["maxspeed"] = speed.where(speed > 0)
    if "oneway" in out.columns:
        code = out["oneway"].astype("string").str.upper()
        mapped = code.map({"F": "yes", "T": "-1", "B": "no"})
        out = _apply_oneway(out.drop(columns="oneway"), mapped)
    return out


def _read_graphml(path: Path) -> gpd.GeoDataFrame:
    """Edges of an OSMnx GraphML file as lines; two-way edge pairs become one line."""
    import networkx as nx

    try:
        graph = nx.read_graphml(path, force_multigraph=True)
    except Exception as exc:  # networkx raises several parser-specific types
        raise PlannerError(f"{path}: not a readable GraphML file ({exc})") from exc
    crs = graph.graph.get("crs") or "EPSG:4326"
    xy = {n: (float(d["x"]), float(d["y"])) for n, d in graph.nodes(data=True)}
    rows = [(u, v, d) for u, v, d in graph.edges(data=True)]
    geoms = [
        shapely.from_wkt(d["geometry"]) if d.get("geometry") else shapely.LineString([xy[u], xy[v]])
        for u, v, d in rows
    ]
    keys = ["highway", "maxspeed", "oneway", "name", "layer", "bridge", "tunnel"]
    data = pd.DataFrame([d for _, _, d in rows], columns=keys)
    frame = gpd.GeoDataFrame(
        {
            "name": _first_of_list(data["name"]),
            "highway": _first_of_list(data["highway"]),
            "maxspeed": parse_maxspeed(_first_of_list(data["maxspeed"])),
            "layer": _layer(*(_first_of_list(data[k]) for k in ("layer", "bridge", "tunnel"))),
        },
        geometry=gpd.GeoSeries(geoms, crs=crs).values,
        crs=crs,
    )
    oneway = data["oneway"].astype("string").str.lower().isin(["true", "yes", "1"]).to_numpy()
    frame["oneway"] = oneway
    key = pd.Series(shapely.to_wkb(shapely.normalize(frame.geometry.values)), index=frame.index)
    duplicate_pair = key.duplicated() & ~oneway
    return frame[~duplicate_pair].reset_index(drop=True)


def _first_of_list(values: pd.Series) -> pd.Series:
    """OSMnx writes merged attributes as ``"['a', 'b']"``; keep the first item."""
    text = values.astype("string")
    first = text.str.extract(r"^\[\s*'([^']*)'", expand=False)
    return first.fillna(text)


def _layer(layer: pd.Series, bridge: pd.Series, tunnel: pd.Series) -> np.ndarray:
    """OSM ``layer``, else 1 for bridges and -1 for tunnels, else 0."""
    value = pd.to_numeric(layer.astype("string"), errors="coerce").astype(float)

    def tagged(values: pd.Series) -> np.ndarray:
        text = values.astype("string").str.lower().fillna("no")
        return (~text.isin(["no", "false", "0", ""])).to_numpy(dtype=bool)

    implied = np.where(tagged(bridge), 1.0, np.where(tagged(tunnel), -1.0, 0.0))
    return np.where(value.notna(), value, implied).astype(int)


def parse_maxspeed(values: pd.Series) -> pd.Series:
    """OSM ``maxspeed`` text (``"50"``, ``"30 mph"``, ``"50;70"``) → float km/h, NaN if unknown.

    Parameters
    ----------
    values
        Strings or numbers; the first number counts, ``mph`` is converted.

    Returns
    -------
    pandas.Series
        Float km/h aligned on ``values``; non-positive or unparseable values are NaN.
    """
    if pd.api.types.is_numeric_dtype(values):
        speed = values.astype(float)
    else:
        text = values.astype("string").str.lower()
        number = pd.to_numeric(text.str.extract(r"(\d+(?:\.\d+)?)", expand=False))
        speed = number.astype(float) * np.where(text.str.contains("mph").fillna(False), _MPH, 1.0)
    return speed.where(speed > 0)


def parse_oneway(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """OSM-style ``oneway`` values → (one-way flag, reverse-the-geometry flag).

    ``True``/``"yes"``/``"true"``/``"1"`` mean one-way along the geometry; ``"-1"`` or
    ``"reverse"`` mean one-way against it; anything else (including missing) is two-way.
    """
    if pd.api.types.is_bool_dtype(values):
        flag = values.fillna(False).to_numpy(dtype=bool)
        return flag, np.zeros(len(flag), dtype=bool)
    text = values.astype("string").str.strip().str.lower()
    forward = text.isin(["yes", "true", "1", "t"]).fillna(False).to_numpy(dtype=bool)
    reverse = text.isin(["-1", "reverse"]).fillna(False).to_numpy(dtype=bool)
    return forward | reverse, reverse


def _apply_oneway(frame: gpd.GeoDataFrame, oneway: pd.Series) -> gpd.GeoDataFrame:
    """Set the boolean ``oneway`` column and reverse ways that run against their geometry."""
    flag, reverse = parse_oneway(oneway.reset_index(drop=True))
    geometry = frame.geometry.values.copy()
    geometry[reverse] = shapely.reverse(geometry[reverse])
    out = frame.set_geometry(geometry)
    out["oneway"] = flag
    return out.reset_index(drop=True)
