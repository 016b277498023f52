"""The sections of a scenario file, as validated settings models.

One model per TOML table (``[scenario]``, ``[layers.<kind>]``, ``[levels.<level>]``,
``[siting.*]``, ``[grids]``, ``[outputs]``, ``[network]``, ``[standards]``). Each step
takes the section it needs; :class:`planner.scenario.Scenario` holds them all. Unknown
keys are refused, numbers must be finite TOML numbers and counts whole numbers.
"""

from __future__ import annotations

import codecs
import unicodedata
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from planner.scenario.expansion import ExpansionSiting, check_expansion
from planner.scenario.values import check_crs, describe, level_key, no_nul, text_or_code

#: Largest service radius (m) and travel time (min): beyond the extent of China.
MAX_RADIUS_M = 10_000_000.0
MAX_MINUTES = 10_000.0
#: Largest count (budget, curve length …) accepted.
MAX_COUNT = 1_000_000_000
#: Longest scenario name (characters).
MAX_NAME_CHARS = 200

Coords = Literal["wgs84", "cgcs2000", "gcj02", "bd09"]
Mode = Literal["euclidean", "network"]
Travel = Literal["walk", "bike", "drive"]
OutputFormat = Literal["gpkg", "geojson", "shp", "kml", "fgb", "parquet"]

#: Nominal speeds (km/h) used to turn ``minutes`` into metres for straight-line coverage.
NOMINAL_SPEED_KPH: dict[str, float] = {"walk": 5.0, "bike": 15.0, "drive": 40.0}

#: Levels whose centers also count for a level by default: sub-centers give township
#: service, stations extend village/community service.
DEFAULT_ALSO: dict[str, tuple[str, ...]] = {"township": ("subcenter",), "village": ("station",)}


def _number(
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
) -> Any:
    """A finite TOML number (int or float, never a boolean or text) within the given bounds."""
    return Field(strict=True, allow_inf_nan=False, gt=gt, ge=ge, lt=lt, le=le)


Positive = Annotated[float, _number(gt=0)]
NonNegative = Annotated[float, _number(ge=0)]
Radius = Annotated[float, _number(gt=0, le=MAX_RADIUS_M)]
Minutes = Annotated[float, _number(gt=0, le=MAX_MINUTES)]
Count = Annotated[int, Field(strict=True, ge=0, le=MAX_COUNT)]
#: Formats whose text encoding is not fixed by the format: the ``encoding`` setting
#: applies to them only (shapefiles, zipped shapefiles, CSV/text ledgers).
ENCODED_SUFFIXES = (".shp", ".dbf", ".zip", ".csv", ".txt")
#: Column names the planner keeps for itself; a mapping may not use them.
RESERVED_COLUMNS: frozenset[str] = frozenset({"geometry", "_row"})


