"""Offline interactive map of a plan (``map.html``).

:func:`build_map` returns a :class:`folium.Map`; :func:`write_map` writes its page
atomically. The page makes no network request: Leaflet and the plugins it uses
(leaflet.heat, leaflet-search, leaflet.fullscreen; versions and licences in
``assets/README.md``) are inlined, CSS images as ``data:`` URIs, and folium's CDN links
are switched off (:mod:`planner._map_page`). Base tiles are off unless the scenario asks
for ``tiles = "osm"`` or ``"tianditu"`` (with ``tianditu_key``).

Overlays: boundaries (counties, townships, village areas, former seats of merged
townships), service areas and centers per level, village coverage per level (covered or
not, sized by population), a heat map of uncovered population (at village level when it
is configured), proposed sub-centers and stations numbered by rank, grids, grid issues,
centers failing the standard and units without a center of their level. A legend lists
what each symbol means and what the map does not show for lack of data; villages and
centers can be searched by name.

Layer contents are JSON specs that a small runtime (``assets/planner/planner-map.js``)
turns into Leaflet layers. Every text from the data reaches the page as text
(``textContent``), never as HTML. Polygons are simplified in the working (metric) CRS
before they are reprojected to WGS84, and coordinates are rounded to 6 decimals
(about 0.1 m).
"""

from __future__ import annotations

import html
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from planner.errors import PlannerError, PlannerWarning
from planner.levels import LEVELS
from planner.outputs.files import atomic_path
from planner.outputs.map_page import (
    CENTER_NAMES,
    LEVEL_NAMES,
    TEXT,
    Call,
    Data,
    DataLayer,
    OfflineMap,
    check_offline,
    display_names,
    nonempty,
    popup_rows,
    search_keys,
    to_geojson,
    to_latlon,
    to_wgs84,
)

if TYPE_CHECKING:
    from planner.plan import Plan

logger = logging.getLogger(__name__)

__all__ = ["LEVEL_STYLE", "TEXT", "build_map", "render_map", "write_map"]

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
_RING = {"fill": False, "weight": 2.5, "radius": 11}
_OSM = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_TIANDITU = (
    "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
    "&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
)


def _center_names(plan: Plan) -> pd.Series | None:
    if "name" not in plan.centers or plan.centers.empty:
        return None
    return plan.centers.drop_duplicates("id").set_index("id")["name"]


# ------------------------------------------------------------------------ map building


@dataclass
class _Ctx:
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
        g = to_geojson(geoms) if kind == "shape" else to_latlon(geoms)
        spec = {"kind": kind, "styles": styles, "g": g, "t": display_names(frame).tolist()}
        return {**spec, "labels": labels, "p": rows, **extra}

    def add(self, title: str, spec: dict[str, Any], *, size: int, show: bool, **kw: Any) -> None:
        DataLayer(title, spec, size=size, show=show, **kw).add_to(self.m)


def _path(cls: str, label: str, **options: Any) -> dict[str, Any]:
    return {"cls": cls, "label": label, "path": options}


def _icon(cls: str, label: str, shape: str, fill: str, size: int) -> dict[str, Any]:
    return {"cls": cls, "label": label, "icon": {"shape": shape, "fill": fill, "size": size}}


def _levels_shown(plan: Plan) -> list[str]:
    """Configured levels and levels that have centers, top-down."""
    have = set(plan.levels)
    if "level" in plan.centers:
        have |= set(plan.centers["level"].dropna())
    return [lvl for lvl in LEVELS if lvl in have]


def _default_level(plan: Plan) -> str | None:
    """The level whose villages, service areas and gaps show at first: ``village`` when
    configured (the level full coverage is usually judged at), else the lowest one."""
    configured = [lvl for lvl in LEVELS if lvl in plan.levels]
    if "village" in configured:
        return "village"
    return configured[-1] if configured else None


def _add_tiles(ctx: _Ctx, tiles: str, key: str) -> None:
    t = ctx.t
    if tiles == "osm":
        folium.TileLayer(
            _OSM, attr="© OpenStreetMap contributors", name="OpenStreetMap", max_zoom=19
        ).add_to(ctx.m)
    elif tiles == "tianditu" and not key.strip():
        ctx.note(t["no_tianditu_key"])
        warnings.warn(
            "map: tiles = 'tianditu' but outputs.tianditu_key is empty: no tiles",
            PlannerWarning,
            stacklevel=2,
        )
    elif tiles == "tianditu":
        for layer, overlay in (("vec", False), ("cva", True)):
            url = _TIANDITU.format(layer=layer, key=quote(key.strip(), safe=""))
            name = t[f"tianditu_{layer}"]
            folium.TileLayer(
                url,
                attr="© 天地图 Tianditu",
                name=name,
                overlay=overlay,
                subdomains="01234567",
                max_zoom=18,
            ).add_to(ctx.m)


