"""Plots of a plan (PNG): coverage by township, distance distribution, budget curve.

Plots are drawn with matplotlib's object API (no pyplot state, Agg rendering) in a CJK
font found among the installed fonts (Debian: ``fonts-noto-cjk``); without one, plots
fall back to English labels and township codes, so no glyph is ever missing.

The plots need only a small part of a plan (:class:`PlotData`), so
:class:`PlotProcess` can draw them in a child Python process while the parent writes
the other files; the child returns PNG bytes and writes nothing.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib import colormaps, font_manager
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator

from planner.outputs.atomic import render_png, write_png
from planner.outputs.child import ChildCall
from planner.outputs.labels import labels, level_order, plan_lang, unit_names

if TYPE_CHECKING:
    from planner.plan import Plan

__all__ = [
    "PlotData",
    "PlotProcess",
    "cjk_font",
    "draw_plots",
    "plot_budget_curve",
    "plot_coverage_by_township",
    "plot_data",
    "plot_distance_distribution",
    "plot_lang",
    "render_plots",
    "use_font",
    "write_plots",
]

#: Townships drawn per level in the coverage plot (the lowest rates first).
PLOT_MAX_UNITS = 40

_CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "Source Han Sans SC",
    "Source Han Sans CN", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei",
    "SimHei", "PingFang SC", "Hiragino Sans GB", "Heiti SC", "Droid Sans Fallback",
)  # fmt: skip
_CJK_FILE_HINTS = ("notosanscjk", "sourcehansans", "wqy", "wenquanyi", "msyh", "simhei",
                   "pingfang", "droidsansfallback")  # fmt: skip


# ---------------------------------------------------------------------------- fonts


@functools.cache
def cjk_font() -> str | None:
    """Name of an installed font family with Chinese glyphs, or ``None``.

    Looks in matplotlib's font list, then (its cache may predate a font install) among the
    system font files, which are added to the font list when found.
    """
    manager = font_manager.fontManager

    def first() -> str | None:
        names = {f.name for f in manager.ttflist}
        return next((name for name in _CJK_FAMILIES if name in names), None)

    if (found := first()) is not None:
        return found
    for path in font_manager.findSystemFonts():
        stem = Path(path).name.lower().replace("-", "").replace("_", "")
        if any(hint in stem for hint in _CJK_FILE_HINTS):
            try:
                manager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    return first()


def use_font(fig: Figure) -> Figure:
    """Set every text of ``fig`` to the CJK font (it has Latin glyphs too)."""
    family = cjk_font()
    if family is not None:
        for text in fig.findobj(Text):
            text.set_fontfamily(family)
    return fig


def plot_lang(lang: str) -> str:
    """The language plots are drawn in: ``lang``, or English when no CJK font is installed."""
    return lang if lang == "en" or cjk_font() is not None else "en"


def _label(text: object) -> str:
    """Data text for a plot: literal dollar signs (no mathtext)."""
    return str(text).replace("$", r"\$")


def _renderable(text: str) -> bool:
    return cjk_font() is not None or text.isascii()


def _distance(metres: float) -> str:
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


# ---------------------------------------------------------------------------- data


@dataclass(frozen=True)
class PlotData:
    """What the plots of a plan draw: small and picklable.

    Attributes
    ----------
    lang
        The scenario's ``outputs.lang``.
    cutoffs
        Service radius in metres per level.
    by_township
        The plan's ``coverage_by_township`` table.
    township_names
        Township names by code (:func:`~planner.outputs.labels.unit_names`).
    distances
        Distance in metres from each village to its nearest center, per level.
    budget_curve
        The plan's budget curve, or ``None``.
    stations
        New stations proposed.
    """

    lang: str
    cutoffs: dict[str, float]
    by_township: pd.DataFrame
    township_names: pd.Series
    distances: dict[str, np.ndarray]
    budget_curve: pd.DataFrame | None
    stations: int


def plot_data(plan: Plan | PlotData) -> PlotData:
    """The :class:`PlotData` of a plan (a :class:`PlotData` is returned as is)."""
    if isinstance(plan, PlotData):
        return plan
    props = plan.proposals
    stations = 0
    if props is not None and "kind" in props.columns:
        stations = int((props["kind"] == "station").sum())
    return PlotData(
        lang=plan_lang(plan, None),
        cutoffs={level: float(lv.spec.cutoff_m) for level, lv in plan.levels.items()},
        by_township=plan.tables["coverage_by_township"],
        township_names=unit_names(plan, "township"),
        distances={
            level: plan.villages[f"{level}_dist_m"].to_numpy(dtype=float) for level in plan.levels
        },
        budget_curve=plan.budget_curve,
        stations=stations,
    )


def _lang(data: PlotData, lang: str | None) -> str:
    lang = data.lang if lang is None else lang
    labels(lang)  # raises for an unknown language
    return plot_lang(lang)


# ---------------------------------------------------------------------------- plots


def _grid(n: int, *, width: float, height: float) -> tuple[Figure, list[Any]]:
    ncols = max(1, min(3, n))
    nrows = max(1, math.ceil(n / ncols))
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for extra in axes[n:]:
        extra.set_visible(False)
    return fig, axes[: max(n, 1)]


def _township_ticks(codes: pd.Series, names: pd.Series) -> list[str]:
    """Township names (with the code when a name repeats), or codes where a name is
    missing or cannot be drawn in the available fonts."""
    shown = codes.map(names).astype("string")  # all missing without names: not float
    usable = shown.notna() & shown.fillna("").map(_renderable)
    text = shown.where(usable, codes)
    repeated = text.duplicated(keep=False) & usable
    text = text.where(~repeated, text + " (" + codes + ")")
    return [_label(v) for v in text]


def plot_coverage_by_township(
    plan: Plan | PlotData, *, lang: str | None = None, max_units: int = PLOT_MAX_UNITS
) -> Figure:
    """Population coverage rate per township, one panel per level, lowest rates on top.

    Each panel has one stacked horizontal bar per township (the ``max_units`` lowest when
    there are more): the covered population share in percent (coloured, the axes'
    first bar container) and the rest (grey, the second).
    """
    data = plot_data(plan)
    lang = _lang(data, lang)
    t = labels(lang)["text"]
    table, names = data.by_township, data.township_names
    levels = level_order(data.cutoffs)
    rows = max((table["level"] == lvl).sum() for lvl in levels) if levels else 1
    fig, axes = _grid(len(levels), width=4.6, height=1.4 + 0.24 * min(rows, max_units))
    cmap = colormaps["RdYlGn"]
    for ax, level in zip(axes, levels, strict=False):
        part = table[table["level"] == level].sort_values(
            ["population_rate", "township_id"], na_position="first", kind="stable"
        )
        shown = part.head(max_units)
        ticks = _township_ticks(shown["township_id"].astype("string").fillna(""), names)
        rates = shown["population_rate"].to_numpy(dtype=float) * 100
        y = np.arange(len(shown))[::-1]
        ax.barh(y, rates, color=cmap(np.nan_to_num(rates) / 100), edgecolor="none")
        ax.barh(y, 100 - rates, left=rates, color="#eeeeee", edgecolor="none")  # uncovered
        ax.set_yticks(y, labels=ticks, fontsize=7)
        ax.set_xlim(0, 100)
        ax.set_xlabel(t["rate_axis"])
        cut = t["lowest"].format(shown=len(shown), total=len(part)) if len(part) > max_units else ""
        ax.set_title(labels(lang)["levels"].get(level, level) + cut, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(t["by_township"])
    return use_font(fig)


def plot_budget_curve(plan: Plan | PlotData, *, lang: str | None = None) -> Figure | None:
    """Coverage share against the number of new stations (line) with the marginal gain of
    each added station (bars); ``None`` without a budget curve."""
    data = plot_data(plan)
    curve = data.budget_curve
    if curve is None or curve.empty:
        return None
    lang = _lang(data, lang)
    t = labels(lang)["text"]
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    gains = ax.twinx()
    steps = curve[curve["sites"] > 0]
    gains.bar(steps["sites"], steps["marginal_gain"], color="#95a5a6", alpha=0.6, width=0.7)
    gains.set_ylabel(t["gain_axis"])
    ax.plot(curve["sites"], curve["coverage_share"] * 100, marker="o", color="#c0392b")
    ax.set_zorder(gains.get_zorder() + 1)
    ax.patch.set_visible(False)
    if chosen := data.stations:
        ax.axvline(chosen, color="#2c3e50", linestyle="--", linewidth=1)
        ax.annotate(t["chosen"].format(n=chosen), (chosen, 0.02), fontsize=8,
                    xycoords=("data", "axes fraction"), xytext=(4, 0),
                    textcoords="offset points")  # fmt: skip
    ax.set_xlabel(t["sites_axis"])
    ax.set_ylabel(t["share_axis"])
    ax.set_ylim(0, 102)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    fig.suptitle(t["budget"])
    return use_font(fig)


def plot_distance_distribution(
    plan: Plan | PlotData, *, lang: str | None = None, bins: int = 30
) -> Figure:
    """Histogram of the distance from each village to its nearest center, per level, with
    the service radius marked; bars beyond the radius are orange."""
    data = plot_data(plan)
    lang = _lang(data, lang)
    t = labels(lang)["text"]
    levels = level_order(data.cutoffs)
    fig, axes = _grid(len(levels), width=4.6, height=3.4)
    for ax, level in zip(axes, levels, strict=False):
        radius_km = data.cutoffs[level] / 1000
        dist = data.distances[level] / 1000
        finite = dist[np.isfinite(dist)]
        top = max(float(finite.max()) if finite.size else 0.0, radius_km * 1.1)
        grid = np.linspace(0, top, bins + 1)
        keep = np.abs(grid - radius_km) > top / bins / 4  # no sliver bins beside the radius
        keep[[0, -1]] = True
        edges = np.union1d(grid[keep], [radius_km])  # a bin edge at the radius
        _, edges, patches = ax.hist(finite, bins=edges, color="#2980b9")
        for left, patch in zip(edges[:-1], patches, strict=True):
            if left >= radius_km:
                patch.set_facecolor("#e67e22")
        ax.axvline(radius_km, color="#c0392b", linewidth=1.5,
                   label=t["radius"].format(r=_distance(radius_km * 1000)))  # fmt: skip
        if missing := int(dist.size - finite.size):
            ax.text(0.98, 0.8, t["no_center"].format(n=missing), transform=ax.transAxes,
                    ha="right", fontsize=8)  # fmt: skip
        ax.legend(fontsize=8, loc="upper right")
        ax.set_title(labels(lang)["levels"].get(level, level), fontsize=10)
        ax.set_xlabel(t["dist_axis"])
        ax.set_ylabel(t["count_axis"])
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(t["distances"])
    return use_font(fig)


def draw_plots(plan: Plan | PlotData, lang: str) -> dict[str, Figure]:
    """Every plot of the plan by name, in ``lang`` (no budget curve without one)."""
    data = plot_data(plan)
    figures = {
        "coverage_by_township": plot_coverage_by_township(data, lang=lang),
        "distance_distribution": plot_distance_distribution(data, lang=lang),
        "budget_curve": plot_budget_curve(data, lang=lang),
    }
    return {name: fig for name, fig in figures.items() if fig is not None}


def render_plots(plan: Plan | PlotData) -> dict[str, bytes]:
    """The PNG bytes :func:`write_plots` writes, by plot name."""
    data = plot_data(plan)
    return {name: render_png(fig) for name, fig in draw_plots(data, data.lang).items()}


def write_plots(plan: Plan, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``coverage_by_township.png``, ``distance_distribution.png`` and (with a budget
    curve) ``budget_curve.png`` into ``out_dir``, atomically. Returns the paths by name."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = draw_plots(plan, plan_lang(plan, None))
    return {name: write_png(out_dir / f"{name}.png", fig) for name, fig in figures.items()}


class PlotProcess(ChildCall):
    """The plots of a plan drawn in a child Python process (same interpreter, any
    platform) while the caller goes on; :meth:`result` waits for the PNG bytes.

    An error in the child is raised again by :meth:`result` (same type and message);
    :meth:`close` ends a child whose result is no longer wanted. Usable as a context
    manager (closed on exit). Where ``sys.executable`` is not a Python interpreter (Python
    embedded in another program) or cannot be started, :meth:`result` draws the plots in
    this process instead (see :class:`~planner.outputs.child.ChildCall`).
    """

    def __init__(self, plan: Plan | PlotData) -> None:
        super().__init__(render_plots, plot_data(plan), what="drawing the plots")

    def result(self) -> dict[str, bytes]:
        """PNG bytes by plot name, as :func:`render_plots` returns them."""
        return dict(super().result())
