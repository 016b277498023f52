"""The one validator behind the public API (:mod:`planner.api`).

Every public function passes its GeoDataFrames and options through here, so the rules are
the same everywhere:

* a layer must be a :class:`geopandas.GeoDataFrame` with a CRS (none is guessed) and no
  missing or empty geometry;
* distances are never measured in degrees: a layer in a geographic CRS (or in feet, or
  web Mercator) is projected to the working metric CRS that ``[scenario] crs = "auto"``
  would pick (:func:`metric_crs`);
* layers in different CRSs are all brought to the metric CRS of the first one (the first
  with rows, when it is not metric itself);
* points are used as given; polygons stand for a point inside each
  (``representative_point``); other geometries are refused;
* ``id`` is optional: without the column the index labels are the ids;
* problems raise :class:`~planner.errors.PlannerError` naming the argument and what it got.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from planner import crs as crs_mod
from planner.errors import PlannerError, warn

_SHOWN = 5  # labels listed in a message


def _labels(index: pd.Index, mask: np.ndarray) -> str:
    """The first few index labels where ``mask`` holds, for a message."""
    picked = index[mask]
    listed = ", ".join(repr(label) for label in picked[:_SHOWN])
    return listed + (f" and {len(picked) - _SHOWN} more" if len(picked) > _SHOWN else "")


def layer(
    value: Any, name: str, *, columns: Sequence[str] = (), empty_ok: bool = True
) -> gpd.GeoDataFrame:
    """Check that ``value`` is a usable layer; return it unchanged.

    Parameters
    ----------
    value
        What the caller gave.
    name
        The argument's name, used in messages.
    columns
        Columns that must be present.
    empty_ok
        Whether a layer without rows is acceptable.

    Raises
    ------
    PlannerError
        Not a GeoDataFrame, no CRS, missing or empty geometries, missing columns, no rows
        (unless ``empty_ok``).
    """
    if not isinstance(value, gpd.GeoDataFrame):
        raise PlannerError(f"{name}: expected a GeoDataFrame, got {type(value).__name__}")
    if not empty_ok and not len(value):
        raise PlannerError(f"{name} is empty: it has no rows")
    if value.crs is None:
        raise PlannerError(
            f"{name} has no CRS: set the one its coordinates are in, e.g. "
            f"{name}.set_crs('EPSG:4326') for longitude/latitude"
        )
    geoms = np.asarray(value.geometry.values)
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if bad.any():
        raise PlannerError(
            f"{name}: {int(bad.sum())} row(s) have no geometry (index {_labels(value.index, bad)})"
        )
    missing = [c for c in columns if c not in value.columns]
    if missing:
        raise PlannerError(
            f"{name} has no column {', '.join(map(repr, missing))} (columns: "
            f"{', '.join(map(str, value.columns.drop(value.geometry.name)))})"
        )
    return value


def is_metric(crs: Any) -> bool:
    """Whether distances can be measured in ``crs``: projected, both axes in metres, and
    not a (web) Mercator, whose metres grow with latitude (×1.4 at 44°N)."""
    crs = pyproj.CRS.from_user_input(crs)
    if not crs.is_projected or {axis.unit_name for axis in crs.axis_info} != {"metre"}:
        return False
    method = crs.coordinate_operation.method_name if crs.coordinate_operation else ""
    return not ("Mercator" in method and "Transverse" not in method)


def metric_crs(frame: gpd.GeoDataFrame) -> pyproj.CRS:
    """The metric CRS a layer is measured in.

    Its own CRS when distances can be measured in it (:func:`is_metric`); otherwise the
    working CRS
    ``[scenario] crs = "auto"`` picks for it (:func:`planner.crs.auto_working_crs` on the
    median longitude/latitude of a point inside each feature: the CGCS2000 3° Gauss-Krüger
    zone nearest the data in China, the UTM zone elsewhere).
    """
    own = pyproj.CRS.from_user_input(frame.crs)
    if is_metric(own):
        return own
    points = gpd.GeoSeries(shapely.point_on_surface(np.asarray(frame.geometry.values)), crs=own)
    lonlat = points.to_crs("EPSG:4326")
    return crs_mod.auto_working_crs(lonlat.x.to_numpy(), lonlat.y.to_numpy())


def to_common_crs(
    layers: Mapping[str, gpd.GeoDataFrame], *, crs: pyproj.CRS | None = None
) -> dict[str, gpd.GeoDataFrame]:
    """Bring checked layers to one metric CRS: ``crs``, else the :func:`metric_crs` of the
    first layer that is metric or has rows. Layers already in it are returned as they are.

    Raises
    ------
    PlannerError
        When no layer is metric and none has rows to pick a CRS from.
    """
    target = crs
    for frame in layers.values():
        if target is None and (len(frame) or is_metric(frame.crs)):
            target = metric_crs(frame)
    if target is None:
        raise PlannerError(
            f"cannot pick a metric CRS: {', '.join(layers)} are empty and in "
            "longitude/latitude; give one of them rows or a projected CRS"
        )
    return {
        name: frame if target.equals(frame.crs) else frame.to_crs(target)
        for name, frame in layers.items()
    }


def points(frame: gpd.GeoDataFrame, name: str) -> gpd.GeoSeries:
    """Point geometries of a layer (a point inside each polygon), on its index.

    Raises
    ------
    PlannerError
        For lines, multipoints or collections.
    """
    kinds = frame.geom_type
    other = ~kinds.isin(["Point", "Polygon", "MultiPolygon"]).to_numpy()
    if other.any():
        raise PlannerError(
            f"{name}: expected points or polygons, got {sorted(set(kinds[other]))} "
            f"(index {_labels(frame.index, other)})"
        )
    geoms = frame.geometry
    if (kinds == "Point").all():
        return geoms
    return gpd.GeoSeries(
        np.where(kinds == "Point", geoms.values, geoms.representative_point().values),
        index=frame.index,
        crs=frame.crs,
    )


def ids(frame: gpd.GeoDataFrame) -> np.ndarray:
    """The ``id`` column, else the index labels, as an object array."""
    values = frame["id"] if "id" in frame.columns else frame.index.to_series()
    return values.to_numpy(dtype=object)


def point_frame(frame: gpd.GeoDataFrame, name: str) -> gpd.GeoDataFrame:
    """A layer's :func:`ids` and :func:`points`, on positions 0…n-1."""
    pts = points(frame, name)
    return gpd.GeoDataFrame({"id": ids(frame)}, geometry=pts.to_numpy(), crs=frame.crs)


