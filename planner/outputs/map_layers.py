"""The overlays of the plan map (:mod:`planner.outputs.maps`): boundaries, service areas,
the heat map of uncovered population, village coverage per level, centers, proposals
and grids, each added to a :class:`MapContext` that collects the legend and the extent.

Layer contents are JSON specs that the page runtime (``assets/planner/planner-map.js``)
turns into Leaflet layers; every text from the data reaches the page as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.levels import LEVELS
from planner.outputs.map_page import (
    CENTER_NAMES,
    LEVEL_NAMES,
    Data,
    DataLayer,
    OfflineMap,
    display_names,
    encode_polygons,
    nonempty,
    popup_rows,
    search_keys,
    to_geojson,
    to_latlon,
    to_wgs84,
)

if TYPE_CHECKING:
    from planner.plan import Plan

#: level → (icon shape, colour, icon size in px) of its centers and service areas
LEVEL_STYLE: dict[str, tuple[str, str, int]] = {
    "city": ("star", "#6a3d9a", 26),
    "county": ("square", "#c51b7d", 20),
    "township": ("diamond", "#1f78b4", 20),
    "subcenter": ("triangle", "#01665e", 18),
    "village": ("circle", "#e66101", 15),
    "station": ("dot", "#8c510a", 15),
}
_COVERED = {"covered": "#1a9850", "uncovered": "#d73027"}
_PROPOSAL_COLOR = {"subcenter": "#762a83", "station": "#b35806"}
_BOUNDARY = {
    "counties": {"color": "#252525", "weight": 2.5, "fill": False},
    "townships": {"color": "#525252", "weight": 1.2, "dashArray": "5 4", "fill": False},
    "village_areas": {"color": "#969696", "weight": 0.7, "fill": False},
}


#: Shape layers of more features than this draw only those in view, and none while more
#: than this are in view (the page says so); the page runtime reads it from ``init``.
VIEW_MAX = 20_000


@dataclass
class MapContext:
    """The map being built, its texts, legend and extent."""

    m: OfflineMap
    t: dict[str, str]
    simplify_m: float
    legend: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    bounds: list[np.ndarray] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.m.notes.append(text)

    def item(self, section: str, kind: str, style: dict[str, Any], text: str) -> None:
        entry = {"kind": kind, "style": style, "text": text}
        self.legend.setdefault(self.t[section], []).append(entry)

    def spec(
        self,
        frame: gpd.GeoDataFrame,
        kind: str,
        styles: list[dict[str, Any]],
        columns: Sequence[str],
        *,
        topology: bool = True,
        **extra: Any,
    ) -> dict[str, Any]:
        """Layer spec: geometry (``kind`` circle/icon as points, shape as GeoJSON), titles,
        popup rows; ``extra`` adds or overrides keys (``s`` style per feature, ``pane``).
        ``topology=False`` simplifies shapes by plain Douglas-Peucker (see ``to_wgs84``)."""
        simplify = self.simplify_m if kind == "shape" else 0.0
        geoms = to_wgs84(frame, simplify_m=simplify, preserve_topology=topology)
        self.bounds.append(geoms.total_bounds)
        labels, rows = popup_rows(frame, columns, self.t)
        spec: dict[str, Any] = {"kind": kind, "styles": styles}
        compact = encode_polygons(geoms) if kind == "shape" else None
        if compact is not None:
            spec["c"] = compact
        else:
            spec["g"] = to_geojson(geoms) if kind == "shape" else to_latlon(geoms)
        spec["t"] = display_names(frame).tolist()
        return {**spec, "labels": labels, "p": rows, **extra}

    def add(self, title: str, spec: dict[str, Any], *, size: int, show: bool, **kw: Any) -> None:
        if "c" in spec and size > VIEW_MAX:
            self.note(self.t["zoom_note"].format(name=title, n=f"{size:,}", max=f"{VIEW_MAX:,}"))
        DataLayer(title, {**spec, "name": title}, size=size, show=show, **kw).add_to(self.m)


def path_style(cls: str, label: str, **options: Any) -> dict[str, Any]:
    """A legend and layer style drawn as a Leaflet path (line, area or circle marker)."""
    return {"cls": cls, "label": label, "path": options}


def icon_style(cls: str, label: str, shape: str, fill: str, size: int) -> dict[str, Any]:
    """A legend and layer style drawn as an icon of ``shape``."""
    return {"cls": cls, "label": label, "icon": {"shape": shape, "fill": fill, "size": size}}


def center_names(plan: Plan) -> pd.Series | None:
    """Center name by center id; None when the centers have no names."""
    if "name" not in plan.centers or plan.centers.empty:
        return None
    return plan.centers.drop_duplicates("id").set_index("id")["name"]


def levels_shown(plan: Plan) -> list[str]:
    """Configured levels and levels that have centers, top-down."""
    have = set(plan.levels)
    if "level" in plan.centers:
        have |= set(plan.centers["level"].dropna())
    return [lvl for lvl in LEVELS if lvl in have]


def default_level(plan: Plan) -> str | None:
    """The level whose villages, service areas and gaps show at first: ``village`` when
    configured (the level full coverage is usually judged at), else the lowest one."""
    configured = [lvl for lvl in LEVELS if lvl in plan.levels]
    if "village" in configured:
        return "village"
    return configured[-1] if configured else None


def add_boundaries(ctx: MapContext, plan: Plan) -> None:
    """Counties, townships and village areas, and the former seats of merged townships."""
    t = ctx.t
    for kind in ("counties", "townships", "village_areas"):
        frame = nonempty(plan.layers.get(kind))
        if frame is None:
            ctx.note(t["no_data"].format(name=t[kind]))
            continue
        style = path_style(f"planner-b-{kind}", t[kind], **_BOUNDARY[kind])
        spec = ctx.spec(
            frame, "shape", [style], ("id", "county_id", "county_name"), pane="plannerBoundaries"
        )
        ctx.add(t[kind], spec, size=len(frame), show=kind != "village_areas")
        ctx.item("boundaries", "line", style, t[kind])
    merged = nonempty(plan.layers.get("merged_townships"))
    if merged is not None:
        name = t["merged_townships"]
        style = path_style("planner-merged", name, color="#737373", weight=2, fill=False, radius=6)
        spec = ctx.spec(merged, "circle", [style], ("id", "township_id"), pane="plannerIssues")
        ctx.add(name, spec, size=len(merged), show=False)
        ctx.item("boundaries", "circle", style, name)


def _radius_text(t: dict[str, str], plan: Plan, level: str) -> str:
    """The level's name and radius; with a station radius of its own, that one too."""
    if level not in plan.levels:
        return LEVEL_NAMES[t["lang"]][level]
    texts = []
    for i, (serving, spec) in enumerate(plan.scenario.serving_groups(level)):
        name = LEVEL_NAMES[t["lang"]][level if i == 0 else serving[0]]
        if spec.uses_time:
            texts.append(t["minutes"].format(level=name, n=f"{spec.minutes:g}"))
        else:
            texts.append(t["radius"].format(level=name, n=f"{spec.cutoff_m:,.0f}"))
    return " · ".join(texts)


