"""The adequacy and equity overlays of the plan map (:mod:`planner.outputs.maps`):
overloaded centers and the villages farthest from their nearest center, per level."""

from __future__ import annotations

from typing import TYPE_CHECKING

import geopandas as gpd

from planner.outputs.labels import level_order
from planner.outputs.map_layers import LEVEL_STYLE, MapContext, path_style
from planner.outputs.map_page import LEVEL_NAMES, nonempty

if TYPE_CHECKING:
    from planner.plan import Plan

__all__ = ["add_overloaded", "add_worst_served"]

_OVERLOADED = ("id", "level", "served_population", "floor_area_m2", "required_m2",
               "shortfall_m2", "residents_over")  # fmt: skip
_WORST = ("id", "level", "population", "township_id", "center_id", "dist_m", "radius_m",
          "unreached")  # fmt: skip


def _as_points(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Points as they are; other geometries as a point inside them."""
    if (frame.geom_type == "Point").all():
        return frame
    return frame.set_geometry(frame.geometry.representative_point())


def add_overloaded(ctx: MapContext, plan: Plan) -> None:
    """Rings around centers serving more residents than their floor area supports."""
    t, table = ctx.t, nonempty(plan.tables.get("adequacy"))
    rows = None if table is None else table[table["status"] == "overloaded"]
    if rows is None or rows.empty:
        ctx.note(t["no_overloaded"])
        return
    style = path_style("planner-overloaded", t["overloaded"], color="#7b3294", fill=False,
                       weight=3, radius=13)  # fmt: skip
    frame = rows.rename(columns={"center_id": "id"}).assign(
        level=rows["level"].map(LEVEL_NAMES[t["lang"]]).fillna(rows["level"])
    )
    spec = ctx.spec(frame, "circle", [style], _OVERLOADED, pane="plannerIssues")
    ctx.add(t["overloaded"], spec, size=len(frame), show=False)
    ctx.item("problems", "circle", style, t["overloaded"])


def add_worst_served(ctx: MapContext, plan: Plan) -> None:
    """The worst-served villages of every level, coloured by level."""
    t, table = ctx.t, nonempty(plan.tables.get("worst_served"))
    if table is None:
        return
    levels = level_order(table["level"].unique())
    names = LEVEL_NAMES[t["lang"]]
    styles = [
        path_style(f"planner-worst-{lvl}", names.get(lvl, lvl), color=LEVEL_STYLE[lvl][1],
                   fillColor=LEVEL_STYLE[lvl][1], fillOpacity=0.35, weight=2, radius=7)
        for lvl in levels
    ]  # fmt: skip
    s = table["level"].map({lvl: i for i, lvl in enumerate(levels)}).to_numpy().tolist()
    frame = _as_points(table).assign(level=table["level"].map(names).fillna(table["level"]))
    spec = ctx.spec(frame, "circle", styles, _WORST, s=s, pane="plannerIssues")
    ctx.add(t["worst_served"], spec, size=len(frame), show=False)
    counts = table["level"].value_counts()
    for lvl, style in zip(levels, styles, strict=True):
        text = t["worst_item"].format(level=names.get(lvl, lvl), n=int(counts[lvl]))
        ctx.item("analysis", "circle", style, f"{t['worst_served']}：{text}")
