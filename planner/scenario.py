"""Scenario files: TOML → validated settings.

A scenario names the input layers, the service radius of each level, the siting and grid
options and the outputs. Paths are relative to the scenario file. Unknown keys and wrong
types are rejected with the key path named, e.g.
``levels.township.radius_m: expected a number, got '5km'``.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import PlannerError
from .levels import LEVELS, normalize_level

LAYER_KINDS: tuple[str, ...] = (
    "centers",
    "villages",
    "village_areas",
    "townships",
    "counties",
    "merged_townships",
    "merged_township_areas",
    "grids",
    "roads",
    "candidates",
)
Coords = Literal["wgs84", "cgcs2000", "gcj02", "bd09"]
Mode = Literal["euclidean", "network"]
Travel = Literal["walk", "bike", "drive"]
OutputFormat = Literal["gpkg", "geojson", "shp", "kml", "fgb", "parquet"]

#: Nominal speeds (km/h) used to turn ``minutes`` into metres for straight-line coverage.
NOMINAL_SPEED_KPH: dict[str, float] = {"walk": 5.0, "bike": 15.0, "drive": 40.0}

#: Levels whose centers also count for a level by default: sub-centers give township
#: service, stations extend village/community service.
DEFAULT_ALSO: dict[str, tuple[str, ...]] = {"township": ("subcenter",), "village": ("station",)}

Positive = Annotated[float, Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScenarioMeta(_Strict):
    """``[scenario]``: name, working CRS and output folder."""

    name: str = "scenario"
    crs: str | int = "auto"
    out_dir: Path | None = None
    description: str = ""


class LayerSpec(BaseModel):
    """``[layers.<kind>]``: where a layer is and how to read it.

    Besides the keys below, any canonical column name of the layer kind (``id``,
    ``name``, ``population`` …) may map to the source column that holds it.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    path: Path
    layer: str | None = None
    coords: Coords | None = None
    crs: str | int | None = None
    encoding: str | None = None
    sheet: str | int | None = None
    lon: str | None = None
    lat: str | None = None

    @property
    def columns(self) -> dict[str, str]:
        """Column mapping ``canonical name → source column``."""
        return {k: str(v) for k, v in (self.model_extra or {}).items()}


