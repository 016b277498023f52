"""Accessibility scores: two-step floating catchment (2SFCA) and its enhanced form with
distance decay (E2SFCA).

Geometry-free on a demand × supply cost matrix (:func:`two_sfca`, :func:`e2sfca`,
:func:`fca_scores`; costs as in :mod:`planner.siting`), on layers per level
(:func:`access_scores`, :func:`level_access`) and summarised over residents
(:func:`access_summary`, :func:`weighted_gini`). The scenario's ``[access]`` section
(:class:`planner.scenario.access.AccessSettings`) runs them in :func:`planner.run`.
"""

from planner.accessibility.api import access_scores
from planner.accessibility.fca import (
    DECAYS,
    LUO_QI_ZONES,
    FcaResult,
    e2sfca,
    fca_scores,
    gaussian_weights,
    stepped_weights,
    two_sfca,
)
from planner.accessibility.geo import LevelAccess, center_supply, level_access
from planner.accessibility.stats import access_summary, weighted_gini, weighted_percentiles

__all__ = [
    "DECAYS",
    "LUO_QI_ZONES",
    "FcaResult",
    "LevelAccess",
    "access_scores",
    "access_summary",
    "center_supply",
    "e2sfca",
    "fca_scores",
    "gaussian_weights",
    "level_access",
    "stepped_weights",
    "two_sfca",
    "weighted_gini",
    "weighted_percentiles",
]
