"""Scenario files: TOML → validated settings.

A scenario names the input layers, the service radius of each level, the siting and grid
options and the outputs. Paths are relative to the scenario file. Unknown keys and wrong
types are rejected with the key path named, e.g.
``levels.township.radius_m: expected a number, got "5km"``, and a misspelt key gets a
suggestion: ``levels.township.radius: unknown key (did you mean radius_m?)``.

Numbers must be TOML numbers (``true`` or ``"500"`` is not a number) and finite; counts
must be whole numbers. The file itself must be a regular UTF-8 file of at most
:data:`MAX_SCENARIO_BYTES`, nested at most :data:`MAX_DEPTH` levels.
"""

from __future__ import annotations

import codecs
import difflib
import json
import os
import re
import stat
import tomllib
import unicodedata
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import pyproj
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from planner.errors import PlannerError
from planner.levels import LEVELS, normalize_level
from planner.schemas import SCHEMAS

#: Largest scenario file read (bytes); a scenario is a few kilobytes.
MAX_SCENARIO_BYTES = 1_000_000
#: Deepest nesting of tables and lists accepted (a scenario needs 4).
MAX_DEPTH = 16
#: Largest service radius (m) and travel time (min): beyond the extent of China.
MAX_RADIUS_M = 10_000_000.0
MAX_MINUTES = 10_000.0
#: Largest count (budget, curve length …) accepted.
MAX_COUNT = 1_000_000_000
#: Problems listed in one message (the rest are counted).
MAX_LISTED = 30
#: Longest scenario name (characters).
MAX_NAME_CHARS = 200

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


def _number(**bounds: float) -> Any:
    """A finite TOML number (int or float, never a boolean or text) within ``bounds``."""
    return Field(strict=True, allow_inf_nan=False, **bounds)


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
#: Characters Windows does not allow in a file name.
_ILLEGAL_IN_FILE_NAME = '<>:"/\\|?*'
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
     *(f"LPT{i}" for i in range(1, 10))}
)  # fmt: skip


def did_you_mean(word: str, choices: Any) -> str:
    """`` (did you mean X?)`` for the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _check_crs(value: str | int, *, metric: bool) -> str | int:
    """Refuse a CRS pyproj does not know; ``metric``: it must be projected in metres."""
    try:
        crs = pyproj.CRS.from_user_input(value)
    except (pyproj.exceptions.CRSError, ValueError, TypeError, OverflowError):
        raise ValueError(
            f'unknown CRS {_describe(value)}; give an EPSG code such as "EPSG:4490"'
        ) from None
    if metric and not (crs.is_projected and {a.unit_name for a in crs.axis_info} == {"metre"}):
        raise ValueError(
            f'{_describe(value)} ({crs.name}) is not a projected CRS in metres; use "auto" or '
            "a metric projection such as a CGCS2000 Gauss-Krüger zone (EPSG:4534–4554)"
        )
    if not (crs.is_projected or crs.is_geographic):
        raise ValueError(
            f"{_describe(value)} ({crs.name}) is a {crs.type_name}, not a map CRS; use a "
            'geographic or projected CRS such as "EPSG:4490"'
        )
    return value


def _text_or_code(value: Any) -> Any:
    """Refuse anything but text or a whole number (an EPSG code, a sheet index)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected text or a whole number, got {_describe(value)}")
    return value


def _no_nul(value: Path | str | None) -> Any:
    if value is not None and "\x00" in str(value):
        raise ValueError("a path may not contain a NUL character")
    return value


