"""The adequacy and equity sections of ``report.html``: overloaded centers, distances
by county, the worst-served villages (tables from
:func:`planner.outputs.service_sheets.service_sheets`, headers in the report's language)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from planner.outputs.labels import labels, level_order
from planner.outputs.service_sheets import service_sheets
from planner.outputs.sheets import localize

if TYPE_CHECKING:
    from planner.plan import Plan

__all__ = ["service_sections"]

_OVERLOADED = ("level", "center_id", "name", "township_name", "served_population",
               "floor_area_m2", "required_m2", "shortfall_m2", "residents_over")  # fmt: skip
_WORST = ("level", "rank", "id", "name", "population", "township_name", "center_id",
          "dist_m", "radius_m")  # fmt: skip


def _adequacy_note(summary: dict[str, Any], lang: str) -> str:
    t, names = labels(lang)["text"], labels(lang)["levels"]
    rules = summary["m2_per_1000"]
    listed = ("、" if lang == "zh" else ", ").join(
        t["adequacy_rule"].format(level=names.get(lvl, lvl), m2=f"{rules[lvl]:,g}")
        for lvl in level_order(rules)
    )
    totals = pd.DataFrame(summary["levels"]).T
    return t["adequacy_note"].format(
        rules=listed or "–",
        overloaded=int(totals.get("overloaded", pd.Series(dtype=int)).sum()),
        shortfall=f"{float(totals.get('shortfall_m2', pd.Series(dtype=float)).sum()):,.0f}",
        over=f"{float(totals.get('residents_over', pd.Series(dtype=float)).sum()):,.0f}",
        unknown=int(totals.get("unknown", pd.Series(dtype=int)).sum()),
    )


def service_sections(plan: Plan, lang: str) -> list[tuple[str, pd.DataFrame, str | None]]:
    """``(title, localized table, note)`` of each section; none when the step did not run."""
    sheets = service_sheets(plan, lambda table, _: table)
    if not sheets:
        return []
    t = labels(lang)["text"]
    adequacy = sheets["adequacy"]
    overloaded = adequacy[adequacy["status"] == "overloaded"]
    worst = sheets["worst_served"]
    return [
        (
            t["adequacy"],
            localize(overloaded[[c for c in _OVERLOADED if c in overloaded]], lang),
            _adequacy_note(plan.summary["adequacy"], lang),
        ),
        (t["equity"], localize(sheets["equity_by_county"], lang), t["equity_note"]),
        (t["worst"], localize(worst[[c for c in _WORST if c in worst]], lang), None),
    ]