def _add_boundaries(ctx: _Ctx, plan: Plan) -> None:
    t = ctx.t
    for kind in ("counties", "townships", "village_areas"):
        frame = nonempty(plan.layers.get(kind))
        if frame is None:
            ctx.note(t["no_data"].format(name=t[kind]))
            continue
        style = _path(f"planner-b-{kind}", t[kind], **_BOUNDARY[kind])
        spec = ctx.spec(
            frame, "shape", [style], ("id", "county_id", "county_name"), pane="plannerBoundaries"
        )
        ctx.add(t[kind], spec, size=len(frame), show=kind != "village_areas")
        ctx.item("boundaries", "line", style, t[kind])
    merged = nonempty(plan.layers.get("merged_townships"))
    if merged is not None:
        name = t["merged_townships"]
        style = _path("planner-merged", name, color="#737373", weight=2, fill=False, radius=6)
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


def _add_service_areas(ctx: _Ctx, plan: Plan, shown: str | None) -> None:
    t, areas = ctx.t, nonempty(plan.service_areas)
    if areas is None:
        ctx.note(t["no_data"].format(name=t["service_areas_all"]))
        return
    names = _center_names(plan)
    modes = {"euclidean": t["euclidean"], "network": t["network"]}
    for level in _levels_shown(plan):
        rows = areas[areas["level"] == level]
        if rows.empty:
            continue
        color = LEVEL_STYLE[level][1]
        title = t["service_areas"].format(level=LEVEL_NAMES[t["lang"]][level])
        style = _path(
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


def _add_heat(ctx: _Ctx, plan: Plan, shown: str | None) -> None:
    t, gaps = ctx.t, nonempty(plan.gaps)
    rows = None if gaps is None or shown is None else gaps[gaps["level"] == shown]
    if rows is None or rows.empty or "population" not in rows:
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
        _path(
            f"planner-v-{level} planner-{state}",
            t[state],
            color="#ffffff",
            weight=1,
            fillColor=color,
            fillOpacity=0.9,
        )
        for state, color in _COVERED.items()
    ]


def _village_base(ctx: _Ctx, villages: gpd.GeoDataFrame) -> Data:
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
    return Data({**spec, "k": keys, "r": radius}).add_to(ctx.m)


def _add_villages(ctx: _Ctx, plan: Plan, shown: str | None) -> None:
    t, villages = ctx.t, nonempty(plan.villages)
    if villages is None:
        ctx.note(t["no_data"].format(name=t["villages_all"]))
        return
    base = _village_base(ctx, villages)
    names = _center_names(plan)
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


def _compliance_status(plan: Plan) -> pd.Series:
    """Per center id: ``fail``, ``unknown`` or ``pass`` (empty without a check)."""
    results = plan.compliance
    if results is None or results.empty:
        return pd.Series(dtype="string")
    rank = results["verdict"].map({"fail": 2, "unknown": 1}).fillna(0)
    worst = rank.groupby(results["center_id"].astype("string")).max()
    return worst.map({2: "fail", 1: "unknown", 0: "pass"}).astype("string")


def _add_centers(ctx: _Ctx, plan: Plan) -> None:
    t, centers = ctx.t, nonempty(plan.centers)
    verdicts = {"pass": t["pass"], "fail": t["fail"], "unknown": t["unknown"]}
    compliance = _compliance_status(plan).map(verdicts)
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
    for level in _levels_shown(plan):
        rows = None if centers is None else centers[centers["level"] == level]
        label = CENTER_NAMES[t["lang"]][level]
        if rows is None or rows.empty:
            ctx.note(t["no_centers"].format(level=level, centers=label))
            continue
        shape, color, size = LEVEL_STYLE[level]
        style = _icon(f"planner-c-{level}", label, shape, color, size)
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


def _add_proposals(ctx: _Ctx, plan: Plan) -> None:
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
        style = _icon(f"planner-p-{kind}", title, "badge", _PROPOSAL_COLOR[kind], 24)
        frame = rows if "name" in rows else rows.assign(name=rows["site_id"])
        columns = ("rank", "site_id", "new_population_covered", "reason")
        ranks = rows["rank"].astype("string").fillna("").tolist()
        ctx.add(
            title, ctx.spec(frame, "icon", [style], columns, n=ranks), size=len(rows), show=True
        )
        ctx.item("plan", "icon", style, t["proposal_item"].format(name=title, n=len(rows)))


