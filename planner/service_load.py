"""The adequacy and equity step of a run: its tables and its part of ``summary.json``.

:func:`service_load` reads only what the coverage step recorded (nearest center, distance
and covered flag per village and level) and each village's township and county; see
:mod:`planner.adequacy` and :mod:`planner.equity` for the definitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd

from planner.adequacy import adequacy, adequacy_summary
from planner.catchment import LevelResult
from planner.equity import equity_by_unit, equity_summary, worst_served

__all__ = ["SERVICE_TABLES", "ServiceLoad", "service_load"]

#: Keys of :attr:`ServiceLoad.tables` (in ``Plan.tables``), in sheet order.
SERVICE_TABLES: tuple[str, ...] = (
    "adequacy", "equity_by_county", "equity_by_township", "worst_served",
)  # fmt: skip


@dataclass
class ServiceLoad:
    """Adequacy per center and equity per unit: the tables and the summary keys."""

    tables: dict[str, pd.DataFrame]
    summary: dict[str, Any]


def service_load(
    villages: gpd.GeoDataFrame,
    levels: Mapping[str, LevelResult],
    *,
    township: pd.Series,
    county: pd.Series,
    rules: Mapping[str, float],
    worst: int,
) -> ServiceLoad:
    """Adequacy and equity of every level.

    Parameters
    ----------
    villages
        The villages coverage was measured on (``id``, ``population``, optional ``name``
        and ``township_id``), in the order of ``levels``' arrays.
    levels
        Coverage per level.
    township, county
        Each village's township and county code (aligned on ``villages``).
    rules
        Floor area per 1,000 residents served, per center level.
    worst
        Worst-served villages listed per level.

    Returns
    -------
    ServiceLoad
        ``tables``: ``adequacy`` (GeoDataFrame of centers), ``equity_by_county``,
        ``equity_by_township``, ``worst_served`` (GeoDataFrame of villages); ``summary``:
        ``adequacy`` and ``equity``.
    """
    pop = villages["population"].to_numpy(dtype=float, na_value=float("nan"))
    table = adequacy(levels, pop, rules)
    if table.crs is None:  # no centers: an empty layer in the villages' CRS
        table = table.set_crs(villages.crs)
    return ServiceLoad(
        tables={
            "adequacy": table,
            "equity_by_county": equity_by_unit(levels, pop, county, "county"),
            "equity_by_township": equity_by_unit(levels, pop, township, "township"),
            "worst_served": worst_served(villages, levels, n=worst, county=county),
        },
        summary={
            "adequacy": adequacy_summary(table, rules),
            "equity": equity_summary(levels, pop, worst=worst),
        },
    )