class LevelSpec(_Strict):
    """``[levels.<level>]``: the service radius of one level."""

    radius_m: Positive | None = None
    minutes: Positive | None = None
    mode: Mode = "euclidean"
    travel: Travel = "walk"
    also: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _one_radius(self) -> LevelSpec:
        if (self.radius_m is None) == (self.minutes is None):
            raise ValueError("give exactly one of radius_m or minutes")
        return self

    @field_validator("also")
    @classmethod
    def _known_levels(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(normalize_level(v) for v in value)

    @property
    def cutoff_m(self) -> float:
        """Radius in metres (``minutes`` at the nominal speed of ``travel``)."""
        if self.radius_m is not None:
            return float(self.radius_m)
        return float(self.minutes) * NOMINAL_SPEED_KPH[self.travel] * 1000.0 / 60.0

    @property
    def uses_time(self) -> bool:
        """True when the radius is a travel time along roads."""
        return self.minutes is not None and self.mode == "network"


class SubcenterSiting(_Strict):
    """``[siting.subcenters]``: sub-centers at the former seats of merged townships."""

    enabled: bool = True
    max_count: Annotated[int, Field(ge=0)] | None = None


class StationSiting(_Strict):
    """``[siting.stations]``: branch stations on the remaining gaps."""

    enabled: bool = True
    budget: Annotated[int, Field(ge=0)] | None = None
    target_coverage: Annotated[float, Field(gt=0, le=1)] | None = None
    candidates: Literal["villages", "candidates", "grids"] = "villages"
    capacity: Positive | None = None
    min_per_township: Annotated[int, Field(ge=0)] | None = None
    curve_max: Annotated[int, Field(ge=0)] | None = None
    radius_m: Positive | None = None
    minutes: Positive | None = None

    @model_validator(mode="after")
    def _budget_or_target(self) -> StationSiting:
        if self.budget is not None and self.target_coverage is not None:
            raise ValueError("give budget or target_coverage, not both")
        if self.radius_m is not None and self.minutes is not None:
            raise ValueError("give radius_m or minutes, not both")
        return self

    @property
    def has_radius(self) -> bool:
        """True when stations have a service radius of their own."""
        return self.radius_m is not None or self.minutes is not None


class SolverSettings(_Strict):
    """``[siting.solver]``: HiGHS limits."""

    time_limit_s: Positive = 60.0
    mip_gap: Annotated[float, Field(ge=0, lt=1)] = 1e-4


class Siting(_Strict):
    """``[siting]``."""

    subcenters: SubcenterSiting = SubcenterSiting()
    stations: StationSiting = StationSiting()
    solver: SolverSettings = SolverSettings()


class GridSettings(_Strict):
    """``[grids]``: governance grid generation."""

    enabled: bool = True
    households_per_grid: Positive | None = None
    population_per_grid: Positive | None = None
    rural_households_per_grid: Positive = 30.0
    urban_households_per_grid: Positive = 250.0
    workers_per_grid_rural: Positive = 30_241 / 18_332
    workers_per_grid_urban: Positive = 5_044 / 2_292

    @model_validator(mode="after")
    def _one_target(self) -> GridSettings:
        if self.households_per_grid is not None and self.population_per_grid is not None:
            raise ValueError("give households_per_grid or population_per_grid, not both")
        return self


class Outputs(_Strict):
    """``[outputs]``: formats, output CRS, language and map options."""

    formats: tuple[OutputFormat, ...] = ("gpkg",)
    crs: str | int = "EPSG:4490"
    shp_encoding: Literal["utf-8", "gbk"] = "utf-8"
    map: bool = True
    report: bool = True
    lang: Literal["zh", "en"] = "zh"
    tiles: Literal["none", "osm", "tianditu"] = "none"
    tianditu_key: str = ""


class NetworkSettings(_Strict):
    """``[network]``: how road lines become a routable network."""

    tolerance_m: Annotated[float, Field(ge=0)] = 1.0
    max_access_m: Positive = 500.0
    min_component_nodes: Annotated[int, Field(ge=1)] = 10
    speeds: dict[Travel, dict[str, Annotated[float, Field(ge=0)]]] = Field(default_factory=dict)


class Standards(_Strict):
    """``[standards]``: the construction standard centers are checked against."""

    profile: str | None = None
    file: Path | None = None


def _level_key(value: str) -> str:
    return normalize_level(value)


class Scenario(_Strict):
    """A whole validated scenario; see the README's scenario reference."""

    scenario: ScenarioMeta = ScenarioMeta()
    layers: dict[str, LayerSpec]
    levels: dict[str, LevelSpec] = Field(default_factory=dict)
    siting: Siting = Siting()
    grids: GridSettings = GridSettings()
    outputs: Outputs = Outputs()
    standards: Standards = Standards()
    network: NetworkSettings = NetworkSettings()
    base_dir: Path = Path(".")

    @model_validator(mode="after")
    def _roads_for_network_levels(self) -> Scenario:
        needing = [lvl for lvl, spec in self.levels.items() if spec.mode == "network"]
        if needing and "roads" not in self.layers:
            raise ValueError(
                f'levels {", ".join(needing)} use mode = "network" but the scenario has no '
                "[layers.roads]"
            )
        return self

    @model_validator(mode="after")
    def _station_radius_serves_villages(self) -> Scenario:
        if self.siting.stations.has_radius and "village" not in self.levels:
            raise ValueError(
                "siting.stations.radius_m/minutes is the radius stations serve the village "
                "level with, but there is no [levels.village]; give the station radius in "
                "[levels.station] instead"
            )
        return self

    @field_validator("layers")
    @classmethod
    def _known_kinds(cls, value: dict[str, LayerSpec]) -> dict[str, LayerSpec]:
        for kind in value:
            if kind not in LAYER_KINDS:
                raise ValueError(f"unknown layer kind {kind!r}; expected one of {LAYER_KINDS}")
        if "villages" not in value:
            raise ValueError("a [layers.villages] table is required")
        return value

    @field_validator("levels", mode="before")
    @classmethod
    def _canonical_levels(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for key, spec in value.items():
            level = _level_key(key)
            if level in out:
                raise ValueError(f"level {level!r} is given twice (as {key!r})")
            out[level] = spec
        return out

    def path(self, relative: Path | str) -> Path:
        """Resolve a path given in the scenario relative to the scenario file."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    @property
    def out_dir(self) -> Path:
        """The output folder (default ``outputs/<name>`` beside the scenario file)."""
        if self.scenario.out_dir is not None:
            return self.path(self.scenario.out_dir)
        return self.path(Path("outputs") / self.scenario.name)

    def also_levels(self, level: str) -> tuple[str, ...]:
        """Levels whose centers also serve ``level`` (its own level first)."""
        spec = self.levels[level]
        extra = spec.also if spec.also is not None else DEFAULT_ALSO.get(level, ())
        return (level, *[e for e in extra if e != level])

    def serving_groups(self, level: str) -> list[tuple[tuple[str, ...], LevelSpec]]:
        """The center levels serving ``level``, grouped by the settings they serve with.

        One group (:meth:`also_levels`, the level's own settings) unless stations serve
        the level with a radius of their own (``[siting.stations] radius_m`` or
        ``minutes``): then stations form a second group with the level's mode and travel
        but that radius.
        """
        serving = self.also_levels(level)
        stations = self.siting.stations
        if level == "station" or "station" not in serving or not stations.has_radius:
            return [(serving, self.levels[level])]
        others = tuple(lvl for lvl in serving if lvl != "station")
        groups = [(others, self.levels[level])] if others else []
        return [*groups, (("station",), self.station_spec(level))]

    def station_spec(self, level: str) -> LevelSpec:
        """The settings stations serve ``level`` with: the level's, with the station
        radius when ``[siting.stations]`` gives one."""
        spec, stations = self.levels[level], self.siting.stations
        if level == "station" or not stations.has_radius:
            return spec
        return spec.model_copy(update={"radius_m": stations.radius_m, "minutes": stations.minutes})

    def ordered_levels(self) -> list[str]:
        """Configured levels from the top of the network down."""
        return [lvl for lvl in LEVELS if lvl in self.levels]


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


_EXPECTED: dict[str, str] = {
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected text",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "path_type": "expected a path (text)",
}


def _format_error(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{loc}: unknown key"
    if kind == "missing":
        return f"{loc}: required key is missing"
    if kind in _EXPECTED:
        return f"{loc}: {_EXPECTED[kind]}, got {_describe(err.get('input'))}"
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind == "literal_error":
        message = message.replace("Input should be", "expected")
        return f"{loc}: {message}, got {_describe(err.get('input'))}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        message = message.replace("Input should be", "expected a number")
        return f"{loc}: {message}, got {_describe(err.get('input'))}"
    return f"{loc}: {message}" if loc else message


def parse_scenario(data: dict[str, Any], *, base_dir: Path, source: str = "scenario") -> Scenario:
    """Validate a scenario given as a dict (the parsed TOML).

    Raises
    ------
    PlannerError
        Listing every problem with its key path.
    """
    try:
        return Scenario.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        lines = [_format_error(e) for e in exc.errors()]
        raise PlannerError(f"{source}: invalid scenario\n  " + "\n  ".join(lines)) from None
    except PlannerError as exc:  # an unknown level name raised by normalize_level
        raise PlannerError(f"{source}: {exc}") from None


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate a scenario TOML file.

    Raises
    ------
    PlannerError
        When the file is missing, is not valid TOML (line and column named) or does not
        follow the scenario reference.
    """
    path = Path(path)
    if not path.is_file():
        raise PlannerError(f"{path}: scenario file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PlannerError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlannerError(f"{path}: not valid TOML: {exc}") from None
    return parse_scenario(data, base_dir=path.resolve().parent, source=str(path))
