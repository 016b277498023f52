"""Offline interactive map of a plan (``map.html``).

:func:`build_map` returns a :class:`folium.Map`; :func:`write_map` writes its page
atomically. The page makes no network request: Leaflet and the plugins it uses
(leaflet.heat, leaflet-search, leaflet.fullscreen; versions and licences in
``assets/README.md``) are inlined, CSS images as ``data:`` URIs, and folium's CDN links
are switched off (:mod:`planner.outputs.map_page`). Base tiles are off unless the scenario asks
for ``tiles = "osm"`` or ``"tianditu"`` (with ``tianditu_key``).

Overlays: boundaries (counties, townships, village areas, former seats of merged
townships), service areas and centers per level, village coverage per level (covered or
not, sized by population), a heat map of uncovered population (at village level when it
is configured), proposed sub-centers and stations numbered by rank, grids, grid issues,
centers failing the standard and units without a center of their level. A legend lists
what each symbol means and what the map does not show for lack of data; villages and
centers can be searched by name. The overlays are built in
:mod:`planner.outputs.map_layers` and :mod:`planner.outputs.map_problems`; this module
puts them together with the tiles and the controls.

Layer contents are JSON specs that a small runtime (``assets/planner/planner-map.js``)
turns into Leaflet layers. Every text from the data reaches the page as text
(``textContent``), never as HTML. Polygons are simplified in the working (metric) CRS
before they are reprojected to WGS84, and coordinates are rounded to 6 decimals
(about 0.1 m).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import folium
import numpy as np

from planner.errors import PlannerError, warn
from planner.outputs.access_outputs import add_access
from planner.outputs.atomic import atomic_path
from planner.outputs.map_layers import (
    LEVEL_STYLE,
    VIEW_MAX,
    MapContext,
    add_boundaries,
    add_centers,
    add_grids,
    add_heat,
    add_proposals,
    add_service_areas,
    add_villages,
    default_level,
)
from planner.outputs.map_page import TEXT, Call, OfflineMap, check_offline
from planner.outputs.map_problems import add_audit, add_compliance, add_grid_issues
from planner.outputs.map_service import add_overloaded, add_worst_served

if TYPE_CHECKING:
    from planner.plan import Plan

logger = logging.getLogger(__name__)

__all__ = ["LEVEL_STYLE", "TEXT", "build_compare_map", "build_map", "render_map", "write_map"]

_OSM = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_TIANDITU = (
    "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
    "&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
)


def _add_tiles(ctx: MapContext, tiles: str, key: str) -> None:
    t = ctx.t
    if tiles == "osm":
        folium.TileLayer(
            _OSM, attr="© OpenStreetMap contributors", name="OpenStreetMap", max_zoom=19
        ).add_to(ctx.m)
    elif tiles == "tianditu" and not key.strip():
        ctx.note(t["no_tianditu_key"])
        warn("map: tiles = 'tianditu' but outputs.tianditu_key is empty: no tiles")
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


def _fit(ctx: MapContext) -> None:
    boxes = np.array([b for b in ctx.bounds if np.isfinite(b).all()])
    if len(boxes):
        south, west = boxes[:, 1].min(), boxes[:, 0].min()
        north, east = boxes[:, 3].max(), boxes[:, 2].max()
        ctx.m.location = [(south + north) / 2, (west + east) / 2]
        ctx.m.fit_bounds([[south, west], [north, east]])


def _controls(ctx: MapContext, tiles: str) -> None:
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


def _texts(lang: str) -> dict[str, str]:
    """The labels of ``lang``; a PlannerError for a language without labels."""
    if lang not in TEXT:
        raise PlannerError(f"lang must be one of {', '.join(TEXT)}, got {lang!r}")
    return TEXT[lang]


def _new_map(title: str, lang: str, simplify_m: float) -> MapContext:
    """An empty offline map whose page runtime speaks ``lang``."""
    m = OfflineMap(title=title, lang=lang, location=(35.0, 105.0))
    init = {"locale": "zh-CN" if lang == "zh" else "en", "zoomHint": TEXT[lang]["zoom_hint"]}
    Call("plannerMap.init", {**init, "viewMax": VIEW_MAX}).add_to(m)
    return MapContext(m=m, t=TEXT[lang], simplify_m=simplify_m)


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
    title = _texts(lang)["title"].format(name=plan.scenario.scenario.name)
    ctx = _new_map(title, lang, simplify_m)
    outputs = plan.scenario.outputs
    _add_tiles(ctx, outputs.tiles, outputs.tianditu_key)
    shown = default_level(plan)
    add_boundaries(ctx, plan)
    add_grids(ctx, plan)
    add_grid_issues(ctx, plan)
    add_service_areas(ctx, plan, shown)
    add_heat(ctx, plan, shown)
    add_villages(ctx, plan, shown)
    add_centers(ctx, plan)
    add_proposals(ctx, plan)
    add_compliance(ctx, plan)
    add_audit(ctx, plan)
    add_overloaded(ctx, plan)
    add_worst_served(ctx, plan)
    add_access(ctx, plan)
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
    t = _texts(lang)
    title = f"{plan_a.scenario.scenario.name} ⇄ {plan_b.scenario.scenario.name}"
    ctx = _new_map(title, lang, simplify_m)
    add_boundaries(ctx, plan_a)
    add_centers(ctx, plan_a)
    titles = ("villages", "villages_all", "proposal_subcenter", "proposal_station")
    for label, plan in zip(labels, (plan_a, plan_b), strict=True):
        own = MapContext(
            m=ctx.m,
            t=_prefixed(t, label, titles),
            simplify_m=simplify_m,
            legend=ctx.legend,
            bounds=ctx.bounds,
        )
        add_villages(own, plan, default_level(plan))
        add_proposals(own, plan)
    _controls(ctx, "none")
    _fit(ctx)
    return ctx.m
