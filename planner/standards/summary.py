"""Compliance of service centers counted per area, from the results of
:func:`planner.standards.checks.check_centers`."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from planner.errors import PlannerError

__all__ = ["summarize_compliance"]


def summarize_compliance(
    results: pd.DataFrame,
    centers: pd.DataFrame,
    *,
    by: Sequence[str | Sequence[str]] = ("county_id", "township_id"),
) -> pd.DataFrame:
    """Count compliant, non-compliant and unknown centers per area (and in total).

    Parameters
    ----------
    results, centers
        Both outputs of :func:`~planner.standards.checks.check_centers` (``centers``
        must have unique ``id``).
    by
        Grouping scopes, each a column name or a tuple of names (e.g. ``("county_id",
        "level")``); a ``total`` row is always appended. Missing keys group as ``(none)``.

    Returns
    -------
    pandas.DataFrame
        ``scope``, ``key``, ``centers``, ``compliant``, ``non_compliant``, ``unknown``,
        ``no_rule`` (no rule applies), ``compliance_rate`` (compliant / checked), and per
        rule ``fail_<rule>`` and ``unknown_<rule>`` counts of centers.
    """
    if "compliant" not in centers.columns:
        raise PlannerError("summarize_compliance needs the centers returned by check_centers")
    ids = centers["id"].astype("string")
    if ids.duplicated().any():
        raise PlannerError(f"centers: duplicate id {ids[ids.duplicated()].iloc[0]!r}")
    scopes = [(s,) if isinstance(s, str) else tuple(s) for s in by]
    if absent := sorted({col for s in scopes for col in s} - set(centers.columns)):
        raise PlannerError(f"centers: cannot summarise by missing column(s) {', '.join(absent)}")
    checked_ids = set(results["center_id"])
    compliant = centers["compliant"].astype("boolean")
    frame = pd.DataFrame(
        {"centers": 1, "no_rule": ~ids.isin(checked_ids).to_numpy()}, index=centers.index
    )
    frame["compliant"] = (compliant.fillna(False).to_numpy()) & ~frame["no_rule"]
    frame["non_compliant"] = (~compliant.fillna(True)).to_numpy()
    frame["unknown"] = compliant.isna().to_numpy()
    for verdict in ("fail", "unknown"):
        hits = results[results["verdict"] == verdict]
        for rule in pd.unique(results["rule"]):
            bad = set(hits.loc[hits["rule"] == rule, "center_id"])
            frame[f"{verdict}_{rule}"] = ids.isin(bad).to_numpy()
    counts = list(frame.columns)
    rows = []
    for scope in [*scopes, None]:
        if scope is None:
            grouped = frame.sum(numeric_only=False).to_frame().T.assign(scope="total", key="")
        else:
            keys = [centers[col].astype("string").fillna("(none)") for col in scope]
            grouped = frame.groupby(keys).sum().reset_index(drop=False)
            key = grouped[scope[0]].astype("string")
            for col in scope[1:]:
                key = key + "/" + grouped[col].astype("string")
            grouped = grouped[counts].assign(scope="+".join(scope), key=key.to_numpy())
        rows.append(grouped)
    out = pd.concat(rows, ignore_index=True)
    out[counts] = out[counts].astype("int64")
    checked = out["centers"] - out["no_rule"]
    out["compliance_rate"] = (out["compliant"] / checked.where(checked > 0)).astype(float)
    head = ["scope", "key", "centers", "compliant", "non_compliant", "unknown", "no_rule"]
    return out[head + ["compliance_rate"] + [c for c in counts if c not in head]]