def unique_index(frame: gpd.GeoDataFrame, name: str) -> None:
    """Refuse a layer whose index labels repeat (results are indexed on them)."""
    repeated = frame.index.duplicated(keep=False)
    if repeated.any():
        raise PlannerError(
            f"{name}: the index has repeated labels ({_labels(frame.index, repeated)}); "
            f"give every row its own label, e.g. {name}.reset_index(drop=True)"
        )


def weights(frame: gpd.GeoDataFrame, name: str, column: str | None) -> np.ndarray:
    """Demand weights: ``column`` as numbers (1 per row when ``None``).

    A blank value counts 0 and is reported with a :class:`PlannerWarning`.

    Raises
    ------
    PlannerError
        An absent column, text, negative or infinite values.
    """
    if column is None:
        return np.ones(len(frame))
    if column not in frame.columns:
        raise PlannerError(
            f"{name} has no column {column!r} to weigh villages by; give weights='<column>', "
            "or weights=None to count every village once"
        )
    try:
        values = pd.to_numeric(frame[column], errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise PlannerError(f"{name}[{column!r}]: not a number ({exc})") from None
    blank = np.isnan(values)
    bad = ~blank & (~np.isfinite(values) | (values < 0))
    if bad.any():
        raise PlannerError(
            f"{name}[{column!r}]: negative or infinite values (index {_labels(frame.index, bad)})"
        )
    if blank.any():
        warn(
            f"{name}[{column!r}] is blank in {int(blank.sum())} row(s) (index "
            f"{_labels(frame.index, blank)}); counted as 0"
        )
    return np.where(blank, 0.0, values)


def positive(value: Any, name: str) -> float:
    """A finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise PlannerError(f"{name} must be a number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise PlannerError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def count(value: Any, name: str) -> int:
    """A whole number ≥ 0."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise PlannerError(f"{name} must be a whole number ≥ 0, got {value!r}")
    return int(value)


def share(value: Any, name: str) -> float:
    """A number in (0, 1]."""
    number = positive(value, name)
    if number > 1:
        raise PlannerError(f"{name} is a share of the population in (0, 1], got {value!r}")
    return number


def choice(value: Any, choices: Sequence[str], name: str) -> str:
    """One of ``choices``."""
    if value not in choices:
        raise PlannerError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return str(value)


def one_of(options: Mapping[str, Any]) -> str:
    """The name of the one option given (not ``None``) among ``options``."""
    given = [name for name, value in options.items() if value is not None]
    if len(given) != 1:
        names = " or ".join(options)
        got = ", ".join(f"{n}={options[n]!r}" for n in given) or "neither"
        raise PlannerError(f"give exactly one of {names}; got {got}")
    return given[0]


def siting_options(budget: Any, target: Any, capacity: Any) -> None:
    """The options of :func:`planner.propose_sites`: a whole ``budget`` or a ``target``
    share, not both, and a ``capacity`` > 0 only with ``budget``."""
    if budget is not None and target is not None:
        raise PlannerError(
            f"give budget or target_coverage, not both; got budget={budget!r}, "
            f"target_coverage={target!r}"
        )
    if capacity is not None:
        positive(capacity, "capacity")
        if budget is None:
            raise PlannerError(
                f"capacity={capacity!r} needs budget= (capacitated maximal covering); got "
                f"{'target_coverage' if target is not None else 'no budget'}"
            )
    if budget is not None:
        count(budget, "budget")
    if target is not None:
        share(target, "target_coverage")


def network_for(mode: str, network: Any) -> Any:
    """The road network a ``mode`` needs: required for ``"network"``, refused otherwise."""
    from planner.network import RoadNetwork

    if mode == "network" and network is None:
        raise PlannerError(
            "mode='network' measures along roads and needs network= (from "
            "planner.build_network(roads)); got none"
        )
    if mode != "network" and network is not None:
        raise PlannerError(
            f"network= is given but mode={mode!r}; pass mode='network' to measure along roads"
        )
    if network is not None and not isinstance(network, RoadNetwork):
        raise PlannerError(
            f"network: expected a RoadNetwork (planner.build_network), got {type(network).__name__}"
        )
    return network
