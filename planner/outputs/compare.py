"""Compare two scenarios side by side: coverage per level before and after their plans,
proposals by kind and the number of new sites (the cost).

``planner compare A.toml B.toml --out DIR`` calls :func:`write_compare`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from planner.levels import LEVELS
from planner.outputs.atomic import atomic_path
from planner.outputs.report import (
    data_uri,
    html_table,
    labels,
    plot_lang,
    population_rate,
    render_html,
    use_font,
)
from planner.outputs.staging import staged_output
from planner.outputs.tables import write_csv
from planner.outputs.xlsx import write_xlsx

if TYPE_CHECKING:
    from planner.plan import Plan

__all__ = ["compare", "plot_compare", "write_compare"]

_LEVEL_METRICS = (
    "population_rate_before",
    "population_rate_after",
    "villages_uncovered_before",
    "villages_uncovered_after",
)
_KINDS = ("subcenter", "station")


def after_levels(plan: Plan) -> dict[str, Any]:
    """Coverage per level with the plan's proposals built: ``plan.after``, or the coverage
    before when there is nothing proposed; ``{}`` when proposals exist but ``after`` was
    not computed."""
    if plan.after:
        return plan.after
    if plan.proposals is None or plan.proposals.empty:
        return plan.summary["levels"]
    return {}


def _level_values(plan: Plan) -> dict[str, dict[str, float]]:
    after = after_levels(plan)
    out = {}
    for level, before in plan.summary["levels"].items():
        built: Mapping[str, Any] | None = after.get(level)
        out[level] = {
            "population_rate_before": 100 * population_rate(before),
            "population_rate_after": np.nan if built is None else 100 * population_rate(built),
            "villages_uncovered_before": float(before["villages_uncovered"]),
            "villages_uncovered_after": (
                np.nan if built is None else float(built["villages_uncovered"])
            ),
        }
    return out


def _proposal_counts(plan: Plan) -> dict[str, float]:
    props = plan.proposals
    kinds = pd.Series(dtype="string") if props is None or props.empty else props["kind"]
    counts = kinds.value_counts()
    out = {kind: float(counts.get(kind, 0)) for kind in _KINDS}
    out.update({str(k): float(v) for k, v in counts.items() if k not in out})
    out["new_sites"] = float(len(kinds))
    return out


def _canonical(plan_a: Plan, plan_b: Plan) -> pd.DataFrame:
    """Rows ``level``, ``metric``, ``a``, ``b``, ``difference`` with canonical names."""
    values_a, values_b = _level_values(plan_a), _level_values(plan_b)
    levels = sorted(
        set(values_a) | set(values_b),
        key=lambda lvl: LEVELS.index(lvl) if lvl in LEVELS else len(LEVELS),
    )
    rows = [
        (level, metric, values_a.get(level, {}).get(metric, np.nan),
         values_b.get(level, {}).get(metric, np.nan))
        for level in levels
        for metric in _LEVEL_METRICS
    ]  # fmt: skip
    counts_a, counts_b = _proposal_counts(plan_a), _proposal_counts(plan_b)
    metrics = [*dict.fromkeys([*counts_a, *counts_b])]
    metrics.append(metrics.pop(metrics.index("new_sites")))
    rows += [("", m, counts_a.get(m, 0.0), counts_b.get(m, 0.0)) for m in metrics]
    table = pd.DataFrame(rows, columns=["level", "metric", "a", "b"])
    table["difference"] = table["b"] - table["a"]
    return table


def compare(plan_a: Plan, plan_b: Plan, *, lang: str | None = None) -> pd.DataFrame:
    """Side-by-side table of two plans.

    Parameters
    ----------
    plan_a, plan_b
        Results of :func:`planner.pipeline.run` (usually on the same region).
    lang
        ``"zh"`` or ``"en"``; default: plan A's ``outputs.lang``.

    Returns
    -------
    pandas.DataFrame
        Columns level, metric, ``A: <name>``, ``B: <name>`` and the difference B − A
        (headers and labels in ``lang``). Per level: population coverage rate in percent
        and villages uncovered, before and after the plan (NaN where a plan has proposals
        but no after-coverage, or lacks the level); then the number of proposals of each
        kind and the number of new sites (the cost).
    """
    lang = plan_a.scenario.outputs.lang if lang is None else lang
    lab = labels(lang)
    table = _canonical(plan_a, plan_b)
    table["metric"] = table["metric"].map(lambda m: _metric_name(m, lab))
    table["level"] = table["level"].map(
        lambda v: lab["levels"].get(v, v) or lab["text"]["all_levels"]
    )
    return table.rename(
        columns={
            "level": lab["headers"].get("level", "level"),
            "metric": lab["headers"].get("metric", "metric"),
            "a": f"A: {plan_a.scenario.scenario.name}",
            "b": f"B: {plan_b.scenario.scenario.name}",
            "difference": lab["headers"]["difference"],
        }
    )


def _metric_name(metric: str, lab: Mapping[str, Mapping[str, str]]) -> str:
    text = lab["text"]
    if metric in text:
        return text[metric]
    return text["proposals_kind"].format(kind=lab["values"].get(metric, metric))


def plot_compare(plan_a: Plan, plan_b: Plan, *, lang: str | None = None) -> Figure:
    """Grouped bars: population coverage rate per level, before and after, for A and B."""
    lab = labels(plot_lang(plan_a.scenario.outputs.lang if lang is None else lang))
    values = {"A": _level_values(plan_a), "B": _level_values(plan_b)}
    levels = [lvl for lvl in LEVELS if lvl in values["A"] or lvl in values["B"]]
    fig = Figure(figsize=(max(5.0, 1.8 * len(levels) + 2), 4.0), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(levels))
    series = [(name, stage) for name in ("A", "B") for stage in ("before", "after")]
    width = 0.8 / len(series)
    colors = {"A": ("#9ecae1", "#3182bd"), "B": ("#fdae6b", "#e6550d")}
    for i, (name, stage) in enumerate(series):
        heights = [values[name].get(lvl, {}).get(f"population_rate_{stage}", np.nan)
                   for lvl in levels]  # fmt: skip
        ax.bar(x + (i - (len(series) - 1) / 2) * width, heights, width,
               color=colors[name][stage == "after"],
               label=f"{name} {lab['text'][stage]}")  # fmt: skip
    ax.set_xticks(x, labels=[lab["levels"].get(lvl, lvl) for lvl in levels])
    ax.set_ylim(0, 105)
    ax.set_ylabel(lab["text"]["rate_axis"])
    ax.legend(fontsize=8, ncols=2, loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    fig.suptitle(lab["text"]["compare_plot"])
    return use_font(fig)


def write_compare(
    plan_a: Plan,
    plan_b: Plan,
    out_dir: str | os.PathLike[str],
    *,
    lang: str | None = None,
    sources: tuple[str | os.PathLike[str], str | os.PathLike[str]] | None = None,
) -> dict[str, Path]:
    """Write the comparison of two plans (:func:`planner.pipeline.run` of two scenarios).

    Writes ``compare.xlsx``, ``compare.csv``, ``compare.html`` (self-contained) and
    ``compare_map.html`` (both scenarios' coverage and proposals as layers) into
    ``out_dir`` (created when missing), all at once: they replace the previous
    comparison's files there and the folder's other files are kept
    (:func:`~planner.outputs.staging.staged_output`).

    Parameters
    ----------
    plan_a, plan_b
        The two plans, A and B.
    out_dir
        Output folder.
    lang
        ``"zh"`` or ``"en"``; default: scenario A's ``outputs.lang``.
    sources
        The scenario files, named on the page; default: each scenario's folder.

    Returns
    -------
    dict
        Written paths by name (``xlsx``, ``csv``, ``html``, ``map``).
    """
    from planner.outputs.maps import build_compare_map, render_map

    if sources is None:
        sources = (plan_a.scenario.base_dir, plan_b.scenario.base_dir)
    lang = plan_a.scenario.outputs.lang if lang is None else lang
    lab = labels(lang)
    table = compare(plan_a, plan_b, lang=lang)
    names = plan_a.scenario.scenario.name, plan_b.scenario.scenario.name
    pages = {
        "html": _compare_page(plan_a, plan_b, table, sources, lang=lang),
        "map": render_map(build_compare_map(plan_a, plan_b, lang=lang)),
    }
    with staged_output(out_dir, command="compare", scenario=" vs ".join(names)) as out:
        write_xlsx(out / "compare.xlsx", {lab["sheets"]["compare"]: table})
        write_csv(out / "compare.csv", table)
        for name, page in pages.items():
            with atomic_path(out / _PAGES[name]) as tmp:
                tmp.write_text(page, encoding="utf-8")
    files = {"xlsx": "compare.xlsx", "csv": "compare.csv", **_PAGES}
    return {name: Path(out_dir) / file for name, file in files.items()}


_PAGES = {"html": "compare.html", "map": "compare_map.html"}


def _compare_page(
    plan_a: Plan,
    plan_b: Plan,
    table: pd.DataFrame,
    paths: tuple[str | os.PathLike[str], str | os.PathLike[str]],
    *,
    lang: str,
) -> str:
    """``compare.html``: the table and the plot, self-contained."""
    lab = labels(lang)
    names = plan_a.scenario.scenario.name, plan_b.scenario.scenario.name
    a_path, b_path = paths
    return render_html(
        lang=lang,
        title=lab["text"]["compare_title"].format(a=names[0], b=names[1]),
        meta=[("A", f"{names[0]} ({a_path})"), ("B", f"{names[1]} ({b_path})")],
        sections=[
            {
                "title": lab["text"]["compare_table"],
                "table": html_table(table, lang, per_column=False),
            },
            {
                "title": lab["text"]["compare_plot"],
                "image": data_uri(plot_compare(plan_a, plan_b, lang=lang)),
            },
        ],
    )
