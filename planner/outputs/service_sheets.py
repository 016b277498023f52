"""The adequacy and equity sheets of a plan (``adequacy``, ``equity_by_county``,
``equity_by_township``, ``worst_served``), with canonical column names; part of
:func:`planner.outputs.sheets.canonical_sheets`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd

from planner.outputs.labels import unit_names

if TYPE_CHECKING:
    from planner.plan import Plan

__all__ = ["service_sheets"]

#: ``(table, frame) -> table`` with the coordinates of ``frame``'s points appended.
AddPoints = Callable[[pd.DataFrame, gpd.GeoDataFrame], pd.DataFrame]


def _named(plan: Plan, table: pd.DataFrame, unit: str) -> pd.DataFrame:
    """``table`` with ``<unit>_name`` right after ``<unit>_id``."""
    key = f"{unit}_id"
    out = pd.DataFrame(table.drop(columns="geometry", errors="ignore")).copy()
    names = out[key].astype("string").map(unit_names(plan, unit))
    out.insert(list(out.columns).index(key) + 1, f"{unit}_name", names)
    return out.reset_index(drop=True)


def service_sheets(plan: Plan, add_points: AddPoints) -> dict[str, pd.DataFrame]:
    """The sheets of the adequacy and equity step (none when it did not run)."""
    tables = plan.tables
    if "adequacy" not in tables:
        return {}
    worst = tables["worst_served"]
    return {
        "adequacy": _named(plan, tables["adequacy"], "township"),
        "equity_by_county": _named(plan, tables["equity_by_county"], "county"),
        "equity_by_township": _named(plan, tables["equity_by_township"], "township"),
        "worst_served": add_points(_named(plan, worst, "township"), worst),
    }
