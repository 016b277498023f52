"""The accessibility section of ``report.html``: the ``access`` sheet with headers in the
report's language and a note on what the scores mean."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from planner.outputs.access_outputs import access_sheet
from planner.outputs.labels import labels
from planner.outputs.sheets import localize

if TYPE_CHECKING:
    from planner.plan import Plan

__all__ = ["access_sections"]


def access_sections(plan: Plan, lang: str) -> list[tuple[str, pd.DataFrame, str | None]]:
    """``(title, localized table, note)`` of the section; none without ``[access]``."""
    table = access_sheet(plan)
    if table is None:
        return []
    t = labels(lang)["text"]
    return [(t["access"], localize(table, lang), t["access_note"])]