def add_service_areas(ctx: MapContext, plan: Plan, shown: str | None) -> None:
    """Service areas per level (circles when measured in a straight line)."""
    t, areas = ctx.t, nonempty(plan.service_areas)
    if areas is None:
        ctx.note(t["no_data"].format(name=t["service_areas_all"]))
        return
    names = center_names(plan)
    modes = {"euclidean": t["euclidean"], "network": t["network"]}
    for level in levels_shown(plan):
        rows = areas[areas["level"] == level]
        if rows.empty:
            continue
        color = LEVEL_STYLE[level][1]
        title = t["service_areas"].format(level=LEVEL_NAMES[t["lang"]][level])
        style = path_style(
            f"planner-sa-{level}",
            title,
            color=color,
            weight=1,
            opacity=0.8,
            fillColor=color,
            fillOpacity=0.07,
        )
        ids = rows["center_id"].astype("string")
        frame = rows.assign(name=ids.map(names) if names is not None else ids)
        if "mode" in rows:
            frame["mode"] = rows["mode"].map(modes).fillna(rows["mode"])
        circles = {"radius_m", "mode"} <= set(rows) and rows["mode"].eq("euclidean").all()
        columns = ("center_id", "radius_m", "mode")
        if circles:  # a circle is its center and radius: far smaller than a polygon
            centres = frame.set_geometry(frame.geometry.centroid)
            spec = ctx.spec(centres, "disc", [style], columns, pane="plannerAreas")
            spec["g"] = [[*xy, r] for xy, r in zip(spec["g"], rows["radius_m"], strict=True)]
        else:
            # reach polygons have up to hundreds of thousands of vertices: plain
            # Douglas-Peucker simplifies them over ten times faster
            spec = ctx.spec(frame, "shape", [style], columns, pane="plannerAreas", topology=False)
        ctx.add(title, spec, size=len(rows), show=level == shown)
        ctx.item("service_areas_all", "area", style, _radius_text(t, plan, level))


