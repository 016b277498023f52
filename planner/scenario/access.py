"""``[access]``: accessibility scores (2SFCA, E2SFCA) per level.

The scores themselves are computed by :mod:`planner.accessibility`; this module only
validates the settings. Zones are given per level in the unit of the level's radius
(metres for ``radius_m``, minutes for ``minutes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from planner.scenario.sections import MAX_MINUTES, MAX_RADIUS_M, StrictModel
from planner.scenario.values import level_key

#: Luo & Qi (2009): weights of the nearest, middle and farthest third of the catchment.
LUO_QI_WEIGHTS: tuple[float, ...] = (1.0, 0.68, 0.22)

Bound = Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0, le=MAX_RADIUS_M)]
Weight = Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0, le=1)]
Share = Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0, le=10)]


class AccessSettings(StrictModel):
    """``[access]``: supply per resident within each center's catchment, per level."""

    method: Literal["2sfca", "e2sfca"] = "e2sfca"
    supply: str | None = Field(default=None, min_length=1)
    decay: Literal["gaussian", "stepped"] = "stepped"
    levels: tuple[str, ...] | None = None
    zones: dict[str, tuple[Bound, ...]] = Field(default_factory=dict)
    weights: tuple[Weight, ...] = LUO_QI_WEIGHTS
    sigma: Share = 0.5

    @field_validator("levels")
    @classmethod
    def _known_levels(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("name at least one level, or leave levels out for every level")
        return tuple(dict.fromkeys(level_key(v) for v in value))

    @field_validator("zones", mode="before")
    @classmethod
    def _zone_levels(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {level_key(key): zones for key, zones in value.items()}

    @field_validator("zones")
    @classmethod
    def _increasing(cls, value: dict[str, tuple[float, ...]]) -> dict[str, tuple[float, ...]]:
        for level, bounds in value.items():
            if not bounds:
                raise ValueError(f"{level}: give at least one zone bound")
            if any(b <= a for a, b in pairwise(bounds)):
                raise ValueError(f"{level}: zone bounds must increase, got {list(bounds)}")
        return value

    @field_validator("weights")
    @classmethod
    def _decreasing(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value:
            raise ValueError("give at least one weight")
        if any(b > a for a, b in pairwise(value)):
            raise ValueError(f"weights may not increase with distance, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _options_of_method(self) -> AccessSettings:
        given = self.model_fields_set
        if self.method == "2sfca" and given & {"decay", "weights", "sigma"}:
            keys = ", ".join(sorted(given & {"decay", "weights", "sigma"}))
            raise ValueError(f'{keys}: distance decay applies to method = "e2sfca" only')
        if self.stepped and "sigma" in given:
            raise ValueError('sigma applies to decay = "gaussian" only')
        if not self.stepped and "weights" in given:
            raise ValueError('weights apply to decay = "stepped" only')
        for level, bounds in self.zones.items():
            wanted = len(self.weights) if self.stepped else 1
            if len(bounds) != wanted:
                raise ValueError(f"zones.{level}: {self._zone_rule(wanted)}, got {list(bounds)}")
        return self

    def _zone_rule(self, wanted: int) -> str:
        if self.stepped:
            return f"give one bound per weight ({wanted}: {list(self.weights)})"
        return "give one bound, the catchment (zones are steps of the stepped decay)"

    @property
    def stepped(self) -> bool:
        """True when pairs are weighed by zone (E2SFCA with stepped decay)."""
        return self.method == "e2sfca" and self.decay == "stepped"


def check_access_levels(access: AccessSettings | None, levels: Mapping[str, Any]) -> None:
    """Refuse ``[access]`` levels and zones of levels the scenario does not configure, and
    zones beyond the longest radius a level may have."""
    if access is None:
        return
    named = [*(access.levels or ()), *access.zones]
    unknown = sorted({lvl for lvl in named if lvl not in levels})
    if unknown:
        raise ValueError(
            f"access: level(s) {', '.join(unknown)} have no [levels.*] table; configured: "
            f"{', '.join(levels) or 'none'}"
        )
    for level, bounds in access.zones.items():
        if getattr(levels[level], "minutes", None) is not None and bounds[-1] > MAX_MINUTES:
            raise ValueError(
                f"access.zones.{level}: minutes up to {MAX_MINUTES:,.0f}, got {bounds[-1]}"
            )
