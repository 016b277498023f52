"""``[siting.expansion]``: stations planned with a budget — new, relocated or upgraded.

The plan itself is made by :mod:`planner.siting.expansion_step`; this module only
validates the settings.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from planner.scenario.values import level_key

#: Center levels that may be promoted to a sub-center.
UPGRADABLE_LEVELS = ("station", "village")

_Money = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0)]
_Price = Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0)]


class ExpansionSiting(BaseModel):
    """``[siting.expansion]``: spend ``budget`` on new stations, relocations of existing
    stations and upgrades of stations or village centers to sub-centers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    budget: _Money
    new_cost: _Price = 1.0
    relocation_cost: _Price = 1.0
    max_relocations: Annotated[int, Field(strict=True, ge=0, le=1_000_000)] = 0
    upgrade_cost: _Price = 1.0
    upgrade_levels: tuple[str, ...] = UPGRADABLE_LEVELS

    @field_validator("upgrade_levels", mode="before")
    @classmethod
    def _levels(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            return value
        levels = tuple(dict.fromkeys(level_key(v) for v in value))
        wrong = [lvl for lvl in levels if lvl not in UPGRADABLE_LEVELS]
        if wrong:
            raise ValueError(
                f"upgrade_levels may name {list(UPGRADABLE_LEVELS)} (the centers that can "
                f"become sub-centers), not {wrong}"
            )
        return levels


def check_expansion(expansion: ExpansionSiting | None, stations: Any) -> None:
    """The station settings that the expansion model replaces must be left out.

    Raises
    ------
    ValueError
        When ``[siting.stations]`` asks for another objective, a target, capacities or
        per-township minimums beside ``[siting.expansion]``.
    """
    if expansion is None:
        return
    if stations.objective != "mclp":
        raise ValueError(
            f'[siting.expansion] plans stations by coverage; leave out objective = "'
            f'{stations.objective}" in [siting.stations]'
        )
    taken = [k for k in ("budget", "target_coverage", "capacity", "min_per_township")
             if getattr(stations, k) is not None]  # fmt: skip
    if taken:
        raise ValueError(
            f"[siting.expansion] has its own budget; leave out siting.stations.{taken[0]}"
        )