def add_heat(ctx: MapContext, plan: Plan, shown: str | None) -> None:
    """Heat map of the uncovered population at the level ``shown``."""
    t, gaps = ctx.t, nonempty(plan.gaps)
    rows = None if gaps is None or shown is None else gaps[gaps["level"] == shown]
    if shown is None or rows is None or rows.empty or "population" not in rows:
        ctx.note(t["no_heat"])
        return
    weight = rows["population"].fillna(0).clip(lower=0).to_numpy(float)
    if weight.max() <= 0:
        ctx.note(t["no_heat"])
        return
    # intensity 1 from the 90th percentile up, so a few large villages do not wash out the rest
    scale = np.percentile(weight[weight > 0], 90)
    intensity = np.minimum(weight / scale, 1.0).round(3)
    pts = np.column_stack([np.asarray(to_latlon(to_wgs84(rows))), intensity])
    title = t["heat"].format(level=LEVEL_NAMES[t["lang"]][shown])
    options = {"radius": 22, "blur": 18, "max": 1.0, "minOpacity": 0.35}
    spec = {"points": pts.tolist(), "options": options}
    ctx.add(title, spec, size=len(rows), show=False, function="plannerMap.heat")
    ctx.item("analysis", "heat", {}, title)


def _village_styles(t: dict[str, str], level: str) -> list[dict[str, Any]]:
    return [
        path_style(
            f"planner-v-{level} planner-{state}",
            t[state],
            color="#ffffff",
            weight=1,
            fillColor=color,
            fillOpacity=0.9,
        )
        for state, color in _COVERED.items()
    ]


def _village_base(ctx: MapContext, villages: gpd.GeoDataFrame) -> Data:
    """What the coverage layers of every level share: position, name, search entry,
    marker radius (by population) and attributes."""
    t, radius = ctx.t, None
    pop = villages.get("population", pd.Series(0.0, index=villages.index))
    pop = pop.fillna(0).clip(lower=0).to_numpy(float)
    if pop.max() > 0:
        radius = (2.5 + 3.5 * np.sqrt(pop / pop.max())).round(1).tolist()
    frame = villages
    if "urban" in villages:
        frame = villages.assign(urban=villages["urban"].map({True: t["urban"], False: t["rural"]}))
    spec = ctx.spec(frame, "circle", [], ("id", "population", "households", "township_id", "urban"))
    keys = search_keys(display_names(villages), t["village_word"], villages["id"])
    base = Data({**spec, "k": keys, "r": radius})
    base.add_to(ctx.m)
    return base


def add_villages(ctx: MapContext, plan: Plan, shown: str | None) -> None:
    """Village coverage per level: covered or not, sized by population."""
    t, villages = ctx.t, nonempty(plan.villages)
    if villages is None:
        ctx.note(t["no_data"].format(name=t["villages_all"]))
        return
    base = _village_base(ctx, villages)
    names = center_names(plan)
    for level in (lvl for lvl in LEVELS if f"{lvl}_covered" in villages):
        covered = villages[f"{level}_covered"].fillna(False).to_numpy(bool)
        own = {c: c.removeprefix(f"{level}_") for c in villages if c.startswith(f"{level}_")}
        frame = villages[list(own)].rename(columns=own).assign(covered=covered)
        if names is not None:
            frame["center_name"] = frame["center_id"].map(names)
        labels, rows = popup_rows(
            frame, ("center_name", "center_id", "dist_m", "time_min", "covered"), t
        )
        spec = {
            "kind": "circle",
            "pane": "plannerVillages",
            "styles": _village_styles(t, level),
            "s": np.where(covered, 0, 1).tolist(),
            "labels": labels,
            "p": rows,
        }
        title = t["villages"].format(level=LEVEL_NAMES[t["lang"]][level])
        ctx.add(title, spec, size=len(villages), show=level == shown, base=base)
    for style in _village_styles(t, "any"):
        ctx.item("villages_all", "circle", style, style["label"])


