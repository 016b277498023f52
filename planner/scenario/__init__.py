"""Scenario files: TOML → validated settings.

A scenario names the input layers, the service radius of each level, the siting and grid
options and the outputs. Paths are relative to the scenario file. Unknown keys and wrong
types are rejected with the key path named, e.g.
``levels.township.radius_m: expected a number, got "5km"``, and a misspelt key gets a
suggestion: ``levels.township.radius: unknown key (did you mean radius_m?)``.

Numbers must be TOML numbers (``true`` or ``"500"`` is not a number) and finite; counts
must be whole numbers. The file itself must be a regular UTF-8 file of at most
:data:`MAX_SCENARIO_BYTES`, nested at most :data:`MAX_DEPTH` levels.

The package holds :class:`Scenario` and its reading (:mod:`~planner.scenario.model`), the
section models (:mod:`~planner.scenario.sections`), the checks of single values
(:mod:`~planner.scenario.values`), which center levels serve a level
(:mod:`~planner.scenario.serving`) and the wording of validation errors
(:mod:`~planner.scenario.messages`); the names below are the public ones.
"""

from __future__ import annotations

from planner.scenario.model import (
    LAYER_KINDS,
    MAX_DEPTH,
    MAX_LISTED,
    MAX_SCENARIO_BYTES,
    Scenario,
    load_scenario,
    parse_scenario,
)
from planner.scenario.sections import (
    DEFAULT_ALSO,
    ENCODED_SUFFIXES,
    MAX_COUNT,
    MAX_MINUTES,
    MAX_NAME_CHARS,
    MAX_RADIUS_M,
    NOMINAL_SPEED_KPH,
    RESERVED_COLUMNS,
    Coords,
    Count,
    GridSettings,
    LayerSpec,
    LevelSpec,
    Minutes,
    Mode,
    NetworkSettings,
    NonNegative,
    OutputFormat,
    Outputs,
    Positive,
    Radius,
    ScenarioMeta,
    Siting,
    SolverSettings,
    Standards,
    StationSiting,
    SubcenterSiting,
    Travel,
)
from planner.scenario.serving import (
    LevelGroups,
    also_levels,
    serving_groups,
    station_spec,
)
from planner.scenario.values import (
    did_you_mean,
    safe_folder_name,
)

__all__ = [
    "DEFAULT_ALSO",
    "ENCODED_SUFFIXES",
    "LAYER_KINDS",
    "MAX_COUNT",
    "MAX_DEPTH",
    "MAX_LISTED",
    "MAX_MINUTES",
    "MAX_NAME_CHARS",
    "MAX_RADIUS_M",
    "MAX_SCENARIO_BYTES",
    "NOMINAL_SPEED_KPH",
    "RESERVED_COLUMNS",
    "Coords",
    "Count",
    "GridSettings",
    "LayerSpec",
    "LevelGroups",
    "LevelSpec",
    "Minutes",
    "Mode",
    "NetworkSettings",
    "NonNegative",
    "OutputFormat",
    "Outputs",
    "Positive",
    "Radius",
    "Scenario",
    "ScenarioMeta",
    "Siting",
    "SolverSettings",
    "Standards",
    "StationSiting",
    "SubcenterSiting",
    "Travel",
    "also_levels",
    "did_you_mean",
    "load_scenario",
    "parse_scenario",
    "safe_folder_name",
    "serving_groups",
    "station_spec",
]