class StrictModel(BaseModel):
    """A settings table: unknown keys are refused and the values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ScenarioMeta(StrictModel):
    """``[scenario]``: name, working CRS and output folder.

    The ``name`` is shown in the outputs as given; the default output folder uses
    :func:`planner.scenario.values.safe_folder_name` of it, so a name is never a path.
    """

    name: str = Field(default="scenario", min_length=1, max_length=MAX_NAME_CHARS)
    crs: str | StrictInt = "auto"
    out_dir: Path | None = None
    description: str = ""

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if any(unicodedata.category(ch) == "Cc" for ch in value):
            raise ValueError(f"control characters are not allowed, got {describe(value)}")
        if not value.strip():
            raise ValueError("the name is empty")
        return value

    _crs_type = field_validator("crs", mode="before")(text_or_code)

    @field_validator("crs")
    @classmethod
    def _working_crs(cls, value: str | int) -> str | int:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return value
        return check_crs(value, metric=True)

    @field_validator("out_dir")
    @classmethod
    def _plain_path(cls, value: Path | None) -> Path | None:
        return no_nul(value)


class LayerSpec(BaseModel):
    """``[layers.<kind>]``: where a layer is and how to read it.

    Besides the keys below, any canonical column name of the layer kind (``id``,
    ``name``, ``population`` …) may map to the source column that holds it (text).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    path: Path
    layer: str | None = None
    coords: Coords | None = None
    crs: str | StrictInt | None = None
    encoding: str | None = None
    sheet: str | StrictInt | None = None
    lon: str | None = None
    lat: str | None = None

    @field_validator("path")
    @classmethod
    def _plain_path(cls, value: Path) -> Path:
        return no_nul(value)

    _crs_type = field_validator("crs", "sheet", mode="before")(text_or_code)

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, value: str | int | None) -> str | int | None:
        return None if value is None else check_crs(value, metric=False)

    @field_validator("encoding")
    @classmethod
    def _text_encoding(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            info = codecs.lookup(value)
        except (LookupError, ValueError):
            raise ValueError(
                f'unknown encoding {describe(value)}; use e.g. "gbk" or "utf-8"'
            ) from None
        if not getattr(info, "_is_text_encoding", True):
            raise ValueError(f'{describe(value)} is not a text encoding; use e.g. "gbk" or "utf-8"')
        return value

    @model_validator(mode="after")
    def _encoding_applies(self) -> LayerSpec:
        suffix = self.path.suffix.lower()
        if self.encoding is not None and suffix not in ENCODED_SUFFIXES:
            raise ValueError(
                f".encoding: a {suffix or 'file without suffix'} file carries its own text "
                f"encoding; encoding applies to {', '.join(ENCODED_SUFFIXES)} files only "
                "(remove it)"
            )
        return self

    @model_validator(mode="after")
    def _mapping_is_text(self) -> LayerSpec:
        lines = []
        sources: dict[str, str] = {}
        for canonical, source in (self.model_extra or {}).items():
            if canonical in RESERVED_COLUMNS or canonical.startswith("_"):
                lines.append(f".{canonical}: reserved for the planner; it cannot be mapped")
            elif not isinstance(source, str) or not source.strip():
                lines.append(
                    f".{canonical}: expected the name of a source column (text), "
                    f"got {describe(source)}"
                )
            elif source in RESERVED_COLUMNS:
                lines.append(
                    f".{canonical}: {describe(source)} is the geometry or row number, not an "
                    "attribute column; map an attribute column"
                )
            elif source in sources:
                lines.append(
                    f".{canonical}: column {describe(source)} is already mapped to "
                    f"{sources[source]}; map each source column once"
                )
            else:
                sources[source] = canonical
        if lines:
            raise ValueError("\n".join(lines))
        return self

    @property
    def columns(self) -> dict[str, str]:
        """Column mapping ``canonical name → source column``."""
        return {k: str(v) for k, v in (self.model_extra or {}).items()}


class LevelSpec(StrictModel):
    """``[levels.<level>]``: the service radius of one level."""

    radius_m: Radius | None = None
    minutes: Minutes | None = None
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
        return None if value is None else tuple(level_key(v) for v in value)

    @property
    def cutoff_m(self) -> float:
        """Radius in metres (``minutes`` at the nominal speed of ``travel``)."""
        if self.radius_m is not None:
            return float(self.radius_m)
        assert self.minutes is not None  # _one_radius
        return float(self.minutes) * NOMINAL_SPEED_KPH[self.travel] * 1000.0 / 60.0

    @property
    def uses_time(self) -> bool:
        """True when the radius is a travel time along roads."""
        return self.minutes is not None and self.mode == "network"

    @property
    def cutoff_s(self) -> float | None:
        """The travel time along roads in seconds when :attr:`uses_time`, else ``None``."""
        if self.minutes is None or self.mode != "network":
            return None
        return self.minutes * 60.0


class SubcenterSiting(StrictModel):
    """``[siting.subcenters]``: sub-centers at the former seats of merged townships."""

    enabled: StrictBool = True
    max_count: Count | None = None


class StationSiting(StrictModel):
    """``[siting.stations]``: branch stations on the remaining gaps."""

    enabled: StrictBool = True
    budget: Count | None = None
    target_coverage: Annotated[float, _number(gt=0, le=1)] | None = None
    candidates: Literal["villages", "candidates", "grids"] = "villages"
    capacity: Positive | None = None
    min_per_township: Count | None = None
    curve_max: Count | None = None
    radius_m: Radius | None = None
    minutes: Minutes | None = None
    objective: Literal["mclp", "pcenter", "backup"] = "mclp"

    @model_validator(mode="after")
    def _budget_or_target(self) -> StationSiting:
        if self.budget is not None and self.target_coverage is not None:
            raise ValueError("give budget or target_coverage, not both")
        if self.radius_m is not None and self.minutes is not None:
            raise ValueError("give radius_m or minutes, not both")
        taken = [k for k in ("target_coverage", "capacity", "min_per_township")
                 if getattr(self, k) is not None]  # fmt: skip
        if self.objective != "mclp" and taken:
            raise ValueError(f'objective = "{self.objective}" takes a budget, not {taken[0]}')
        return self

    @property
    def has_radius(self) -> bool:
        """True when stations have a service radius of their own."""
        return self.radius_m is not None or self.minutes is not None


class SolverSettings(StrictModel):
    """``[siting.solver]``: HiGHS limits."""

    time_limit_s: Positive = 60.0
    mip_gap: Annotated[float, _number(ge=0, lt=1)] = 1e-4


class Siting(StrictModel):
    """``[siting]``."""

    subcenters: SubcenterSiting = SubcenterSiting()
    stations: StationSiting = StationSiting()
    solver: SolverSettings = SolverSettings()
    expansion: ExpansionSiting | None = None

    @model_validator(mode="after")
    def _expansion_replaces_station_budget(self) -> Siting:
        check_expansion(self.expansion, self.stations)
        return self


class GridSettings(StrictModel):
    """``[grids]``: governance grid generation."""

    enabled: StrictBool = True
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


class Outputs(StrictModel):
    """``[outputs]``: formats, output CRS, language and map options."""

    formats: tuple[OutputFormat, ...] = ("gpkg",)
    crs: str | StrictInt = "EPSG:4490"
    shp_encoding: Literal["utf-8", "gbk"] = "utf-8"
    map: StrictBool = True
    report: StrictBool = True
    lang: Literal["zh", "en"] = "zh"
    tiles: Literal["none", "osm", "tianditu"] = "none"
    tianditu_key: str = ""

    _crs_type = field_validator("crs", mode="before")(text_or_code)

    @field_validator("crs")
    @classmethod
    def _map_crs(cls, value: str | int) -> str | int:
        return check_crs(value, metric=False)


class NetworkSettings(StrictModel):
    """``[network]``: how road lines become a routable network."""

    tolerance_m: NonNegative = 1.0
    max_access_m: Positive = 500.0
    min_component_nodes: Annotated[int, Field(strict=True, ge=1, le=MAX_COUNT)] = 10
    speeds: dict[Travel, dict[str, NonNegative]] = Field(default_factory=dict)


class Standards(StrictModel):
    """``[standards]``: the construction standard centers are checked against."""

    profile: str | None = None
    file: Path | None = None

    @field_validator("file")
    @classmethod
    def _plain_path(cls, value: Path | None) -> Path | None:
        return no_nul(value)

    @model_validator(mode="after")
    def _one_choice(self) -> Standards:
        if self.profile is not None and self.file is not None:
            raise ValueError("give profile or file, not both")
        return self