def _add_grids(ctx: _Ctx, plan: Plan) -> None:
    t, grids = ctx.t, nonempty(plan.grids)
    if grids is None:
        ctx.note(t["no_data"].format(name=t["grids"]))
    else:
        style = _path(
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
    if plan.grid_issues is None:  # no user grid layer was checked
        return
    issues = nonempty(plan.grid_issues)
    if issues is None:
        ctx.note(t["no_grid_issues"])
        return
    style = _path(
        "planner-grid-issue",
        t["grid_issues"],
        color="#e41a1c",
        weight=2,
        dashArray="4 3",
        fillColor="#e41a1c",
        fillOpacity=0.15,
    )
    frame = issues.assign(name=issues["kind"]) if "kind" in issues else issues
    spec = ctx.spec(
        frame, "shape", [style], ("kind", "grid_id", "village_id", "message"), pane="plannerIssues"
    )
    ctx.add(t["grid_issues"], spec, size=len(issues), show=True)
    ctx.item("problems", "area", style, t["grid_issues"])


def _add_flagged(
    ctx: _Ctx, frame: gpd.GeoDataFrame, status: pd.Series, kinds: dict[str, dict], title: str
) -> None:
    """Rings around flagged points, one style per status (only statuses present)."""
    present = [k for k in kinds if (status == k).any()]
    styles = [dict(kinds[k], label=ctx.t[k]) for k in present]
    s = status.map({k: i for i, k in enumerate(present)}).to_numpy().tolist()
    columns = ("id", "level", "unit_id", "status", "issues", "center_ids")
    spec = ctx.spec(frame, "circle", styles, columns, s=s, pane="plannerIssues")
    ctx.add(title, spec, size=len(frame), show=False)
    for style in styles:
        ctx.item("problems", "circle", style, f"{title}：{style['label']}")


def _add_compliance(ctx: _Ctx, plan: Plan) -> None:
    t, results = ctx.t, plan.compliance
    if results is None:
        ctx.note(t["no_compliance"])
        return
    status = _compliance_status(plan)
    centers = nonempty(plan.centers)
    ids = None if centers is None else centers["id"].astype("string")
    flagged = None if ids is None else ids.map(status).isin(["fail", "unknown"])
    if flagged is None or not flagged.any():
        ctx.note(t["all_compliant"])
        return
    rows, verdict = centers[flagged], ids[flagged].map(status)
    hits = results[results["verdict"].isin(["fail", "unknown"])]
    text = (hits["issue"] if "issue" in hits else hits["rule"]).astype("string")
    issues = text.groupby(hits["center_id"].astype("string")).agg(t["sep"].join)
    frame = rows.assign(
        level=rows["level"].map(CENTER_NAMES[t["lang"]]),
        status=verdict.map({k: t[k] for k in ("fail", "unknown")}),
        issues=ids[flagged].map(issues),
    )
    kinds = {
        "fail": _path("planner-comp-fail", "", color="#b2182b", **{**_RING, "radius": 15}),
        "unknown": _path(
            "planner-comp-unknown", "", color="#f4a582", dashArray="3 3", **{**_RING, "radius": 15}
        ),
    }
    _add_flagged(ctx, frame, verdict, kinds, t["compliance"])


def _add_audit(ctx: _Ctx, plan: Plan) -> None:
    t, audit = ctx.t, nonempty(plan.audit)
    rows = None if audit is None else audit[audit["status"].isin(["missing", "outside"])]
    if rows is None or rows.empty:
        ctx.note(t["audit_ok"])
        return
    frame = rows.rename(columns={"unit_name": "name"}).assign(
        level=rows["level"].map(LEVEL_NAMES[t["lang"]]).fillna(rows["level"]),
        status=rows["status"].map({k: t[k] for k in ("missing", "outside")}),
    )
    kinds = {
        "missing": _path("planner-audit-missing", "", color="#d7191c", dashArray="4 3", **_RING),
        "outside": _path("planner-audit-outside", "", color="#fdae61", dashArray="4 3", **_RING),
    }
    _add_flagged(ctx, frame, rows["status"], kinds, t["audit"])


def _fit(ctx: _Ctx) -> None:
    boxes = np.array([b for b in ctx.bounds if np.isfinite(b).all()])
    if len(boxes):
        south, west = boxes[:, 1].min(), boxes[:, 0].min()
        north, east = boxes[:, 3].max(), boxes[:, 2].max()
        ctx.m.location = [(south + north) / 2, (west + east) / 2]
        ctx.m.fit_bounds([[south, west], [north, east]])


def _controls(ctx: _Ctx, tiles: str) -> None:
    """Layer control, legend, search and full-screen button."""
    t, m = ctx.t, ctx.m
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    sections = [{"title": k, "items": v} for k, v in ctx.legend.items()]
    legend = {
        "title": t["legend"],
        "sections": sections,
        "notesTitle": t["notes"],
        "notes": m.notes,
        "footer": t["offline"] if tiles == "none" else t["online"],
    }
    Call("plannerMap.legend", legend).add_to(m)
    search = {
        "zoom": 14,
        "placeholder": t["search"],
        "cancel": t["cancel"],
        "notFound": html.escape(t["not_found"]),
    }
    Call("plannerMap.search", search).add_to(m)
    Call(
        "plannerMap.fullscreen", {"title": t["fullscreen"], "cancel": t["exit_fullscreen"]}
    ).add_to(m)


def build_map(plan: Plan, *, lang: str | None = None, simplify_m: float = 5.0) -> folium.Map:
    """Build the interactive map of a plan.

    Parameters
    ----------
    plan
        The result of :func:`planner.pipeline.run`.
    lang
        ``"zh"`` or ``"en"``: layer names, legend and popups; default: the scenario's
        ``outputs.lang``.
    simplify_m
        Tolerance in metres for simplifying polygons (boundaries, grids, road-network
        service areas) before they are reprojected to WGS84.

    Returns
    -------
    folium.Map
        Its page (:func:`render_map`) needs no network. ``map.notes`` lists what the map
        does not show and why; ``map.data_layers()`` gives the overlays by name.
    """
    lang = lang or plan.scenario.outputs.lang
    if lang not in TEXT:
        raise PlannerError(f"lang must be one of {', '.join(TEXT)}, got {lang!r}")
    t = TEXT[lang]
    title = t["title"].format(name=plan.scenario.scenario.name)
    ctx = _Ctx(
        m=OfflineMap(title=title, lang=lang, location=(35.0, 105.0)), t=t, simplify_m=simplify_m
    )
    outputs = plan.scenario.outputs
    Call("plannerMap.init", {"locale": "zh-CN" if lang == "zh" else "en"}).add_to(ctx.m)
    _add_tiles(ctx, outputs.tiles, outputs.tianditu_key)
    shown = _default_level(plan)
    _add_boundaries(ctx, plan)
    _add_grids(ctx, plan)
    _add_service_areas(ctx, plan, shown)
    _add_heat(ctx, plan, shown)
    _add_villages(ctx, plan, shown)
    _add_centers(ctx, plan)
    _add_proposals(ctx, plan)
    _add_compliance(ctx, plan)
    _add_audit(ctx, plan)
    _controls(ctx, outputs.tiles)
    _fit(ctx)
    return ctx.m


def render_map(m: folium.Map) -> str:
    """The HTML page of a map built by :func:`build_map`.

    Raises
    ------
    RuntimeError
        When the page would load a script, style sheet, image or frame from elsewhere
        (something added to the map that links a CDN).
    """
    return check_offline(m.get_root().render())


def write_map(plan: Plan, path: str | Path, *, lang: str | None = None) -> Path:
    """Write the map of a plan as one self-contained HTML file, atomically.

    Returns the path written.
    """
    page = render_map(build_map(plan, lang=lang))
    target = Path(path)
    with atomic_path(target) as tmp:
        tmp.write_bytes(page.encode("utf-8", errors="replace"))
    logger.info(f"map: {target.name} ({target.stat().st_size / 1e6:.1f} MB)")
    return target


def _prefixed(t: dict[str, str], label: str, keys: Sequence[str]) -> dict[str, str]:
    """Texts with ``label`` before the layer titles named by ``keys``."""
    return {**t, **{k: f"{label}: {t[k]}" for k in keys if k in t}}


def build_compare_map(
    plan_a: Plan,
    plan_b: Plan,
    *,
    labels: tuple[str, str] = ("A", "B"),
    lang: str | None = None,
    simplify_m: float = 5.0,
) -> folium.Map:
    """One map of two scenarios of the same region: boundaries and existing centers once,
    then each scenario's village coverage and proposals as layers of its own (titles
    prefixed by its label), so toggling shows where the two plans differ."""
    lang = lang or plan_a.scenario.outputs.lang
    if lang not in TEXT:
        raise PlannerError(f"lang must be one of {', '.join(TEXT)}, got {lang!r}")
    t = TEXT[lang]
    title = f"{plan_a.scenario.scenario.name} ⇄ {plan_b.scenario.scenario.name}"
    ctx = _Ctx(
        m=OfflineMap(title=title, lang=lang, location=(35.0, 105.0)), t=t, simplify_m=simplify_m
    )
    Call("plannerMap.init", {"locale": "zh-CN" if lang == "zh" else "en"}).add_to(ctx.m)
    _add_boundaries(ctx, plan_a)
    _add_centers(ctx, plan_a)
    titles = ("villages", "villages_all", "proposal_subcenter", "proposal_station")
    for label, plan in zip(labels, (plan_a, plan_b), strict=True):
        own = _Ctx(
            m=ctx.m,
            t=_prefixed(t, label, titles),
            simplify_m=simplify_m,
            legend=ctx.legend,
            bounds=ctx.bounds,
        )
        _add_villages(own, plan, _default_level(plan))
        _add_proposals(own, plan)
    _controls(ctx, "none")
    _fit(ctx)
    return ctx.m
