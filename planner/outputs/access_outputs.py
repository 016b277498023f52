"""The ``[access]`` scores in the outputs: the ``access`` sheet (``access.csv``) and a map
layer per level colouring villages by their score (the report section is
:mod:`planner.outputs.access_report`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.outputs.labels import level_order
from planner.outputs.map_layers import MapContext, path_style
from planner.outputs.map_page import LEVEL_NAMES, nonempty

if TYPE_CHECKING:
    from planner.plan import Plan

__all__ = ["access_sheet", "add_access"]

#: Columns of the ``access`` sheet, from ``summary.json`` ``access.<level>``.
SHEET_COLUMNS = ("level", "method", "decay", "supply", "access_mean", "access_p10",
                 "access_p50", "access_p90", "gini", "population_without_access", "centers",
                 "centers_reaching_nobody")  # fmt: skip
#: Fill of villages no center reaches, then of the quintiles of the others, lowest first.
_NONE_COLOR = "#bdbdbd"
_BAND_COLORS = ("#ffffcc", "#c2e699", "#78c679", "#31a354", "#006837")


def access_sheet(plan: Plan) -> pd.DataFrame | None:
    """One row per scored level: method, supply column and the scores over residents;
    ``None`` without ``[access]``."""
    summary = plan.summary.get("access")
    if not summary:
        return None
    rows = []
    for level in level_order(summary):
        s = summary[level]
        scores = {f"access_{k}": s[k] for k in ("mean", "p10", "p50", "p90")}
        rows.append({"level": level, **s, **scores})
    return pd.DataFrame(rows)[list(SHEET_COLUMNS)]


def _bands(scores: np.ndarray) -> np.ndarray:
    """Style index per village: 0 where no center reaches it, else 1…5 by the quintile of
    its score among the villages some center reaches."""
    band = np.zeros(len(scores), dtype=np.int64)
    reached = scores > 0
    if reached.any():
        ranks = pd.Series(scores[reached]).rank(method="average", pct=True).to_numpy()
        band[reached] = np.minimum(np.ceil(ranks * 5), 5).astype(np.int64)
    return band


def _styles(t: dict[str, str]) -> list[dict[str, Any]]:
    texts = [t["access_none"]] + [
        t["access_band"].format(lo=20 * k, hi=20 * (k + 1)) for k in range(len(_BAND_COLORS))
    ]
    colors = (_NONE_COLOR, *_BAND_COLORS)
    return [
        path_style(f"planner-access-{k}", text, color="#ffffff", weight=1, fillColor=color,
                   fillOpacity=0.9, radius=5)
        for k, (text, color) in enumerate(zip(texts, colors, strict=True))
    ]  # fmt: skip


def _as_points(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if (frame.geom_type == "Point").all():
        return frame
    return frame.set_geometry(frame.geometry.representative_point())


def add_access(ctx: MapContext, plan: Plan) -> None:
    """Villages coloured by their accessibility score, one layer per scored level (hidden
    until chosen); popups give the score per 1,000 residents."""
    villages = nonempty(plan.villages)
    if villages is None or not plan.access:
        return
    t, names = ctx.t, LEVEL_NAMES[ctx.t["lang"]]
    styles = _styles(t)
    keep = [c for c in ("id", "name", "population") if c in villages.columns]
    for level in level_order(plan.access):
        scores = villages[f"{level}_access"].fillna(0.0).to_numpy(dtype=float)
        frame = _as_points(villages[[*keep, villages.geometry.name]])
        frame = frame.assign(access_per_1000=scores * 1000.0)
        title = t["access_layer"].format(level=names.get(level, level))
        spec = ctx.spec(frame, "circle", styles, ("id", "population", "access_per_1000"),
                        s=_bands(scores).tolist(), pane="plannerVillages")  # fmt: skip
        ctx.add(title, spec, size=len(frame), show=False)
    for style in styles:
        ctx.item("analysis", "circle", style, f"{t['access_legend']}：{style['label']}")
