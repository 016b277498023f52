"""The problem overlays of the plan map (:mod:`planner.outputs.maps`): grid issues,
centers failing the standard and units without a center of their level."""

from __future__ import annotations

from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd

from planner.outputs.map_layers import MapContext, compliance_status, path_style
from planner.outputs.map_page import CENTER_NAMES, LEVEL_NAMES, nonempty

if TYPE_CHECKING:
    from planner.plan import Plan

_RING = {"fill": False, "weight": 2.5, "radius": 11}


def add_grid_issues(ctx: MapContext, plan: Plan) -> None:
    """Problems the check of the user's grid layer found (nothing without that check)."""
    t = ctx.t
    if plan.grid_issues is None:  # no user grid layer was checked
        return
    issues = nonempty(plan.grid_issues)
    if issues is None:
        ctx.note(t["no_grid_issues"])
        return
    style = path_style(
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
    ctx: MapContext, frame: gpd.GeoDataFrame, status: pd.Series, kinds: dict[str, dict], title: str
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


def add_compliance(ctx: MapContext, plan: Plan) -> None:
    """Rings around centers that fail the standard or cannot be judged."""
    t, results = ctx.t, plan.compliance
    if results is None:
        ctx.note(t["no_compliance"])
        return
    status = compliance_status(plan)
    centers = nonempty(plan.centers)
    ids = pd.Series(dtype="string") if centers is None else centers["id"].astype("string")
    flagged = ids.map(status).isin(["fail", "unknown"])
    if centers is None or not flagged.any():
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
        "fail": path_style("planner-comp-fail", "", color="#b2182b", **{**_RING, "radius": 15}),
        "unknown": path_style(
            "planner-comp-unknown", "", color="#f4a582", dashArray="3 3", **{**_RING, "radius": 15}
        ),
    }
    _add_flagged(ctx, frame, verdict, kinds, t["compliance"])


def add_audit(ctx: MapContext, plan: Plan) -> None:
    """Rings around units without a center of their level or with one outside."""
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
        "missing": path_style(
            "planner-audit-missing", "", color="#d7191c", dashArray="4 3", **_RING
        ),
        "outside": path_style(
            "planner-audit-outside", "", color="#fdae61", dashArray="4 3", **_RING
        ),
    }
    _add_flagged(ctx, frame, rows["status"], kinds, t["audit"])
