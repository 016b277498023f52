"""Localized labels and plan look-ups shared by :mod:`planner.outputs.report` and
:mod:`planner.outputs.plots`."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from planner.errors import PlannerError
from planner.levels import LEVELS

if TYPE_CHECKING:
    from planner.plan import Plan

__all__ = ["LANGS", "labels", "level_order", "plan_lang", "unit_names"]

LANGS = ("zh", "en")


@functools.cache
def labels(lang: str) -> dict[str, dict[str, str]]:
    """Labels in ``lang``: ``levels``, ``values``, ``headers``, ``sheets`` and ``text``
    (from ``templates/labels.toml``)."""
    if lang not in LANGS:
        raise PlannerError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    with Path(__file__).with_name("templates").joinpath("labels.toml").open("rb") as f:
        return tomllib.load(f)[lang]


def plan_lang(plan: Plan, lang: str | None) -> str:
    """``lang``, or the scenario's ``outputs.lang`` when ``None``; checked."""
    lang = plan.scenario.outputs.lang if lang is None else lang
    labels(lang)  # raises for an unknown language
    return lang


def level_order(levels: Any) -> list[str]:
    """``levels`` sorted city → station; unknown levels last."""
    return sorted(levels, key=lambda lvl: LEVELS.index(lvl) if lvl in LEVELS else len(LEVELS))


def unit_names(plan: Plan, unit: str) -> pd.Series:
    """Names of townships or counties by code."""
    townships = plan.layers.get("townships")
    counties = plan.layers.get("counties")
    if unit == "county" and counties is not None and "name" in counties.columns:
        frame = counties[["id", "name"]]
    elif unit == "county" and townships is not None and "county_name" in townships.columns:
        frame = townships[["county_id", "county_name"]].set_axis(["id", "name"], axis=1)
    elif unit == "township" and townships is not None and "name" in townships.columns:
        frame = townships[["id", "name"]]
    else:
        return pd.Series(dtype="string", index=pd.Index([], dtype="string"))
    frame = frame.dropna().drop_duplicates("id")
    return pd.Series(frame["name"].to_numpy(), index=frame["id"].astype("string"), dtype="string")