def _population_share(villages: gpd.GeoDataFrame, level: str) -> float | None:
    if f"{level}_covered" not in villages or "population" not in villages:
        return None
    pop = villages["population"].fillna(0).to_numpy(float)
    covered = villages[f"{level}_covered"].fillna(False).to_numpy(bool)
    return float(pop[covered].sum() / pop.sum()) if pop.sum() > 0 else None


def compliance_status(plan: Plan) -> pd.Series:
    """Per center id: ``fail``, ``unknown`` or ``pass`` (empty without a check)."""
    results = plan.compliance
    if results is None or results.empty:
        return pd.Series(dtype="string")
    rank = results["verdict"].map({"fail": 2, "unknown": 1}).fillna(0)
    worst = rank.groupby(results["center_id"].astype("string")).max()
    return worst.map({2: "fail", 1: "unknown", 0: "pass"}).astype("string")


def add_centers(ctx: MapContext, plan: Plan) -> None:
    """Centers per level, with their share of the population covered in the legend."""
    t, centers = ctx.t, nonempty(plan.centers)
    verdicts = {"pass": t["pass"], "fail": t["fail"], "unknown": t["unknown"]}
    compliance = compliance_status(plan).map(verdicts)
    columns = (
        "id",
        "level",
        "township_id",
        "county_id",
        "area_m2",
        "plaza_m2",
        "catchment_villages",
        "catchment_population",
        "covered_population",
        "compliance",
    )
    for level in levels_shown(plan):
        rows = None if centers is None else centers[centers["level"] == level]
        label = CENTER_NAMES[t["lang"]][level]
        if rows is None or rows.empty:
            ctx.note(t["no_centers"].format(level=level, centers=label))
            continue
        shape, color, size = LEVEL_STYLE[level]
        style = icon_style(f"planner-c-{level}", label, shape, color, size)
        frame = rows.assign(level=label, compliance=rows["id"].astype("string").map(compliance))
        keys = search_keys(display_names(rows), label, rows["id"])
        pane = "plannerLocalCenters" if level in ("village", "station") else "markerPane"
        spec = ctx.spec(frame, "icon", [style], columns, k=keys, pane=pane)
        ctx.add(label, spec, size=len(rows), show=True)
        text = t["centers_item"].format(centers=label, n=len(rows))
        share = _population_share(plan.villages, level)
        ctx.item(
            "centers_all",
            "icon",
            style,
            text + ("" if share is None else t["share"].format(pct=f"{100 * share:.1f}")),
        )


def add_proposals(ctx: MapContext, plan: Plan) -> None:
    """Proposed sub-centers and stations, numbered by rank."""
    t = ctx.t
    if plan.proposals is None:
        ctx.note(t["no_proposals"])
        return
    props = nonempty(plan.proposals)
    for kind in ("subcenter", "station"):
        rows = None if props is None else props[props["kind"] == kind]
        title = t[f"proposal_{kind}"]
        if rows is None or rows.empty:
            ctx.note(t["no_data"].format(name=title))
            continue
        rows = rows.sort_values("rank", kind="stable")
        style = icon_style(f"planner-p-{kind}", title, "badge", _PROPOSAL_COLOR[kind], 24)
        frame = rows if "name" in rows else rows.assign(name=rows["site_id"])
        if "action" in frame:
            frame = frame.assign(action=frame["action"].map(lambda a: t.get(f"action_{a}", a)))
        columns: tuple[str, ...] = ("rank", "site_id", "new_population_covered", "reason")
        columns += tuple(c for c in ("action", "cost", "closes") if c in rows.columns)
        ranks = rows["rank"].astype("string").fillna("").tolist()
        ctx.add(
            title, ctx.spec(frame, "icon", [style], columns, n=ranks), size=len(rows), show=True
        )
        ctx.item("plan", "icon", style, t["proposal_item"].format(name=title, n=len(rows)))


def add_grids(ctx: MapContext, plan: Plan) -> None:
    """The grids of the plan (generated or the user's)."""
    t, grids = ctx.t, nonempty(plan.grids)
    if grids is None:
        ctx.note(t["no_data"].format(name=t["grids"]))
        return
    style = path_style(
        "planner-grid",
        t["grids"],
        color="#2b8cbe",
        weight=0.8,
        fillColor="#2b8cbe",
        fillOpacity=0.04,
    )
    spec = ctx.spec(
        grids,
        "shape",
        [style],
        ("id", "village_id", "households", "workers"),
        pane="plannerAreas",
    )
    ctx.add(t["grids"], spec, size=len(grids), show=False)
    ctx.item("plan", "area", style, t["grids"])
