"""Which center levels serve a level, and with which settings.

A level is served by its own centers and by those of the levels its ``also`` names (by
default :data:`~planner.scenario.sections.DEFAULT_ALSO`). Stations may serve with a radius
of their own (``[siting.stations] radius_m`` or ``minutes``); they then form a group of
their own. :class:`~planner.scenario.Scenario` and the siting step both answer from here.
"""

from __future__ import annotations

from collections.abc import Mapping

from planner.scenario.sections import DEFAULT_ALSO, LevelSpec, StationSiting

#: Center levels serving a level, grouped by the settings they serve with.
LevelGroups = list[tuple[tuple[str, ...], LevelSpec]]


def also_levels(levels: Mapping[str, LevelSpec], level: str) -> tuple[str, ...]:
    """Levels whose centers also serve ``level`` (its own level first).

    Parameters
    ----------
    levels
        Level → its settings (``[levels.*]``).
    level
        A key of ``levels``.
    """
    spec = levels[level]
    extra = spec.also if spec.also is not None else DEFAULT_ALSO.get(level, ())
    return (level, *[e for e in extra if e != level])


def serving_groups(
    levels: Mapping[str, LevelSpec], stations: StationSiting, level: str
) -> LevelGroups:
    """The center levels serving ``level``, grouped by the settings they serve with.

    One group (:func:`also_levels`, the level's own settings) unless stations serve the
    level with a radius of their own (``stations.radius_m`` or ``minutes``): then stations
    form a second group with :func:`station_spec`, the level's mode and travel but that
    radius.

    Parameters
    ----------
    levels
        Level → its settings (``[levels.*]``).
    stations
        The ``[siting.stations]`` settings.
    level
        A key of ``levels``.
    """
    serving = also_levels(levels, level)
    if level == "station" or "station" not in serving or not stations.has_radius:
        return [(serving, levels[level])]
    others = tuple(lvl for lvl in serving if lvl != "station")
    groups = [(others, levels[level])] if others else []
    return [*groups, (("station",), station_spec(levels, stations, level))]


def station_spec(levels: Mapping[str, LevelSpec], stations: StationSiting, level: str) -> LevelSpec:
    """The settings stations serve ``level`` with: the level's, with the station radius
    when ``stations`` gives one.

    Parameters
    ----------
    levels
        Level → its settings (``[levels.*]``).
    stations
        The ``[siting.stations]`` settings.
    level
        A key of ``levels``.
    """
    spec = levels[level]
    if level == "station" or not stations.has_radius:
        return spec
    return spec.model_copy(update={"radius_m": stations.radius_m, "minutes": stations.minutes})