def safe_folder_name(name: str) -> str:
    """A folder name for ``name`` that stays one plain folder on every system.

    Path separators and characters Windows forbids become ``_``, leading and trailing dots
    and spaces are dropped (so ``..`` or ``../../x`` never climb out), Windows device names
    (``CON``, ``NUL`` …) get a ``_`` appended, the result is cut to 120 bytes of UTF-8, and
    an empty result becomes ``scenario``. Chinese and other letters are kept.
    """
    text = "".join(
        "_" if ch in _ILLEGAL_IN_FILE_NAME or unicodedata.category(ch) == "Cc" else ch
        for ch in name
    )
    while len(text.encode("utf-8")) > 120:
        text = text[:-1]
    text = text.strip(". ")
    if text.split(".")[0].upper() in _WINDOWS_DEVICES:
        text += "_"
    return text or "scenario"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScenarioMeta(_Strict):
    """``[scenario]``: name, working CRS and output folder.

    The ``name`` is shown in the outputs as given; the default output folder uses
    :func:`safe_folder_name` of it, so a name is never a path.
    """

    name: str = Field("scenario", min_length=1, max_length=MAX_NAME_CHARS)
    crs: str | StrictInt = "auto"
    out_dir: Path | None = None
    description: str = ""

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if any(unicodedata.category(ch) == "Cc" for ch in value):
            raise ValueError(f"control characters are not allowed, got {_describe(value)}")
        if not value.strip():
            raise ValueError("the name is empty")
        return value

    _crs_type = field_validator("crs", mode="before")(_text_or_code)

    @field_validator("crs")
    @classmethod
    def _working_crs(cls, value: str | int) -> str | int:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return value
        return _check_crs(value, metric=True)

    @field_validator("out_dir")
    @classmethod
    def _plain_path(cls, value: Path | None) -> Path | None:
        return _no_nul(value)


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
        return _no_nul(value)

    _crs_type = field_validator("crs", "sheet", mode="before")(_text_or_code)

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, value: str | int | None) -> str | int | None:
        return None if value is None else _check_crs(value, metric=False)

    @field_validator("encoding")
    @classmethod
    def _text_encoding(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            info = codecs.lookup(value)
        except (LookupError, ValueError):
            raise ValueError(
                f'unknown encoding {_describe(value)}; use e.g. "gbk" or "utf-8"'
            ) from None
        if not getattr(info, "_is_text_encoding", True):
            raise ValueError(
                f'{_describe(value)} is not a text encoding; use e.g. "gbk" or "utf-8"'
            )
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
                    f"got {_describe(source)}"
                )
            elif source in RESERVED_COLUMNS:
                lines.append(
                    f".{canonical}: {_describe(source)} is the geometry or row number, not an "
                    "attribute column; map an attribute column"
                )
            elif source in sources:
                lines.append(
                    f".{canonical}: column {_describe(source)} is already mapped to "
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


class LevelSpec(_Strict):
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
        return None if value is None else tuple(_level_key(v) for v in value)

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

    enabled: StrictBool = True
    max_count: Count | None = None


class StationSiting(_Strict):
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
    mip_gap: Annotated[float, _number(ge=0, lt=1)] = 1e-4


class Siting(_Strict):
    """``[siting]``."""

    subcenters: SubcenterSiting = SubcenterSiting()
    stations: StationSiting = StationSiting()
    solver: SolverSettings = SolverSettings()


class GridSettings(_Strict):
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


class Outputs(_Strict):
    """``[outputs]``: formats, output CRS, language and map options."""

    formats: tuple[OutputFormat, ...] = ("gpkg",)
    crs: str | StrictInt = "EPSG:4490"
    shp_encoding: Literal["utf-8", "gbk"] = "utf-8"
    map: StrictBool = True
    report: StrictBool = True
    lang: Literal["zh", "en"] = "zh"
    tiles: Literal["none", "osm", "tianditu"] = "none"
    tianditu_key: str = ""

    _crs_type = field_validator("crs", mode="before")(_text_or_code)

    @field_validator("crs")
    @classmethod
    def _map_crs(cls, value: str | int) -> str | int:
        return _check_crs(value, metric=False)


class NetworkSettings(_Strict):
    """``[network]``: how road lines become a routable network."""

    tolerance_m: NonNegative = 1.0
    max_access_m: Positive = 500.0
    min_component_nodes: Annotated[int, Field(strict=True, ge=1, le=MAX_COUNT)] = 10
    speeds: dict[Travel, dict[str, NonNegative]] = Field(default_factory=dict)


class Standards(_Strict):
    """``[standards]``: the construction standard centers are checked against."""

    profile: str | None = None
    file: Path | None = None

    @field_validator("file")
    @classmethod
    def _plain_path(cls, value: Path | None) -> Path | None:
        return _no_nul(value)

    @model_validator(mode="after")
    def _one_choice(self) -> Standards:
        if self.profile is not None and self.file is not None:
            raise ValueError("give profile or file, not both")
        return self


def _level_key(value: Any) -> str:
    """The canonical level of a ``[levels.*]`` key or an ``also`` entry."""
    try:
        return normalize_level(value)
    except PlannerError as exc:
        raise ValueError(f"{exc}{did_you_mean(str(value).strip().lower(), LEVELS)}") from None


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
    def _station_candidates_exist(self) -> Scenario:
        stations = self.siting.stations
        if stations.enabled and stations.candidates == "candidates" and (
            "candidates" not in self.layers
        ):
            raise ValueError(
                'siting.stations.candidates = "candidates" but the scenario has no '
                '[layers.candidates]; add the layer or use candidates = "villages"'
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

    @field_validator("layers", mode="before")
    @classmethod
    def _known_kinds(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        lines = [
            f"layers.{kind}: unknown layer kind{did_you_mean(kind, LAYER_KINDS)}; "
            f"expected one of {', '.join(LAYER_KINDS)}"
            for kind in value
            if kind not in LAYER_KINDS
        ]
        if "villages" not in value:
            lines.append("layers.villages: a [layers.villages] table is required")
        for kind, spec in value.items():
            if kind in LAYER_KINDS and isinstance(spec, dict):
                lines += _unknown_layer_keys(kind, spec)
        if lines:
            raise ValueError("\n".join(lines))
        return value

    @field_validator("levels", mode="before")
    @classmethod
    def _canonical_levels(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        keys: dict[str, str] = {}
        for key, spec in value.items():
            try:
                level = _level_key(key)
            except ValueError as exc:
                raise ValueError(f"levels.{key}: {exc}") from None
            if level in out:
                raise ValueError(
                    f"levels.{key}: level {level!r} is given twice (also as {keys[level]!r})"
                )
            out[level], keys[level] = spec, key
        return out

    def path(self, relative: Path | str) -> Path:
        """Resolve a path given in the scenario relative to the scenario file."""
        p = Path(relative)
        try:
            p = p.expanduser()
        except RuntimeError:  # ``~user`` of an unknown user: keep it as written
            pass
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    @property
    def out_dir(self) -> Path:
        """The output folder (default ``outputs/<safe name>`` beside the scenario file)."""
        if self.scenario.out_dir is not None:
            return self.path(self.scenario.out_dir)
        return self.path(Path("outputs") / safe_folder_name(self.scenario.name))

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


def _unknown_layer_keys(kind: str, spec: dict[str, Any]) -> list[str]:
    """Keys of a ``[layers.<kind>]`` table that are neither settings nor canonical columns."""
    known = (*LayerSpec.model_fields, *SCHEMAS[kind].names)
    return [
        f"layers.{kind}.{key}: unknown key{did_you_mean(key, known)}; a column mapping "
        f"names one of: {', '.join(SCHEMAS[kind].names)}"
        for key in spec
        if key not in known and key not in RESERVED_COLUMNS and not str(key).startswith("_")
    ]


def _describe(value: Any) -> str:
    """A value as the user wrote it in TOML, cut short when long."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 60 else text[:57] + '…"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


_EXPECTED: dict[str, str] = {
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "finite_number": "expected a finite number",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected text",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "path_type": "expected a path (text)",
    "string_too_short": "expected non-empty text",
    "string_too_long": f"expected at most {MAX_NAME_CHARS} characters",
}


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The settings model whose key ``loc[-1]`` is, following ``loc`` from the top."""
    model: Any = Scenario
    parts = list(loc[:-1])
    while parts:
        field = model.model_fields.get(str(parts.pop(0)))
        if field is None:
            return None
        annotation = field.annotation
        if get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
            if not parts:
                return None
            parts.pop(0)  # the table's own key (a layer kind, a level)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


#: Steps pydantic puts in an error location that are not keys (``function-after[…]``,
#: ``[key]`` for a bad table key).
_PYDANTIC_STEP = re.compile(r"\[key\]|(function|tagged-union|union)-?[\w-]*\[.*\]", re.S)


def _format_error(err: dict[str, Any]) -> str:
    *path, last = err["loc"] or ("",)
    parts = tuple(p for p in path if not _PYDANTIC_STEP.fullmatch(str(p)))
    if err["type"] == "extra_forbidden" or not _PYDANTIC_STEP.fullmatch(str(last)):
        parts += (last,)  # an unknown key is the user's, whatever it looks like
    loc = ".".join(str(p) for p in parts)
    kind = err["type"]
    if kind == "extra_forbidden":
        model = _model_at(parts)
        hint = did_you_mean(parts[-1], model.model_fields) if model and parts else ""
        return f"{loc}: unknown key{hint}"
    if kind == "missing":
        return f"{loc}: required key is missing"
    if kind in _EXPECTED:
        return f"{loc}: {_EXPECTED[kind]}, got {_describe(err.get('input'))}"
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind == "literal_error":
        message = message.replace("Input should be", "expected")
        choices = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
        hint = did_you_mean(err.get("input"), choices) if isinstance(err.get("input"), str) else ""
        return f"{loc}: {message}, got {_describe(err.get('input'))}{hint}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        message = message.replace("Input should be", "expected a number")
        return f"{loc}: {message}, got {_describe(err.get('input'))}"
    return "\n  ".join(_at(loc, line) for line in message.split("\n"))


def _at(loc: str, line: str) -> str:
    """Prefix one message line with its key path; a line starting with ``.`` names a
    key below ``loc``, a line starting with ``loc`` has its path already."""
    if line.startswith("."):
        return f"{loc}{line}"
    return line if not loc or line.startswith(loc) else f"{loc}: {line}"


_TOO_DEEP = f"keys, tables or lists nested more than {MAX_DEPTH} levels"
_KEY_PART = r"""(?:[A-Za-z0-9_-]++|"[^"\n]*+"|'[^'\n]*+')"""
#: A key of more than MAX_DEPTH dot-separated parts where a key starts (a line, a table
#: header, an inline table); possessive quantifiers keep the search linear.
_LONG_DOTTED_KEY = re.compile(
    rf"(?m)(?:^|[{{,\[])[ \t]*+{_KEY_PART}(?:[ \t]*+\.[ \t]*+{_KEY_PART}){{{MAX_DEPTH},}}"
)


def _depth(data: Any) -> int:
    """How deeply tables and lists nest in ``data`` (iterative: no recursion limit)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        children = value.values() if isinstance(value, dict) else value
        stack += [(c, depth + 1) for c in children if isinstance(c, dict | list)]
    return deepest


def parse_scenario(data: dict[str, Any], *, base_dir: Path, source: str = "scenario") -> Scenario:
    """Validate a scenario given as a dict (the parsed TOML).

    Raises
    ------
    PlannerError
        Listing every problem with its key path.
    """
    if _depth(data) > MAX_DEPTH:
        raise PlannerError(f"{source}: {_TOO_DEEP}")
    if "base_dir" in data:
        raise PlannerError(f"{source}: invalid scenario\n  base_dir: unknown key")
    try:
        return Scenario.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        errors = exc.errors()
        lines = [_format_error(e) for e in errors[:MAX_LISTED]]
        if len(errors) > MAX_LISTED:
            lines.append(f"… and {len(errors) - MAX_LISTED:,} more")
        raise PlannerError(f"{source}: invalid scenario\n  " + "\n  ".join(lines)) from None


def _read_regular(path: Path, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes.

    The file is opened without blocking and checked before reading, so a FIFO or device
    is refused rather than waited on.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise PlannerError(f"{path}: scenario file not found") from None
    except OSError as exc:
        raise PlannerError(f"{path}: cannot open the scenario file: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise PlannerError(f"{path}: is a folder, not a scenario file")
        raise PlannerError(f"{path}: not a regular file (a pipe or device); give a TOML file")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise PlannerError(f"{path}: larger than {limit:,} bytes; a scenario is a short TOML file")
    return data


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate a scenario TOML file.

    Raises
    ------
    PlannerError
        When the file is missing, not a regular file, larger than
        :data:`MAX_SCENARIO_BYTES`, not UTF-8, not valid TOML (line and column named),
        nested too deeply, or does not follow the scenario reference.
    """
    path = Path(path)
    raw = _read_regular(path, MAX_SCENARIO_BYTES)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlannerError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if _LONG_DOTTED_KEY.search(text):  # tomllib takes quadratic time on such keys
        raise PlannerError(f"{path}: {_TOO_DEEP}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlannerError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise PlannerError(f"{path}: {_TOO_DEEP}") from None
    return parse_scenario(data, base_dir=path.resolve().parent, source=str(path))
