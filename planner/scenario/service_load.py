"""``[adequacy]`` and ``[equity]``: the settings of :mod:`planner.adequacy` and
:mod:`planner.equity`. Both steps always run; these tables only change their figures."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator

from planner.scenario.sections import MAX_COUNT, StrictModel
from planner.scenario.values import level_key

#: Largest floor area per 1,000 residents accepted (m²): a whole building per resident.
MAX_M2_PER_1000 = 1_000_000.0

Rate = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=MAX_M2_PER_1000)]


def level_table(value: Any) -> Any:
    """A table keyed by level names or aliases, with canonical level keys."""
    if not isinstance(value, dict):
        return value
    return {level_key(key): rate for key, rate in value.items()}


class AdequacySettings(StrictModel):
    """``[adequacy]``: floor area per 1,000 residents served, per center level; overrides
    the standards profile's ``[adequacy]`` and the planner's default level by level."""

    m2_per_1000: dict[str, Rate] = Field(default_factory=dict)

    _levels = field_validator("m2_per_1000", mode="before")(level_table)


class EquitySettings(StrictModel):
    """``[equity]``: how many worst-served villages are listed per level."""

    worst: Annotated[int, Field(strict=True, ge=0, le=MAX_COUNT)] = 20
